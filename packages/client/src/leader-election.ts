import { EventReason, type Term } from "@conclave/proto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ConclaveServices } from "./conclave-services.js";
import { type LeaseInput, leaseIdOf } from "./lease.js";
import {
  createReconnectingStream,
  type ReconnectingStream,
  type StreamOptions,
} from "./reconnecting-stream.js";

/**
 * {@link EventReason} as a string, for `switch` statements and logs:
 * `"current"` is the state when the stream (re)connected.
 */
export type LeaderElectionEventKind =
  | "unspecified"
  | "current"
  | "entered"
  | "withdrew"
  | "elected"
  | "lease-expired"
  | "anointed"
  | "promoted"
  | "evicted"
  | "demoted"
  | "created"
  | "closed";

const eventKinds: Record<EventReason, LeaderElectionEventKind> = {
  [EventReason.UNSPECIFIED]: "unspecified",
  [EventReason.CURRENT]: "current",
  [EventReason.ENTERED]: "entered",
  [EventReason.WITHDREW]: "withdrew",
  [EventReason.ELECTED]: "elected",
  [EventReason.LEASE_EXPIRED]: "lease-expired",
  [EventReason.ANOINTED]: "anointed",
  [EventReason.PROMOTED]: "promoted",
  [EventReason.EVICTED]: "evicted",
  [EventReason.DEMOTED]: "demoted",
  [EventReason.CREATED]: "created",
  [EventReason.CLOSED]: "closed",
};

/** One change of a conclave.v1 leader election. */
export interface LeaderElectionEvent {
  /** What happened, as a string (`reason` is the same as the protobuf enum). */
  kind: LeaderElectionEventKind;
  /** What happened; `EventReason.CURRENT` for the state when the stream (re)connected. */
  reason: EventReason;
  /** The candidate the change concerns (the new leader for `ELECTED`). */
  candidateId: string;
  /** The election's state after the change. */
  term: Term;
  /**
   * True for a `CURRENT` event after a reconnect: the changes made while
   * disconnected could not be replayed (their history was compacted), so
   * treat `term` as the new truth. Otherwise a reconnect replays every change
   * in between, exactly once.
   */
  resync: boolean;
}

/** conclave.v1's Atomix-style leader election for one election name. */
export interface LeaderElection {
  readonly election: string;
  /**
   * Declares the election, so it is listed ({@link listLeaderElections})
   * before anyone enters and while its line is empty. Idempotent. Entering
   * does not need it.
   *
   * @example
   * ```ts
   * const term = await client.leaderElection("jobs").create(); // term.created === true
   * ```
   */
  create(): Promise<Term>;
  /**
   * Ends the election for everyone (the `Close` RPC): every candidate leaves
   * the line, the leader's term ends (event `"closed"`), every `events()`
   * stream of the election ends after that event, and it is no longer
   * listed. Entering again later elects with the next term number. Named
   * `closeElection` rather than `close`, because it releases nothing local:
   * it is an operator's action on shared state. Closing an election that is
   * not listed changes nothing; one that never existed is NotFound.
   *
   * @example
   * ```ts
   * await client.leaderElection("jobs").closeElection();
   * ```
   */
  closeElection(): Promise<Term>;
  /**
   * Joins the end of the line, tied to a lease (candidacy ends with it). Default lease: none.
   *
   * @example
   * ```ts
   * const lease = await client.grantLease(10);
   * const term = await client.leaderElection("jobs").enter("node-a", { lease });
   * console.log(term.leader === "node-a" ? "leading" : `in line: ${term.candidates}`);
   * ```
   */
  enter(candidateId: string, options?: { lease?: LeaseInput }): Promise<Term>;
  /**
   * Leaves the line; if the candidate led, the next one leads.
   *
   * @example
   * ```ts
   * await client.leaderElection("jobs").withdraw("node-a");
   * ```
   */
  withdraw(candidateId: string): Promise<Term>;
  /**
   * Makes a candidate the leader now.
   *
   * @example
   * ```ts
   * const term = await client.leaderElection("jobs").anoint("node-b"); // term.leader === "node-b"
   * ```
   */
  anoint(candidateId: string): Promise<Term>;
  /**
   * Moves a candidate one place toward the front.
   *
   * @example
   * ```ts
   * await client.leaderElection("jobs").promote("node-c");
   * ```
   */
  promote(candidateId: string): Promise<Term>;
  /**
   * Moves a candidate one place back.
   *
   * @example
   * ```ts
   * await client.leaderElection("jobs").demote("node-a");
   * ```
   */
  demote(candidateId: string): Promise<Term>;
  /**
   * Removes a candidate (an operator's action).
   *
   * @example
   * ```ts
   * await client.leaderElection("jobs").evict("node-stuck");
   * ```
   */
  evict(candidateId: string): Promise<Term>;
  /**
   * The current term, or undefined for an election nobody entered.
   *
   * @example
   * ```ts
   * const term = await client.leaderElection("jobs").term();
   * console.log(term?.leader ?? "nobody leads", term?.term);
   * ```
   */
  term(): Promise<Term | undefined>;
  /**
   * The current state first, then one event per change, reconnecting on its
   * own, resuming from the last revision seen: no change is lost or
   * repeated; see {@link LeaderElectionEvent.resync} for when history was
   * compacted meanwhile. Ends (without an error) after a `"closed"` event.
   *
   * @example
   * ```ts
   * for await (const e of client.leaderElection("jobs").events()) {
   *   if (e.kind === "elected") console.log("new leader", e.candidateId);
   * }
   * ```
   */
  events(options?: StreamOptions): ReconnectingStream<LeaderElectionEvent>;
}

