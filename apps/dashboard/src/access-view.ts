import { type ConclaveClient, PermissionType, prefixEnd } from "@conclave/client";
import { describeError, isPermissionDenied } from "./access-errors.js";
import type { ActionRunner } from "./action-runner.js";
import { fill, fillKeepingFocus, h } from "./dom.js";
import { displayBytes } from "./format.js";
import { actionButton, denied, panel } from "./panel.js";

/** How often users and roles are re-read (auth changes are not watchable), ms. */
const pollMs = 5_000;
const enc = new TextEncoder();

/**
 * Users and roles (etcd auth): list, add and remove users and roles, grant
 * a role a key permission (a key, or a prefix), grant a user a role. All of
 * it needs the root role once auth is on; others see the denial.
 * Returns the stop function.
 */
export function mountAccessView(
  parent: HTMLElement,
  client: ConclaveClient,
  actions: ActionRunner,
): () => void {
  const auth = client.services.auth;
  const input = (name: string, extra: Record<string, string | boolean> = {}) =>
    h("input", {
      type: "text",
      name,
      autocomplete: "off",
      spellcheck: "false",
      required: true,
      "data-testid": `access-${name}`,
      ...extra,
    });
  const form = (label: string, id: string, submit: string, ...fields: HTMLElement[]) =>
    h(
      "form",
      { class: "inline-form", "aria-label": label, "data-testid": `access-${id}` },
      ...fields,
      h("button", { type: "submit", "data-testid": `access-${id}-submit` }, submit),
    );

  const userName = input("user-name");
  const userPassword = input("user-password", { type: "password", autocomplete: "new-password" });
  const addUser = form(
    "add a user",
    "add-user",
    "Add user",
    h("label", {}, "User", userName),
    h("label", {}, "Password", userPassword),
  );
  const roleName = input("role-name");
  const addRole = form("add a role", "add-role", "Add role", h("label", {}, "Role", roleName));
  const permRole = input("perm-role");
  const permKey = input("perm-key");
  const permType = h(
    "select",
    { name: "perm-type", "data-testid": "access-perm-type" },
    h("option", { value: "READ" }, "read"),
    h("option", { value: "WRITE" }, "write"),
    h("option", { value: "READWRITE", selected: true }, "readwrite"),
  );
  const permPrefix = h("input", {
    type: "checkbox",
    name: "perm-prefix",
    checked: true,
    "data-testid": "access-perm-prefix",
  });
  const grantPerm = form(
    "grant a permission",
    "grant-perm",
    "Grant permission",
    h("label", {}, "Role", permRole),
    h("label", {}, "Type", permType),
    h("label", {}, "Key", permKey),
    h("label", { class: "check" }, permPrefix, "prefix"),
  );
  const grUser = input("grant-user");
  const grRole = input("grant-role");
  const grantRole = form(
    "grant a user a role",
    "user-role",
    "Grant role",
    h("label", {}, "User", grUser),
    h("label", {}, "Role", grRole),
  );

  const { root, body, count } = panel(
    "access",
    "Users and roles",
    `etcd auth: users, roles and key permissions (re-read every ${pollMs / 1000} s; needs the root role once auth is on).`,
    h("div", { class: "access-forms" }, addUser, addRole, grantPerm, grantRole),
  );
  parent.append(root);

  /** Runs an action and re-reads the lists when it landed. */
  const change = (title: string, detail: string, send: () => Promise<string>) =>
    void actions.run(title, detail, send).then((done) => done && void refresh());

  addUser.addEventListener("submit", (e) => {
    e.preventDefault();
    const name = userName.value;
    const password = userPassword.value;
    change(`Add user ${name}`, "with the password given", async () => {
      await auth.userAdd({ name, password });
      userPassword.value = "";
      return `user ${name} added`;
    });
  });
  addRole.addEventListener("submit", (e) => {
    e.preventDefault();
    const name = roleName.value;
    change(`Add role ${name}`, "with no permissions yet", async () => {
      await auth.roleAdd({ name });
      return `role ${name} added`;
    });
  });
  grantPerm.addEventListener("submit", (e) => {
    e.preventDefault();
    const role = permRole.value;
    const key = enc.encode(permKey.value);
    const type = PermissionType[permType.value as keyof typeof PermissionType];
    const span = permPrefix.checked
      ? `every key under ${permKey.value}`
      : `the key ${permKey.value}`;
    change(`Grant ${role} ${permType.value}`, span, async () => {
      await auth.roleGrantPermission({
        name: role,
        perm: {
          permType: type,
          key,
          rangeEnd: permPrefix.checked ? prefixEnd(key) : new Uint8Array(),
        },
      });
      return `${role} may ${permType.value.toLowerCase()} ${span}`;
    });
  });
  grantRole.addEventListener("submit", (e) => {
    e.preventDefault();
    const user = grUser.value;
    const role = grRole.value;
    change(`Grant ${user} the role ${role}`, `${user} gets ${role}'s permissions`, async () => {
      await auth.userGrantRole({ user, role });
      return `${user} has ${role}`;
    });
  });

  let reading = false;
  async function refresh(): Promise<void> {
    if (reading) return;
    reading = true;
    try {
      const [users, roles] = await Promise.all([auth.userList({}), auth.roleList({})]);
      const userRows = await Promise.all(
        users.users.map(async (name) => ({ name, roles: (await auth.userGet({ name })).roles })),
      );
      const roleRows = await Promise.all(
        roles.roles.map(async (name) => ({
          name,
          perms: (await auth.roleGet({ role: name })).perm,
        })),
      );
      fill(count, users.users.length);
      fillKeepingFocus(
        body,
        h(
          "table",
          { "data-testid": "users" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", {}, "user"),
              h("th", {}, "roles"),
              h("th", {}, h("span", { class: "sr-only" }, "actions")),
            ),
          ),
          h(
            "tbody",
            {},
            userRows.map((u) =>
              h(
                "tr",
                { "data-testid": "user-row", "data-user": u.name },
                h("td", { class: "mono" }, u.name),
                h("td", { "data-testid": "user-roles" }, u.roles.join(", ")),
                h(
                  "td",
                  {},
                  actionButton(`Delete user ${u.name}`, "delete", "user-delete", () =>
                    change(`Delete user ${u.name}`, "the user and its tokens", async () => {
                      await auth.userDelete({ name: u.name });
                      return `user ${u.name} deleted`;
                    }),
                  ),
                ),
              ),
            ),
          ),
        ),
        h(
          "table",
          { "data-testid": "roles" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", {}, "role"),
              h("th", {}, "permissions"),
              h("th", {}, h("span", { class: "sr-only" }, "actions")),
            ),
          ),
          h(
            "tbody",
            {},
            roleRows.map((r) =>
              h(
                "tr",
                { "data-testid": "role-row", "data-role": r.name },
                h("td", { class: "mono" }, r.name),
                h(
                  "td",
                  { class: "mono", "data-testid": "role-perms" },
                  r.perms.map((p) =>
                    h(
                      "div",
                      {},
                      `${PermissionType[p.permType]} ${displayBytes(p.key)}${p.rangeEnd.length > 0 ? ` → ${displayBytes(p.rangeEnd)}` : ""}`,
                    ),
                  ),
                ),
                h(
                  "td",
                  {},
                  actionButton(`Delete role ${r.name}`, "delete", "role-delete", () =>
                    change(
                      `Delete role ${r.name}`,
                      "users holding it lose its permissions",
                      async () => {
                        await auth.roleDelete({ role: r.name });
                        return `role ${r.name} deleted`;
                      },
                    ),
                  ),
                ),
              ),
            ),
          ),
        ),
      );
    } catch (err) {
      fill(count, "");
      if (isPermissionDenied(err))
        fill(body, denied("user and role management needs the root role"));
      else if (body.childElementCount === 0)
        fill(body, h("p", { class: "error" }, describeError(err)));
    } finally {
      reading = false;
    }
  }
  void refresh();
  const timer = setInterval(() => void refresh(), pollMs);
  return () => clearInterval(timer);
}
