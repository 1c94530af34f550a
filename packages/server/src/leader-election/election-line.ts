/**
 * The pure state machine of a LeaderElection: one line of candidates, the
 * first leads. Every operation returns the next state and what happened, or
 * throws a LineError. Persistence and events live in the service; this file
 * only decides.
 */

export type LineReason =
  | "entered"
  | "withdrew"
  | "lease_expired"
  | "anointed"
  | "promoted"
  | "demoted"
  | "evicted"
  | "created"
  | "closed";

export interface LineCandidate {
  id: string;
  /** Lease ID as a decimal string (JSON has no int64). "0": none. */
  lease: string;
}

/** What is stored (as JSON) in an election's state key. */
export interface LineState {
  /** Term number of the current leader; 0 before the first leader. */
  term: number;
  /** Candidates in line order; the first leads. */
  candidates: LineCandidate[];
  /**
   * Declared with Create and not closed since. States written before Create
   * existed lack it: {@link parseLineState} reads them as false.
   */
  created: boolean;
  /**
   * The change that produced this state; `at` is when it was written (unix
   * ms, by the writing server's clock), absent in states written before
   * Conclave recorded times.
   */
  last: { reason: LineReason; candidate: string; elected: boolean; at?: number };
  /**
   * When the current leader was elected (unix ms, by the clock of the server
   * that wrote that change); absent with no leader, or when the leader was
   * elected before Conclave recorded times — never guessed.
   */
  leaderSince?: number;
}

const dec = new TextDecoder();

/** A state key's value (JSON); tolerates states written before `created` existed. */
export function parseLineState(value: Uint8Array): LineState {
  const s = JSON.parse(dec.decode(value)) as Omit<LineState, "created"> & { created?: boolean };
  return { ...s, created: s.created === true };
}

/**
 * Whether List shows the election: declared and not closed, or anyone in
 * line. An election everyone left keeps its state key (so its term number is
 * never reused) but is no longer listed.
 */
export function isListed(state: LineState): boolean {
  return state.created || state.candidates.length > 0;
}

export class LineError extends Error {
  constructor(
    readonly kind: "candidate_not_found" | "candidate_exists",
    message: string,
  ) {
    super(message);
    this.name = "LineError";
  }
}

export type LineOp =
  | { op: "enter"; candidate: LineCandidate }
  | { op: "withdraw" | "evict" | "lease_expired" | "anoint" | "promote" | "demote"; id: string }
  | { op: "create" }
  | { op: "close" };

export const emptyLine: LineState = {
  term: 0,
  candidates: [],
  created: false,
  last: { reason: "entered", candidate: "", elected: false },
};

/**
 * `next` (what {@link applyLineOp} made of `prev`) with the wall-clock time
 * `now` (unix ms) of its change, and the time its leader was elected: `now`
 * when this change elected one, kept from `prev` while the same leader
 * leads, dropped when nobody does.
 */
export function stampLineTimes(prev: LineState, next: LineState, now: number): LineState {
  const { leaderSince: _, ...rest } = next;
  const since =
    next.candidates.length === 0 ? undefined : next.last.elected ? now : prev.leaderSince;
  return {
    ...rest,
    last: { ...next.last, at: now },
    ...(since === undefined ? {} : { leaderSince: since }),
  };
}

const reasonOf: Record<LineOp["op"], LineReason> = {
  enter: "entered",
  withdraw: "withdrew",
  evict: "evicted",
  lease_expired: "lease_expired",
  anoint: "anointed",
  promote: "promoted",
  demote: "demoted",
  create: "created",
  close: "closed",
};

/**
 * Applies one operation. Returns undefined when nothing changes (entering
 * again with the same lease, promoting the leader, demoting the last one,
 * creating a created election, closing one that is not listed), so callers
 * write nothing and emit no event.
 *
 * Create only sets `created`. Close empties the line and clears `created`;
 * its subject is the leader whose term it ends. Neither elects anyone, and
 * both keep the term number, so the next leader gets a new one.
 */
export function applyLineOp(state: LineState, op: LineOp): LineState | undefined {
  if (op.op === "create") {
    if (state.created) return undefined;
    return {
      term: state.term,
      candidates: state.candidates,
      created: true,
      last: { reason: "created", candidate: "", elected: false },
    };
  }
  if (op.op === "close") {
    if (!isListed(state)) return undefined;
    return {
      term: state.term,
      candidates: [],
      created: false,
      last: { reason: "closed", candidate: state.candidates[0]?.id ?? "", elected: false },
    };
  }
  const line = state.candidates.slice();
  const leaderBefore = line[0]?.id;
  let subject: string;
  if (op.op === "enter") {
    subject = op.candidate.id;
    const existing = line.find((c) => c.id === subject);
    if (existing !== undefined) {
      if (existing.lease === op.candidate.lease) return undefined;
      throw new LineError(
        "candidate_exists",
        `conclave: candidate ${subject} already entered with another lease`,
      );
    }
    line.push(op.candidate);
  } else {
    subject = op.id;
    const i = line.findIndex((c) => c.id === subject);
    if (i < 0)
      throw new LineError("candidate_not_found", `conclave: candidate ${subject} not found`);
    const me = line[i] as LineCandidate;
    switch (op.op) {
      case "withdraw":
      case "evict":
      case "lease_expired":
        line.splice(i, 1);
        break;
      case "anoint":
        if (i === 0) return undefined;
        line.splice(i, 1);
        line.unshift(me);
        break;
      case "promote":
        if (i === 0) return undefined;
        line[i] = line[i - 1] as LineCandidate;
        line[i - 1] = me;
        break;
      case "demote":
        if (i === line.length - 1) return undefined;
        line[i] = line[i + 1] as LineCandidate;
        line[i + 1] = me;
        break;
    }
  }
  const leaderAfter = line[0]?.id;
  const elected = leaderAfter !== undefined && leaderAfter !== leaderBefore;
  return {
    term: elected ? state.term + 1 : state.term,
    candidates: line,
    created: state.created,
    last: { reason: reasonOf[op.op], candidate: subject, elected },
  };
}