const termOf = (r: { term?: Term | undefined }): Term => {
  if (r.term === undefined) throw new ConnectError("conclave: answer without term", Code.Internal);
  return r.term;
};

/** What {@link listLeaderElections} returns. */
export interface LeaderElectionList {
  /** The current term of each listed election, sorted by name. */
  elections: Term[];
  /**
   * The revision the list was read at: a watch of `__conclave/le/` from
   * `revision + 1` misses no later change.
   */
  revision: bigint;
}

/**
 * The listed conclave.v1 elections — those created and not closed since, and
 * those anyone is in — with their current terms; only those whose keys the
 * caller may read. `ConclaveClient.listLeaderElections` is this.
 *
 * @example
 * ```ts
 * const { elections } = await listLeaderElections(services);
 * for (const t of elections) console.log(t.election, t.leader || "(no leader)", t.term);
 * ```
 */
export async function listLeaderElections(services: ConclaveServices): Promise<LeaderElectionList> {
  const r = await services.leaderElection.list({});
  return { elections: r.elections, revision: r.revision };
}

/**
 * conclave.v1's leader election `election` over `services`.
 * `ConclaveClient.leaderElection` is this with the client's `close()`.
 *
 * @example
 * ```ts
 * const le = createLeaderElection(services, "jobs");
 * await le.enter("node-a");
 * ```
 */
export function createLeaderElection(services: ConclaveServices, election: string): LeaderElection {
  const le = services.leaderElection;
  const op =
    (call: (req: { election: string; candidateId: string }) => Promise<{ term?: Term }>) =>
    async (candidateId: string) =>
      termOf(await call({ election, candidateId }));
  return {
    election,
    async create() {
      return termOf(await le.create({ election }));
    },
    async closeElection() {
      return termOf(await le.close({ election }));
    },
    async enter(candidateId, options = {}) {
      return termOf(await le.enter({ election, candidateId, lease: leaseIdOf(options.lease) }));
    },
    withdraw: op((r) => le.withdraw(r)),
    anoint: op((r) => le.anoint(r)),
    promote: op((r) => le.promote(r)),
    demote: op((r) => le.demote(r)),
    evict: op((r) => le.evict(r)),
    async term() {
      try {
        return termOf(await le.getTerm({ election }));
      } catch (err) {
        if (err instanceof ConnectError && err.code === Code.NotFound) return undefined;
        throw err;
      }
    },
    events(options = {}) {
      /** term.revision of the last event delivered; -1n before the first. */
      let lastRevision = -1n;
      /** Events delivered at lastRevision (a change and its ELECTED share one). */
      let deliveredAtLast = 0;
      /**
       * The last event was CURRENT: a state, not a change, covering every
       * change up to its revision — a replay from there would repeat the
       * change at that revision (and its ELECTED), so resume after it.
       */
      let lastWasState = false;
      async function* connect(signal: AbortSignal) {
        // Resume at the last revision seen, not after it, so an ELECTED that
        // the cut-off stream had not sent yet is not lost; skip what was seen.
        const resuming = lastRevision >= 0n;
        let skip = resuming && !lastWasState ? deliveredAtLast : 0;
        const startRevision = !resuming ? 0n : lastWasState ? lastRevision + 1n : lastRevision;
        for await (const r of le.events({ election, startRevision }, { signal })) {
          const term = termOf(r);
          if (term.revision === lastRevision && skip > 0) {
            skip--;
            continue;
          }
          if (term.revision === lastRevision) deliveredAtLast++;
          else {
            lastRevision = term.revision;
            deliveredAtLast = 1;
          }
          lastWasState = r.reason === EventReason.CURRENT;
          skip = 0;
          yield {
            kind: eventKinds[r.reason] ?? "unspecified",
            reason: r.reason,
            candidateId: r.candidateId,
            term,
            resync: resuming && r.reason === EventReason.CURRENT,
          } satisfies LeaderElectionEvent;
          // The election ended; the server ends its stream too.
          if (r.reason === EventReason.CLOSED) return;
        }
        throw new ConnectError("events stream ended", Code.Unavailable);
      }
      return createReconnectingStream(connect, options);
    },
  };
}
