import { batched, countdown, fill, h } from "./dom.js";
import { leaseHex } from "./format.js";
import type { LiveState } from "./live-state.js";
import { empty, panel } from "./panel.js";

/** Leases (polled: etcd's API cannot watch them), with TTLs counting down between polls. */
export function mountLeasesView(parent: HTMLElement, state: LiveState): void {
  const { root, body, count } = panel(
    "leases",
    "Leases",
    "LeaseLeases + LeaseTimeToLive every second; the TTL counts down in between and jumps back when renewed.",
  );
  parent.append(root);

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
      ),
    );
    fill(count, state.leaseCount);
    if (rows.length === 0) {
      fill(body, empty("No leases."));
      return;
    }
    fill(
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
