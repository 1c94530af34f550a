import {
  CompareResult,
  CompareTarget,
  compare,
  deleteRangeRequest,
  errCompacted,
  type KeyValue,
  prefixEnd,
  putRequest,
  type RequestOp,
  rangeRequest,
  txnRequest,
} from "@conclave/core";
import { EventReason, type LeaderElectionService, type Term } from "@conclave/proto";
import { electionKeys, leaderElectionPrefix, parseElectionKey } from "@conclave/wire";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { checkPrefix } from "../auth-guard.js";
import type { LocalClient } from "../local-client.js";
import type { ServerContext } from "../server-context.js";
import { revocableStream } from "../stream-access.js";
import {
  applyLineOp,
  emptyLine,
  type LineOp,
  type LineReason,
  type LineState,
} from "./election-line.js";
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

interface Snapshot {
  state: LineState | undefined;
  /** mod_revision of the state key (0: no election yet). */
  stateRev: number;
  /** mod_revision of the leader key (0: never had a leader). */
  leaderRev: number;
  /** Header revision of the read. */
  rev: number;
}

function need(value: string, what: string): string {
  if (value === "") throw new ElectionInputError(`conclave: ${what} is not provided`);
  return value;
}

/**
 * conclave.v1.LeaderElectionService over the in-process client. Each election
 * is one JSON state key (the line and term), one leader key that changes only
 * when the leader does (the fencing key), and one key per candidate carrying
 * the candidate's lease — so lease expiry deletes it and the service removes
 * the candidate, electing the next one with a new term.
 */
export function createLeaderElectionService(
  ctx: ServerContext,
  c: LocalClient,
): Partial<ServiceImpl<typeof LeaderElectionService>> {
  /** Serializes changes per election; the CAS in `mutate` guards anyway. */
  const locks = new Map<string, Promise<unknown>>();
  const serial = <T>(election: string, fn: () => Promise<T>): Promise<T> => {
    const prev = locks.get(election) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    locks.set(election, tail);
    tail.then(() => {
      if (locks.get(election) === tail) locks.delete(election);
    });
    return next;
  };

  async function read(election: string): Promise<Snapshot> {
    const k = electionKeys(election);
    const resp = await c.txn(
      txnRequest({
        success: [
          { request: { case: "requestRange", value: rangeRequest(enc.encode(k.state)) } },
          { request: { case: "requestRange", value: rangeRequest(enc.encode(k.leader)) } },
        ],
      }),
    );
    const kvOf = (i: number): KeyValue | undefined => {
      const r = resp.responses[i]?.response;
      return r?.case === "responseRange" ? r.value.kvs[0] : undefined;
    };
    const stateKv = kvOf(0);
    const leaderKv = kvOf(1);
    return {
      state:
        stateKv === undefined ? undefined : (JSON.parse(dec.decode(stateKv.value)) as LineState),
      stateRev: Number(stateKv?.modRevision ?? 0n),
      leaderRev: Number(leaderKv?.modRevision ?? 0n),
      rev: Number(resp.header.revision ?? 0n),
    };
  }

  function toTerm(
    election: string,
    state: LineState | undefined,
    revision: number,
    leaderRev: number,
  ): Term {
    const s = state ?? emptyLine;
    const leader = s.candidates[0];
    const lease = leader === undefined ? 0n : BigInt(leader.lease);
    const info = lease === 0n ? undefined : ctx.lessor.timeToLive(lease);
    return {
      election,
      term: BigInt(s.term),
      leader: leader?.id ?? "",
      candidates: s.candidates.map((x) => x.id),
      revision: BigInt(revision),
      leaderRevision: BigInt(leaderRev),
      leaderKey: electionKeys(election).leader,
      leaderLease: lease,
      leaderLeaseTtl: info === undefined ? -1n : BigInt(info.remaining),
    } as Term;
  }

  /** Applies an operation with compare-and-swap on the state key's mod revision. */
  function mutate(election: string, op: LineOp): Promise<Term> {
    return serial(election, async () => {
      const k = electionKeys(election);
      for (;;) {
        const snap = await read(election);
        if (snap.state === undefined && op.op !== "enter") throw errElectionNotFound(election);
        const next = applyLineOp(snap.state ?? emptyLine, op);
        if (next === undefined) return toTerm(election, snap.state, snap.stateRev, snap.leaderRev);
        const ops: RequestOp[] = [
          {
            request: {
              case: "requestPut",
              value: putRequest(enc.encode(k.state), enc.encode(JSON.stringify(next))),
            },
          },
        ];
        if (next.last.elected) {
          const leader = next.candidates[0]?.id ?? "";
          ops.push({
            request: {
              case: "requestPut",
              value: putRequest(enc.encode(k.leader), enc.encode(`${next.term}:${leader}`)),
            },
          });
        }
        if (op.op === "enter") {
          ops.push({
            request: {
              case: "requestPut",
              value: putRequest(enc.encode(k.candidate(op.candidate.id)), new Uint8Array(0), {
                lease: BigInt(op.candidate.lease),
              }),
            },
          });
        } else if (op.op === "withdraw" || op.op === "evict" || op.op === "lease_expired") {
          ops.push({
            request: {
              case: "requestDeleteRange",
              value: deleteRangeRequest(enc.encode(k.candidate(op.id))),
            },
          });
        }
        const resp = await c.txn(
          txnRequest({
            compare: [
              compare(enc.encode(k.state), {
                target: CompareTarget.MOD,
                result: CompareResult.EQUAL,
                targetUnion: { case: "modRevision", value: BigInt(snap.stateRev) },
              }),
            ],
            success: ops,
          }),
        );
        if (!resp.succeeded) continue; // changed under us: read again
        const rev = Number(resp.header.revision ?? 0n);
        return toTerm(election, next, rev, next.last.elected ? rev : snap.leaderRev);
      }
    });
  }

  // Candidates whose lease expired or was revoked: their candidate key is
  // deleted by the lessor; take them out of the line.
  async function expire(election: string, id: string) {
    const still = await c.range(enc.encode(electionKeys(election).candidate(id)));
    if (still.kvs.length > 0) return; // re-entered since
    const snap = await read(election);
    const cand = snap.state?.candidates.find((x) => x.id === id);
    if (cand === undefined || cand.lease === "0") return; // withdrawn or evicted in the same txn
    await mutate(election, { op: "lease_expired", id }).catch(() => undefined);
  }
  async function watchExpiries() {
    const pfx = enc.encode(leaderElectionPrefix);
    // Reconcile first: candidates whose keys vanished while we were down.
    const all = await c.range(pfx, { rangeEnd: prefixEnd(pfx) });
    for (const kv of all.kvs) {
      const key = dec.decode(kv.key);
      const parsed = parseElectionKey(key);
      if (parsed?.part !== "state") continue;
      const { election } = parsed;
      const state = JSON.parse(dec.decode(kv.value)) as LineState;
      for (const cand of state.candidates) {
        if (cand.lease !== "0") await expire(election, cand.id);
      }
    }
    for await (const wr of c.watch(
      pfx,
      { prefix: true, rev: Number(all.header.revision) + 1 },
      ctx.lifetime,
    )) {
      for (const e of wr.events) {
        if (e.type !== "delete") continue;
        const parsed = parseElectionKey(dec.decode(e.kv.key));
        if (parsed?.candidateId !== undefined) void expire(parsed.election, parsed.candidateId);
      }
    }
  }
  void watchExpiries().catch(() => undefined);

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
