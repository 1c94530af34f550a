import type { ConclaveClient } from "@conclave/client";
import { EventReason } from "@conclave/proto";
import { describeError } from "./access-errors.js";
import { fill, h } from "./dom.js";
import {
  buildTerms,
  type ElectionChange,
  type LeadershipTerm,
  termAt,
} from "./leadership-terms.js";
import { formatClock, formatDuration, type Moment, momentLabel, momentOf } from "./moments.js";
import { empty } from "./panel.js";

/** "14:03:07 (server clock)", or `unknown` without a time. */
function momentText(m: Moment | undefined, now: number, unknown: string): HTMLElement {
  return m === undefined
    ? h("span", { class: "unknown-time" }, unknown)
    : h(
        "span",
        { title: new Date(m.at).toISOString() },
        h("span", { class: "mono" }, formatClock(m.at, now)),
        ` (${momentLabel[m.source]})`,
      );
}

/** How long to keep listening after the replay reached the election's last change, ms (its ELECTED follows). */
const graceMs = 150;

/**
 * Replays an election's whole history with LeaderElection Events from
 * revision 1 (the server reads it from MVCC history). A replay stops at a
 * CLOSED event, so it resumes after each one; it ends once it reached the
 * election's latest change (GetTerm's revision). `compactedAt` is set when
 * the start of the history was compacted away.
 */
