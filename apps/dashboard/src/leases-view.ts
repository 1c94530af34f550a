import type { ConclaveClient } from "@conclave/client";
import type { ActionRunner } from "./action-runner.js";
import { batched, countdown, fill, fillKeepingFocus, h } from "./dom.js";
import { leaseHex } from "./format.js";
import type { LiveState } from "./live-state.js";
import { actionButton, empty, panel } from "./panel.js";

/** Leases (polled: etcd's API cannot watch them), with TTLs counting down between polls. */
export function mountLeasesView(
  parent: HTMLElement,
  state: LiveState,
  client: ConclaveClient,
  actions: ActionRunner,
): void {
  const ttl = h("input", {
    type: "number",
    name: "grant-ttl",
    min: 1,
    value: 60,
    required: true,
    "data-testid": "lease-grant-ttl",
  });
  const grant = h(
    "form",
    { class: "inline-form", "data-testid": "lease-grant", "aria-label": "grant a lease" },
    h("label", {}, "TTL (s)", ttl),
    h("button", { type: "submit", "data-testid": "lease-grant-submit" }, "Grant lease"),
  );
  grant.addEventListener("submit", (e) => {
    e.preventDefault();
    const seconds = BigInt(Math.max(1, Math.floor(Number(ttl.value))));
    // LeaseGrant only: nothing here keeps it alive, it ends after its TTL.
    void actions.run("Grant a lease", `TTL ${seconds} s, not kept alive`, async () => {
      const r = await client.services.lease.leaseGrant({ TTL: seconds, ID: 0n });
      return `lease ${leaseHex(r.ID)} granted, TTL ${r.TTL} s`;
    });
  });
  const { root, body, count } = panel(
    "leases",
    "Leases",
    "LeaseLeases + LeaseTimeToLive every second; the TTL counts down in between and jumps back when renewed.",
    grant,
  );
  parent.append(root);

  const revoke = (id: bigint) =>
    actions.run(
      `Revoke lease ${leaseHex(id)}`,
      "its keys are deleted (locks released, candidates removed)",
      async () => {
        const r = await client.services.lease.leaseRevoke({ ID: id });
        return `revoked at revision ${r.header?.revision ?? "?"}`;
      },
    );

  const render = batched(() => {
    const rows = [...state.leases.values()].map((l) =>
      h(
        "tr",
        { "data-testid": "lease", "data-lease": leaseHex(l.id) },
        h("td", { class: "mono", "data-testid": "lease-id" }, leaseHex(l.id)),
        h("td", { class: "num" }, countdown(l.deadline, { "data-testid": "lease-ttl" })),
        h("td", { class: "num", "data-testid": "lease-granted-ttl" }, `${l.grantedTtl} s`),
        h(
          "td",
          { class: "keys", "data-testid": "lease-keys", title: l.keys.join("\n") },
          l.keys.length === 0
            ? h("span", { class: "muted" }, "no keys")
            : l.keys.slice(0, 3).map((k) => h("div", { class: "mono ellipsis" }, k)),
          l.keys.length > 3 && h("div", { class: "muted" }, `+${l.keys.length - 3} more`),
        ),
        h(
          "td",
          {},
          actionButton(`Revoke lease ${leaseHex(l.id)}`, "revoke", "lease-revoke", () =>
            revoke(l.id),
          ),
        ),
      ),
    );
    fill(count, state.leaseCount);
    if (rows.length === 0) {
      fill(body, empty("No leases."));
      return;
    }
    fillKeepingFocus(
      body,
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", {}, "ID"),
            h("th", { class: "num" }, "TTL"),
            h("th", { class: "num" }, "granted"),
            h("th", {}, "keys"),
            h("th", {}, h("span", { class: "sr-only" }, "actions")),
          ),
        ),
        h("tbody", {}, ...rows),
      ),
      state.leaseCount > rows.length &&
        h("p", { class: "muted" }, `showing ${rows.length} of ${state.leaseCount}`),
    );
  });
  state.subscribe("leases", render);
  render();
}
