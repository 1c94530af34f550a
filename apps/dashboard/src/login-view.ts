import { describeError } from "./access-errors.js";
import { fill, h } from "./dom.js";

/**
 * The login form shown while auth is enabled and nobody is logged in. The
 * password goes to `login` (the auth session keeps it in memory to renew the
 * token) and is never stored by the page: no localStorage, no cookie. With
 * `certificate`, the browser's client certificate names a user too, and the
 * form offers to go back to acting as that user.
 */
export function mountLoginView(
  parent: HTMLElement,
  endpoint: string,
  login: (name: string, password: string) => Promise<void>,
  certificate?: { user: string; use(): void },
): void {
  const name = h("input", {
    type: "text",
    name: "username",
    autocomplete: "username",
    required: true,
    "data-testid": "login-user",
  });
  const password = h("input", {
    type: "password",
    name: "password",
    autocomplete: "current-password",
    "data-testid": "login-password",
  });
  const submit = h("button", { type: "submit", "data-testid": "login-submit" }, "Log in");
  const error = h("p", { class: "error", role: "alert", "data-testid": "login-error" });
  const form = h(
    "form",
    { class: "panel login", "data-testid": "login-form", "aria-labelledby": "login-title" },
    h("h2", { id: "login-title" }, "Log in"),
    h(
      "p",
      { class: "note" },
      "Auth is enabled on ",
      h("span", { class: "mono" }, endpoint),
      ": log in as an etcd user. The token is kept in this tab's memory only.",
    ),
    h("label", {}, "User", name),
    h("label", {}, "Password", password),
    submit,
    error,
  );
  if (certificate !== undefined) {
    const use = h(
      "button",
      { type: "button", class: "secondary", "data-testid": "login-certificate" },
      "Use my client certificate (",
      h("span", { class: "mono" }, certificate.user),
      ")",
    );
    use.addEventListener("click", () => certificate.use());
    form.append(use);
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit.disabled = true;
    fill(error);
    login(name.value, password.value)
      .catch((err: unknown) => fill(error, describeError(err)))
      .finally(() => {
        submit.disabled = false;
      });
  });
  parent.append(form);
  name.focus();
}
