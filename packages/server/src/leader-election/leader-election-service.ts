import { errCompacted } from "@conclave/core";
import { EventReason, type LeaderElectionService } from "@conclave/proto";
import { electionKeys, prefixEnd } from "@conclave/wire";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { checkPrefix } from "../auth-guard.js";
import type { LocalClient } from "../local-client.js";
import type { ServerContext } from "../server-context.js";
import { revocableStream } from "../stream-access.js";
import type { LineReason, LineState } from "./election-line.js";
import { createElectionStore, type ElectionStore } from "./election-store.js";
import { ElectionInputError, errElectionNotFound } from "./errors.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

const reasonToProto: Record<LineReason, EventReason> = {
  entered: EventReason.ENTERED,
  withdrew: EventReason.WITHDREW,
  lease_expired: EventReason.LEASE_EXPIRED,
  anointed: EventReason.ANOINTED,
  promoted: EventReason.PROMOTED,
  demoted: EventReason.DEMOTED,
  evicted: EventReason.EVICTED,
};

function need(value: string, what: string): string {
  if (value === "") throw new ElectionInputError(`conclave: ${what} is not provided`);
  return value;
}

/**
 * conclave.v1.LeaderElectionService over the in-process client: validation,
 * the auth check, then a line change or read through the {@link ElectionStore}
 * (the key layout is described there). Starts nothing: taking candidates whose
 * lease expired out of their line is {@link createLeaderElectionExpiry}'s duty,
 * started with the server.
 *
 * @param elections Default a store of its own over `c`.
 */
export function createLeaderElectionService(
  ctx: ServerContext,
  c: LocalClient,
  elections: ElectionStore = createElectionStore(ctx, c),
): Partial<ServiceImpl<typeof LeaderElectionService>> {
  const { read, mutate, toTerm } = elections;

  /** The caller needs READ, and WRITE for changes, on the election's keys. */
  const authorized = (hctx: HandlerContext, election: string, write: boolean) => {
    checkPrefix(ctx, hctx, electionKeys(election).prefix, write);
    return election;
  };

  const candidateOp =
    (op: "withdraw" | "evict" | "anoint" | "promote" | "demote") =>
    async (req: { election: string; candidateId: string }, hctx: HandlerContext) => ({
      term: await mutate(authorized(hctx, need(req.election, "election"), true), {
        op,
        id: need(req.candidateId, "candidate_id"),
      }),
    });

  const service: Partial<ServiceImpl<typeof LeaderElectionService>> = {
    async enter(req, hctx) {
      const election = authorized(hctx, need(req.election, "election"), true);
      const id = need(req.candidateId, "candidate_id");
      return {
        term: await mutate(election, {
          op: "enter",
          candidate: { id, lease: req.lease.toString() },
        }),
      };
    },
    withdraw: candidateOp("withdraw"),
    evict: candidateOp("evict"),
    anoint: candidateOp("anoint"),
    promote: candidateOp("promote"),
    demote: candidateOp("demote"),
    async getTerm(req, hctx) {
      const election = authorized(hctx, need(req.election, "election"), false);
      const snap = await read(election);
      if (snap.state === undefined) throw errElectionNotFound(election);
      return { term: toTerm(election, snap.state, snap.stateRev, snap.leaderRev) };
    },
    async *events(req, hctx) {
      const election = authorized(hctx, need(req.election, "election"), false);
      const k = electionKeys(election);
      // READ on the election's keys, as checked above, for as long as the stream lasts.
      const pfx = enc.encode(k.prefix);
      const stream = revocableStream(ctx, hctx, pfx, prefixEnd(pfx));
      try {
        yield* electionEvents(election, req.startRevision, stream.signal);
        stream.throwIfRevoked();
      } finally {
        stream.close();
      }
    },
  };
  return service;

  async function* electionEvents(election: string, startRevision: bigint, signal: AbortSignal) {
    const k = electionKeys(election);
    const stateKey = enc.encode(k.state);
    let leaderRev = 0;
    /** Next revision to watch from; undefined: open with the current state. */
    let from: number | undefined;
    let compactRevision = 0;
    if (startRevision > 0n) {
      const start = Number(startRevision);
      try {
        // The leader key's revision as of just before the replay, so replayed
        // terms carry the leader revision they had then.
        if (start > 1) {
          const before = await c.range(enc.encode(k.leader), { revision: BigInt(start - 1) });
          leaderRev = Number(before.kvs[0]?.modRevision ?? 0n);
        }
        from = start;
      } catch (err) {
        if (err !== errCompacted) throw err;
        compactRevision = ctx.store.compactRev();
      }
    }
    for (;;) {
      if (from === undefined) {
        const snap = await read(election);
        leaderRev = snap.leaderRev;
        yield {
          reason: EventReason.CURRENT,
          candidateId: snap.state?.candidates[0]?.id ?? "",
          term: toTerm(election, snap.state, snap.stateRev, leaderRev),
          compactRevision: BigInt(compactRevision),
        };
        from = snap.rev + 1;
      }
      let compacted: number | undefined;
      for await (const wr of c.watch(stateKey, { rev: from }, signal)) {
        if (wr.compactRevision !== undefined) {
          compacted = wr.compactRevision;
          break;
        }
        for (const e of wr.events) {
          if (e.type !== "put") continue;
          const state = JSON.parse(dec.decode(e.kv.value)) as LineState;
          const rev = Number(e.kv.modRevision);
          if (state.last.elected) leaderRev = rev;
          const term = toTerm(election, state, rev, leaderRev);
          yield {
            reason: reasonToProto[state.last.reason],
            candidateId: state.last.candidate,
            term,
          };
          if (state.last.elected) {
            yield { reason: EventReason.ELECTED, candidateId: term.leader, term };
          }
        }
      }
      if (compacted === undefined) return; // the call ended
      // History needed by the replay was compacted meanwhile: resync.
      compactRevision = compacted;
      from = undefined;
    }
  }
}
