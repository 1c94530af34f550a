import type { ConclaveClient } from "@conclave/client";
import { batched, countdown, fill, fillKeepingFocus, h } from "./dom.js";
import { leaseHex } from "./format.js";
import type { LiveState } from "./live-state.js";
import { groupLockKeys } from "./lock-groups.js";
import { mountLockTimeline } from "./lock-timeline-view.js";
import { actionButton, denied, empty, panel } from "./panel.js";

/** v3lock locks (etcdctl lock, clientv3 Mutex, Lock RPC): holder and waiters in line. */
export function mountLocksView(
  parent: HTMLElement,
  state: LiveState,
  client: ConclaveClient,
): void {
  const { root, body, count } = panel(
    "locks",
    "Locks",
    "etcd v3lock: empty keys <name>/<lease hex> on that lease; the lowest create revision holds the lock, " +
      "the rest wait in that order.",
  );
  parent.append(root);
  const timeline = mountLockTimeline(root, client, () => state.revision, state.seenAt);

  const render = batched(() => {
    if (state.denied) {
      fill(count, "");
      fill(body, denied());
      return;
    }
    const cards: HTMLElement[] = [];
    for (const g of groupLockKeys(state.lockKeys.values())) {
      if (g.kind !== "lock") continue;
      cards.push(
        h(
          "article",
          { class: "card", "data-testid": "lock", "data-lock": g.name },
          h(
            "div",
            { class: "card-head" },
            h("span", { class: "name", "data-testid": "lock-name" }, g.name),
            h("span", { class: "badge etcd" }, "v3lock"),
            actionButton(`Holders of ${g.name} over time`, "history", "lock-history", () =>
              timeline.show(g.name),
            ),
          ),
          h(
            "dl",
            { class: "facts" },
            h("dt", {}, "holder"),
            h(
              "dd",
              { class: "leader mono", "data-testid": "lock-holder" },
              leaseHex(g.holder.lease),
            ),
            h("dt", {}, "lease"),
            h(
              "dd",
              {},
              countdown(state.leases.get(g.holder.lease)?.deadline, {
                "data-testid": "lock-lease-ttl",
              }),
            ),
            h("dt", {}, "since rev"),
            h("dd", { class: "mono" }, g.holder.createRevision),
            h("dt", {}, "waiting"),
            h("dd", { "data-testid": "lock-waiter-count" }, g.waiters.length),
          ),
          g.waiters.length > 0 &&
            h(
              "ol",
              { class: "line waiters", "data-testid": "lock-waiters" },
              ...g.waiters.map((w) =>
                h("li", { class: "mono", "data-testid": "lock-waiter" }, leaseHex(w.lease)),
              ),
            ),
        ),
      );
    }
    fill(count, cards.length);
    fillKeepingFocus(body, ...(cards.length > 0 ? cards : [empty("No locks held.")]));
  });
  state.subscribe("locks", render);
  state.subscribe("leases", render);
  render();
}