export async function readElectionChanges(
  client: ConclaveClient,
  election: string,
  signal: AbortSignal,
): Promise<{ changes: ElectionChange[]; compactedAt: bigint | undefined; latest: bigint }> {
  const le = client.services.leaderElection;
  const latest = (await le.getTerm({ election }, { signal })).term?.revision ?? 0n;
  const changes: ElectionChange[] = [];
  let compactedAt: bigint | undefined;
  let start = 1n;
  for (;;) {
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal.addEventListener("abort", onAbort);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let lastRev = 0n;
    let closed = false;
    try {
      for await (const m of le.events(
        { election, startRevision: start },
        { signal: stop.signal },
      )) {
        if (m.compactRevision > 0n) compactedAt = m.compactRevision;
        const t = m.term?.changedAt;
        changes.push({
          reason: m.reason,
          candidateId: m.candidateId,
          term: m.term,
          changedAt: t === undefined ? undefined : Number(t.seconds) * 1000 + t.nanos / 1e6,
        });
        lastRev = m.term?.revision ?? lastRev;
        closed = m.reason === EventReason.CLOSED;
        if (lastRev >= latest && timer === undefined)
          timer = setTimeout(() => stop.abort(), graceMs);
      }
    } catch (err) {
      if (signal.aborted) throw err;
      if (!stop.signal.aborted) throw err;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
    if (!closed || lastRev >= latest) return { changes, compactedAt, latest };
    start = lastRev + 1n;
  }
}

/**
 * The leadership timeline of one conclave.v1 election, built from its MVCC
 * history: each term with its leader, the revisions it spanned and why it
 * began and ended; a slider scrubs to any revision and says who led then.
 * MVCC keeps revisions, not times, so terms are placed by revision; each
 * boundary also shows a time where one is known (moments.ts): the server's,
 * recorded with the change, else when this page saw the revision live
 * (`seenAt`), each labelled as such.
 */
export function mountLeadershipTimeline(
  parent: HTMLElement,
  client: ConclaveClient,
  seenAt: (revision: bigint) => number | undefined,
): { show(election: string): void } {
  const aside = h("aside", {
    class: "timeline",
    "data-testid": "timeline",
    "aria-label": "leadership timeline",
    hidden: true,
  });
  parent.append(aside);
  let current: AbortController | undefined;

  function render(
    election: string,
    terms: LeadershipTerm[],
    first: bigint,
    latest: bigint,
    compactedAt: bigint | undefined,
  ) {
    const close = h(
      "button",
      { type: "button", class: "secondary small", "aria-label": "close the timeline" },
      "×",
    );
    close.addEventListener("click", () => {
      current?.abort();
      aside.hidden = true;
    });
    const scrub = h("input", {
      type: "range",
      min: String(first),
      max: String(latest),
      value: String(latest),
      step: 1,
      "data-testid": "timeline-scrub",
      "aria-label": "revision",
    });
    const at = h("p", { class: "timeline-at", "data-testid": "timeline-at", role: "status" });
    const now = Date.now();
    const items = terms.map((t) => {
      const from = momentOf(t.fromAt, t.from, seenAt);
      const to = t.to === undefined ? undefined : momentOf(t.toAt, t.to, seenAt);
      return h(
        "li",
        {
          "data-testid": "timeline-term",
          "data-term": t.term,
          "data-leader": t.leader,
          "data-from": t.from,
          "data-to": t.to ?? "",
          "data-started": t.startedBy,
          "data-ended": t.endedBy ?? "",
          "data-from-at": from?.at,
          "data-from-at-source": from?.source,
          "data-to-at": to?.at,
          "data-to-at-source": to?.source,
        },
        h("span", { class: "mono" }, `term ${t.term}`),
        " ",
        h("strong", {}, t.leader),
        " ",
        h("span", { class: "muted mono" }, `rev ${t.from} → ${t.to ?? "now"}`),
        " ",
        h("span", { class: "badge" }, t.startedBy),
        t.endedBy !== undefined && [" → ", h("span", { class: "badge past" }, t.endedBy)],
        h(
          "div",
          { class: "term-times muted", "data-testid": "timeline-term-times" },
          momentText(from, now, "start time not known"),
          " → ",
          t.to === undefined ? "now" : momentText(to, now, "end time not known"),
          from !== undefined &&
            (t.to === undefined || to !== undefined) &&
            ` (${formatDuration((to?.at ?? now) - from.at)}${t.to === undefined ? " so far" : ""})`,
        ),
      );
    });
    const showAt = () => {
      const rev = BigInt(scrub.value);
      const t = termAt(terms, rev);
      fill(
        at,
        `at revision ${rev}: `,
        t === undefined ? "nobody led" : `${t.leader} led (term ${t.term})`,
      );
      for (const li of aside.querySelectorAll<HTMLElement>("[data-testid=timeline-term]")) {
        li.classList.toggle("current", t !== undefined && li.dataset.term === String(t.term));
      }
    };
    scrub.addEventListener("input", showAt);
    fill(
      aside,
      h(
        "div",
        { class: "card-head" },
        h("h3", {}, "Leadership of ", h("span", { class: "mono" }, election)),
        close,
      ),
      items.length > 0 ? h("ol", { class: "terms" }, items) : empty("Nobody has led yet."),
      h(
        "p",
        { class: "muted note" },
        "Times: by the server's clock where it recorded them with the change; else when this page " +
          "saw the change live; else unknown (MVCC keeps revisions, not times).",
      ),
      h("label", { class: "scrub" }, "Scrub to revision", scrub),
      at,
      compactedAt !== undefined &&
        h("p", { class: "muted" }, `history before revision ${compactedAt} was compacted`),
    );
    showAt();
  }

  return {
    show(election) {
      current?.abort();
      const abort = new AbortController();
      current = abort;
      aside.hidden = false;
      fill(aside, empty(`Reading the history of ${election}…`));
      readElectionChanges(client, election, abort.signal).then(
        ({ changes, compactedAt, latest }) => {
          if (abort.signal.aborted) return;
          const first = changes.find((c) => c.term !== undefined)?.term?.revision ?? 1n;
          render(election, buildTerms(changes), first, latest, compactedAt);
        },
        (err: unknown) => {
          if (!abort.signal.aborted) fill(aside, h("p", { class: "error" }, describeError(err)));
        },
      );
      aside.scrollIntoView({ block: "nearest" });
    },
  };
}
