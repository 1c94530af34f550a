import type { ConclaveClient } from "@conclave/client";
import type { ActionRunner } from "./action-runner.js";
import { parseDeepLink } from "./deep-link.js";
import { batched, countdown, fill, fillKeepingFocus, h } from "./dom.js";
import { displayBytes, leaseHex } from "./format.js";
import { mountLeadershipTimeline } from "./leadership-timeline-view.js";
import type { ElectionInfo, LiveState } from "./live-state.js";
import { groupLockKeys } from "./lock-groups.js";
import { formatClock, momentLabel, momentOf } from "./moments.js";
import { actionButton, denied, empty, panel } from "./panel.js";
import { termStatus } from "./term-status.js";

const enc = new TextEncoder();

/** conclave.v1 LeaderElection operations on one candidate. */
const candidateOps = ["anoint", "promote", "demote", "evict", "withdraw"] as const;
type CandidateOp = (typeof candidateOps)[number];

/** What each does (docs/leader-election.md), said in the confirm dialog. */
const candidateOpMeaning: Record<CandidateOp, string> = {
  anoint: "makes this candidate the leader now (a new term); the old leader becomes first in line",
  promote: "moves this candidate one place toward the front (right behind the leader: it leads)",
  demote: "moves this candidate one place back (the leader: hands over to the next)",
  evict: "removes this candidate, an operator's action; if it led, the next one leads",
  withdraw: "removes this candidate as if it asked to leave; if it led, the next one leads",
};

/** An election nobody leads or waits in: kept until Close, but marked and listed last. */
const isIdle = (info: ElectionInfo | undefined) =>
  info !== undefined && termStatus(info.term) === "idle";

/**
 * Elections: conclave.v1 LeaderElection (term, leader, line of candidates,
 * the leader's lease counting down) and etcd v3election elections found by
 * their keys (leader = the candidate key with the lowest create revision).
 */
export function mountElectionsView(
  parent: HTMLElement,
  state: LiveState,
  client: ConclaveClient,
  actions: ActionRunner,
): void {
  const createName = h("input", {
    type: "text",
    name: "create-election",
    required: true,
    autocomplete: "off",
    spellcheck: "false",
    "data-testid": "le-create-name",
  });
  const createForm = h(
    "form",
    { class: "inline-form", "aria-label": "create an election", "data-testid": "le-create" },
    h("label", {}, "Election", createName),
    h("button", { type: "submit", "data-testid": "le-create-submit" }, "Create"),
  );
  createForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const name = createName.value;
    void actions.run(
      `Create election ${name}`,
      "listed from now on, even while nobody is in it",
      async () => {
        const r = await client.services.leaderElection.create({ election: name });
        return `created at revision ${r.term?.revision ?? "?"}`;
      },
    );
  });
  const { root, body, count } = panel(
    "elections",
    "Elections",
    "conclave.v1 LeaderElection (from __conclave/le/ keys) and etcd v3election: keys <name>/<lease hex> " +
      "on that lease that hold a value; the lowest create revision leads.",
    createForm,
  );
  parent.append(root);
  const timeline = mountLeadershipTimeline(root, client, state.seenAt);

  const leaderElectionAction = (op: CandidateOp, election: string, candidateId: string) =>
    actions.run(`${op} ${candidateId} in ${election}`, candidateOpMeaning[op], async () => {
      const le = client.services.leaderElection;
      const req = { election, candidateId };
      const r =
        op === "anoint"
          ? await le.anoint(req)
          : op === "promote"
            ? await le.promote(req)
            : op === "demote"
              ? await le.demote(req)
              : op === "evict"
                ? await le.evict(req)
                : await le.withdraw(req);
      const t = r.term;
      return t === undefined
        ? "done"
        : `term ${t.term}, leader ${t.leader === "" ? "none" : t.leader}, revision ${t.revision}`;
    });

  const render = batched(() => {
    if (state.denied) {
      fill(count, "");
      fill(body, denied());
      return;
    }
    const linked = parseDeepLink(location.hash).election;
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
      // When the leader was elected: the server's record, else when this page saw it.
      const since = term.leaderSince;
      const leaderSince =
        term.leader === ""
          ? undefined
          : momentOf(
              since === undefined ? undefined : Number(since.seconds) * 1000 + since.nanos / 1e6,
              term.leaderRevision,
              state.seenAt,
            );
      (idle ? idleCards : cards).push(
        h(
          "article",
          {
            class: `card${idle ? " idle" : ""}${name === linked ? " linked" : ""}`,
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
            leaderSince !== undefined && [
              h("dt", {}, "since"),
              h(
                "dd",
                {
                  "data-testid": "election-leader-since",
                  "data-at": leaderSince.at,
                  "data-source": leaderSince.source,
                  title: new Date(leaderSince.at).toISOString(),
                },
                h("span", { class: "mono" }, formatClock(leaderSince.at, Date.now())),
                ` (${momentLabel[leaderSince.source]})`,
              ),
            ],
          ),
          h(
            "ol",
            { class: "line", "data-testid": "election-candidates" },
            ...term.candidates.map((c, i) =>
              h(
                "li",
                { class: i === 0 ? "leader" : undefined, "data-candidate": c },
                h("span", { "data-testid": "election-candidate" }, c),
                h(
                  "span",
                  { class: "item-actions" },
                  candidateOps.map((op) =>
                    actionButton(`${op} ${c} in ${name}`, op, `le-${op}`, () =>
                      leaderElectionAction(op, name, c),
                    ),
                  ),
                ),
              ),
            ),
          ),
          h(
            "div",
            { class: "card-actions" },
            actionButton(`Leadership timeline of ${name}`, "timeline", "le-timeline", () =>
              timeline.show(name),
            ),
            actionButton(`Close election ${name}`, "close", "le-close", () =>
              actions.run(
                `Close election ${name}`,
                "every candidate leaves, the term ends, it is no longer listed",
                async () => {
                  const r = await client.services.leaderElection.close({ election: name });
                  return `closed at revision ${r.term?.revision ?? "?"}`;
                },
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
            class: g.name === linked ? "card linked" : "card",
            "data-testid": "election",
            "data-election": g.name,
            "data-kind": "v3election",
          },
          h(
            "div",
            { class: "card-head" },
            h("span", { class: "name", "data-testid": "election-name" }, g.name),
            h("span", { class: "badge etcd" }, "v3election"),
            actionButton(`Resign the leader of ${g.name}`, "resign leader", "v3-resign", () =>
              actions.run(
                `Resign the leader of ${g.name}`,
                `${displayBytes(g.holder.value, 60)} (key ${displayBytes(g.holder.key)}) stops leading; the next candidate leads`,
                async () => {
                  const r = await client.services.election.resign({
                    leader: {
                      name: enc.encode(g.name),
                      key: g.holder.key,
                      rev: g.holder.createRevision,
                      lease: g.holder.lease,
                    },
                  });
                  return `resigned at revision ${r.header?.revision ?? "?"}`;
                },
              ),
            ),
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
    fillKeepingFocus(body, ...(cards.length > 0 ? cards : [empty("No elections.")]));
    // A deep link (#election=name) scrolls to its card once it is there.
    const card = body.querySelector<HTMLElement>(".card.linked");
    if (card !== null && scrolledTo !== linked) {
      scrolledTo = linked;
      card.scrollIntoView({ block: "center" });
    }
  });
  let scrolledTo: string | undefined;
  window.addEventListener("hashchange", () => {
    scrolledTo = undefined;
    render();
  });
  state.subscribe("elections", render);
  state.subscribe("locks", render);
  state.subscribe("leases", render);
  render();
}
