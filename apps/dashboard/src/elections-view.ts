import { batched, countdown, fill, h } from "./dom.js";
import { displayBytes, leaseHex } from "./format.js";
import type { ElectionInfo, LiveState } from "./live-state.js";
import { groupLockKeys } from "./lock-groups.js";
import { denied, empty, panel } from "./panel.js";
import { termStatus } from "./term-status.js";

/** An election nobody leads or waits in: kept until Close, but marked and listed last. */
const isIdle = (info: ElectionInfo | undefined) =>
  info !== undefined && termStatus(info.term) === "idle";

/**
 * Elections: conclave.v1 LeaderElection (term, leader, line of candidates,
 * the leader's lease counting down) and etcd v3election elections found by
 * their keys (leader = the candidate key with the lowest create revision).
 */
export function mountElectionsView(parent: HTMLElement, state: LiveState): void {
  const { root, body, count } = panel(
    "elections",
    "Elections",
    "conclave.v1 LeaderElection (from __conclave/le/ keys) and etcd v3election: keys <name>/<lease hex> " +
      "on that lease that hold a value; the lowest create revision leads.",
  );
  parent.append(root);

  const render = batched(() => {
    if (state.denied) {
      fill(count, "");
      fill(body, denied());
      return;
    }
    const cards: HTMLElement[] = [];
    /** Created elections nobody is in: after every active one, v3elections included. */
    const idleCards: HTMLElement[] = [];
    const names = [...state.elections.keys()].sort();
    for (const name of names) {
      const info = state.elections.get(name);
      if (info === undefined) continue;
      const { term } = info;
      const idle = isIdle(info);
      const lease = term.leaderLease === 0n ? undefined : state.leases.get(term.leaderLease);
      const deadline = lease?.deadline ?? info.deadline;
      (idle ? idleCards : cards).push(
        h(
          "article",
          {
            class: idle ? "card idle" : "card",
            "data-testid": "election",
            "data-election": name,
            "data-kind": "conclave",
            "data-idle": String(idle),
          },
          h(
            "div",
            { class: "card-head" },
            h("span", { class: "name", "data-testid": "election-name" }, name),
            idle &&
              h(
                "span",
                { class: "badge idle", title: "nobody leads or waits in this election" },
                "idle",
              ),
            h("span", { class: "badge" }, "conclave.v1"),
          ),
          h(
            "dl",
            { class: "facts" },
            h("dt", {}, "term"),
            h("dd", { class: "term", "data-testid": "election-term" }, term.term),
            h("dt", {}, "leader"),
            h(
              "dd",
              { class: "leader", "data-testid": "election-leader" },
              term.leader === "" ? h("span", { class: "muted" }, "none") : term.leader,
            ),
            h("dt", {}, "lease"),
            h(
              "dd",
              {},
              term.leaderLease === 0n
                ? h("span", { class: "muted", "data-testid": "election-lease-ttl" }, "no lease")
                : h(
                    "span",
                    {},
                    countdown(term.leader === "" ? undefined : deadline, {
                      "data-testid": "election-lease-ttl",
                    }),
                    h("span", { class: "muted mono" }, ` ${leaseHex(term.leaderLease)}`),
                  ),
            ),
            h("dt", {}, "since rev"),
            h(
              "dd",
              { class: "mono", "data-testid": "election-leader-revision" },
              term.leaderRevision,
            ),
          ),
          h(
            "ol",
            { class: "line", "data-testid": "election-candidates" },
            ...term.candidates.map((c, i) =>
              h(
                "li",
                { class: i === 0 ? "leader" : undefined, "data-testid": "election-candidate" },
                c,
              ),
            ),
          ),
        ),
      );
    }
    for (const g of groupLockKeys(state.lockKeys.values())) {
      if (g.kind !== "election") continue;
      const all = [g.holder, ...g.waiters];
      cards.push(
        h(
          "article",
          {
            class: "card",
            "data-testid": "election",
            "data-election": g.name,
            "data-kind": "v3election",
          },
          h(
            "div",
            { class: "card-head" },
            h("span", { class: "name", "data-testid": "election-name" }, g.name),
            h("span", { class: "badge etcd" }, "v3election"),
          ),
          h(
            "dl",
            { class: "facts" },
            h("dt", {}, "leader"),
            h(
              "dd",
              { class: "leader", "data-testid": "election-leader" },
              displayBytes(g.holder.value),
            ),
            h("dt", {}, "lease"),
            h(
              "dd",
              {},
              countdown(state.leases.get(g.holder.lease)?.deadline, {
                "data-testid": "election-lease-ttl",
              }),
              h("span", { class: "muted mono" }, ` ${leaseHex(g.holder.lease)}`),
            ),
            h("dt", {}, "since rev"),
            h(
              "dd",
              { class: "mono", "data-testid": "election-leader-revision" },
              g.holder.createRevision,
            ),
          ),
          h(
            "ol",
            { class: "line", "data-testid": "election-candidates" },
            ...all.map((kv, i) =>
              h(
                "li",
                { class: i === 0 ? "leader" : undefined, "data-testid": "election-candidate" },
                displayBytes(kv.value, 60),
                h("span", { class: "muted mono" }, ` ${leaseHex(kv.lease)}`),
              ),
            ),
          ),
        ),
      );
    }
    cards.push(...idleCards);
    fill(count, cards.length);
    fill(body, ...(cards.length > 0 ? cards : [empty("No elections.")]));
  });
  state.subscribe("elections", render);
  state.subscribe("locks", render);
  state.subscribe("leases", render);
  render();
}
