import { EventReason } from "@conclave/proto";

/** What a LeaderElection Events message says (the fields the timeline needs). */
export interface ElectionChange {
  reason: EventReason;
  candidateId: string;
  term: { term: bigint; leader: string; revision: bigint } | undefined;
  /**
   * When the server wrote the change (unix ms, its clock: Term.changed_at);
   * undefined for changes stored before Conclave recorded times.
   */
  changedAt?: number | undefined;
}

/** Why a term began: the first into an empty line, or an operator's choice. */
export type TermStart = "elected" | "anointed" | "promoted" | "demoted";
/** Why a term ended. */
export type TermEnd =
  | "resigned"
  | "lease expired"
  | "evicted"
  | "anointed"
  | "promoted"
  | "demoted"
  | "closed";

/** One leader's term, as the MVCC history tells it. */
export interface LeadershipTerm {
  term: bigint;
  leader: string;
  /** Revision at which it began. */
  from: bigint;
  startedBy: TermStart;
  /** Revision at which it ended; undefined while it lasts. */
  to: bigint | undefined;
  endedBy: TermEnd | undefined;
  /** The server's time of the change that began it (unix ms), when it recorded one. */
  fromAt: number | undefined;
  /** The server's time of the change that ended it (unix ms), when it recorded one. */
  toAt: number | undefined;
}

const endOf: Partial<Record<EventReason, TermEnd>> = {
  [EventReason.WITHDREW]: "resigned",
  [EventReason.LEASE_EXPIRED]: "lease expired",
  [EventReason.EVICTED]: "evicted",
  [EventReason.ANOINTED]: "anointed",
  [EventReason.PROMOTED]: "promoted",
  [EventReason.DEMOTED]: "demoted",
  [EventReason.CLOSED]: "closed",
};

const startOf: Partial<Record<EventReason, TermStart>> = {
  [EventReason.ANOINTED]: "anointed",
  [EventReason.PROMOTED]: "promoted",
  [EventReason.DEMOTED]: "demoted",
};

/**
 * Folds an election's changes (Events replayed from revision 1, oldest
 * first) into its terms: a term begins when the leader changes and ends with
 * the change that removed or replaced its leader — resigned (withdrew),
 * lease expired, evicted, or another anointed/promoted/demoted — or when the
 * election was closed. A new leader is "elected" unless an operator put it
 * there (anointed, promoted, demoted past). Each boundary carries the
 * server's time of its change when the server recorded one.
 */
export function buildTerms(changes: readonly ElectionChange[]): LeadershipTerm[] {
  const terms: LeadershipTerm[] = [];
  let leader = "";
  for (const c of changes) {
    if (c.term === undefined || c.reason === EventReason.CURRENT) continue;
    const next = c.term.leader;
    if (next === leader) continue;
    const open = terms.at(-1);
    if (open !== undefined && open.to === undefined) {
      open.to = c.term.revision;
      open.endedBy = endOf[c.reason] ?? "resigned";
      open.toAt = c.changedAt;
    }
    leader = next;
    if (next !== "") {
      terms.push({
        term: c.term.term,
        leader: next,
        from: c.term.revision,
        startedBy: startOf[c.reason] ?? "elected",
        to: undefined,
        endedBy: undefined,
        fromAt: c.changedAt,
        toAt: undefined,
      });
    }
  }
  return terms;
}

/** The term in force at `revision` (who led then), if anyone led. */
export function termAt(
  terms: readonly LeadershipTerm[],
  revision: bigint,
): LeadershipTerm | undefined {
  return terms.find((t) => t.from <= revision && (t.to === undefined || revision < t.to));
}
