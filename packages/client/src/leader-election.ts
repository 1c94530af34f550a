import { EventReason, type Term } from "@conclave/proto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ConclaveServices } from "./conclave-services.js";
import { type LeaseInput, leaseIdOf } from "./lease.js";
import {
  createReconnectingStream,
  type ReconnectingStream,
  type StreamOptions,
} from "./reconnecting-stream.js";

/** One change of a conclave.v1 leader election. */
export interface LeaderElectionEvent {
  /** What happened; `CURRENT` for the state when the stream (re)connected. */
  reason: EventReason;
  /** The candidate the change concerns (the new leader for `ELECTED`). */
  candidateId: string;
  /** The election's state after the change. */
  term: Term;
  /**
   * True for a `CURRENT` event after a reconnect when the election changed
   * meanwhile: the changes in between are not replayed (the Events RPC
   * starts from the current state), so treat `term` as the new truth.
   */
  resync: boolean;
}

/** conclave.v1's Atomix-style leader election for one election name. */
export interface LeaderElection {
  readonly election: string;
  /** Joins the end of the line, tied to a lease (candidacy ends with it). Default lease: none. */
  enter(candidateId: string, options?: { lease?: LeaseInput }): Promise<Term>;
  /** Leaves the line; if the candidate led, the next one leads. */
  withdraw(candidateId: string): Promise<Term>;
  /** Makes a candidate the leader now. */
  anoint(candidateId: string): Promise<Term>;
  /** Moves a candidate one place toward the front. */
  promote(candidateId: string): Promise<Term>;
  /** Moves a candidate one place back. */
  demote(candidateId: string): Promise<Term>;
  /** Removes a candidate (an operator's action). */
  evict(candidateId: string): Promise<Term>;
  /** The current term, or undefined for an election nobody entered. */
  term(): Promise<Term | undefined>;
  /**
   * The current state first, then one event per change, reconnecting on its
   * own. Events already delivered are never repeated (they are ordered by
   * `term.revision`); see {@link LeaderElectionEvent.resync} for changes
   * made while disconnected.
   */
  events(options?: StreamOptions): ReconnectingStream<LeaderElectionEvent>;
}

const termOf = (r: { term?: Term | undefined }): Term => {
  if (r.term === undefined) throw new ConnectError("conclave: answer without term", Code.Internal);
  return r.term;
};

export function createLeaderElection(services: ConclaveServices, election: string): LeaderElection {
  const le = services.leaderElection;
  const op =
    (call: (req: { election: string; candidateId: string }) => Promise<{ term?: Term }>) =>
    async (candidateId: string) =>
      termOf(await call({ election, candidateId }));
  return {
    election,
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
      async function* connect(signal: AbortSignal) {
        let first = true;
        for await (const r of le.events({ election }, { signal })) {
          const term = termOf(r);
          const reconnect = first && lastRevision >= 0n;
          first = false;
          // The CURRENT that opens a reconnect repeats the last state unless something changed.
          if (reconnect && term.revision <= lastRevision) continue;
          lastRevision = term.revision > lastRevision ? term.revision : lastRevision;
          yield {
            reason: r.reason,
            candidateId: r.candidateId,
            term,
            resync: reconnect && r.reason === EventReason.CURRENT,
          } satisfies LeaderElectionEvent;
        }
        throw new ConnectError("events stream ended", Code.Unavailable);
      }
      return createReconnectingStream(connect, options);
    },
  };
}
