import { prefixEnd } from "@conclave/core";
import { electionKeys, leaderElectionPrefix, parseElectionKey } from "@conclave/wire";
import type { LocalClient } from "../local-client.js";
import type { ServerContext } from "../server-context.js";
import { parseLineState } from "./election-line.js";
import { createElectionStore, type ElectionStore } from "./election-store.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * The LeaderElection service's background duty: a candidate whose lease
 * expired or was revoked loses its candidate key (the lessor deletes it); this
 * takes the candidate out of its line, electing the next one with a new term.
 *
 * Nothing runs until {@link LeaderElectionExpiry.start}; one per server (two
 * would race on every expiry, correctly but for nothing). Close it before the
 * server context, so no line change reaches a closed store.
 */
export interface LeaderElectionExpiry {
  /**
   * Reconciles first (candidates whose keys vanished while the server was
   * down), then follows deletions under the LeaderElection prefix. Calling it
   * again is a no-op.
   */
  start(): void;
  /** Stops following deletions and waits for the line changes in flight. */
  close(): Promise<void>;
}

/**
 * @param elections Where lines are changed; default a store of its own over
 *   `c` (the compare-and-swap keeps it consistent with the service's).
 */
export function createLeaderElectionExpiry(
  ctx: ServerContext,
  c: LocalClient,
  elections: ElectionStore = createElectionStore(ctx, c),
): LeaderElectionExpiry {
  const stopped = new AbortController();
  const signal = AbortSignal.any([ctx.lifetime, stopped.signal]);
  const inFlight = new Set<Promise<void>>();
  let running: Promise<void> | undefined;

  async function expire(election: string, id: string) {
    const still = await c.range(enc.encode(electionKeys(election).candidate(id)));
    if (still.kvs.length > 0) return; // re-entered since
    const snap = await elections.read(election);
    const cand = snap.state?.candidates.find((x) => x.id === id);
    if (cand === undefined || cand.lease === "0") return; // withdrawn or evicted in the same txn
    await elections.mutate(election, { op: "lease_expired", id }).catch(() => undefined);
  }

  /** Runs `expire` and keeps it in `inFlight` until it settles; never rejects. */
  function track(election: string, id: string): Promise<void> {
    const p = expire(election, id).catch(() => undefined);
    inFlight.add(p);
    void p.then(() => inFlight.delete(p));
    return p;
  }

  async function run() {
    const pfx = enc.encode(leaderElectionPrefix);
    const all = await c.range(pfx, { rangeEnd: prefixEnd(pfx) });
    for (const kv of all.kvs) {
      if (signal.aborted) return;
      const parsed = parseElectionKey(dec.decode(kv.key));
      if (parsed?.part !== "state") continue;
      const { election } = parsed;
      const state = parseLineState(kv.value);
      for (const cand of state.candidates) {
        if (cand.lease !== "0") await track(election, cand.id);
      }
    }
    for await (const wr of c.watch(
      pfx,
      { prefix: true, rev: Number(all.header.revision) + 1 },
      signal,
    )) {
      for (const e of wr.events) {
        if (e.type !== "delete") continue;
        const parsed = parseElectionKey(dec.decode(e.kv.key));
        if (parsed?.candidateId !== undefined) void track(parsed.election, parsed.candidateId);
      }
    }
  }

  return {
    start() {
      running ??= run().catch(() => undefined);
    },
    async close() {
      stopped.abort();
      await running;
      await Promise.all(inFlight);
    },
  };
}
