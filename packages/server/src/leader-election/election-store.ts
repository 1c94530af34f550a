import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  CompareResult,
  CompareTarget,
  compare,
  deleteRangeRequest,
  type KeyValue,
  putRequest,
  type RequestOp,
  rangeRequest,
  txnRequest,
} from "@conclave/core";
import type { Term } from "@conclave/proto";
import { electionKeys, leaderElectionPrefix, parseElectionKey, prefixEnd } from "@conclave/wire";
import type { LocalClient } from "../local-client.js";
import type { ServerContext } from "../server-context.js";
import {
  applyLineOp,
  emptyLine,
  type LineOp,
  type LineState,
  parseLineState,
  stampLineTimes,
} from "./election-line.js";
import { errElectionNotFound } from "./errors.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** One read of an election's state and leader keys. */
export interface ElectionSnapshot {
  state: LineState | undefined;
  /** mod_revision of the state key (0: no election yet). */
  stateRev: number;
  /** mod_revision of the leader key (0: never had a leader). */
  leaderRev: number;
  /** Header revision of the read. */
  rev: number;
}

/** One election of {@link ElectionStore.readAll}. */
export interface StoredElection {
  election: string;
  state: LineState;
  /** mod_revision of the state key. */
  stateRev: number;
  /** mod_revision of the leader key (0: never had a leader). */
  leaderRev: number;
}

/**
 * The elections as stored in the KV space: reads a line, applies a line
 * operation with compare-and-swap, and shapes the answer as a `Term`. Both the
 * LeaderElection service and its expiry duty change lines only through here.
 */
export interface ElectionStore {
  /**
   * Reads the state and leader keys of `election` in one txn, through `as`
   * (a client acting for the caller, whose check runs in the read) or the
   * store's own client.
   */
  read(election: string, as?: LocalClient): Promise<ElectionSnapshot>;
  /**
   * Every election that has a state key, listed or not, in key order, read
   * at one revision (`rev`). One range over the LeaderElection prefix, so it
   * also reads the (empty) candidate keys.
   */
  readAll(): Promise<{ elections: StoredElection[]; rev: number }>;
  /**
   * Applies `op` with compare-and-swap on the state key's mod revision,
   * retrying when the line changed under it; errElectionNotFound for an
   * election that does not exist (except for "enter" and "create"). Reads
   * and writes go through `as` when given, so the caller's check runs in
   * each of them. An `op` given as a function is made after the first read:
   * a request's own validation then comes after the caller's check, as it
   * did when the service checked before calling.
   */
  mutate(election: string, op: LineOp | (() => LineOp), as?: LocalClient): Promise<Term>;
  /** The term of `state` (undefined: empty line) at `revision`. */
  toTerm(election: string, state: LineState | undefined, revision: number, leaderRev: number): Term;
}

/**
 * Each election is one JSON state key (the line and term), one leader key that
 * changes only when the leader does (the fencing key), and one key per
 * candidate carrying the candidate's lease — so lease expiry deletes it.
 * Changes are serialized per election within one store; the CAS keeps two
 * stores over the same keys (e.g. the service and the expiry duty) correct.
 */
export function createElectionStore(ctx: ServerContext, c: LocalClient): ElectionStore {
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

  async function read(election: string, as = c): Promise<ElectionSnapshot> {
    const k = electionKeys(election);
    const resp = await as.txn(
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
      state: stateKv === undefined ? undefined : parseLineState(stateKv.value),
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
      created: s.created,
      changedAt: s.last.at === undefined ? undefined : timestampFromMs(s.last.at),
      leaderSince: s.leaderSince === undefined ? undefined : timestampFromMs(s.leaderSince),
    } as Term;
  }

  async function readAll(): Promise<{ elections: StoredElection[]; rev: number }> {
    const pfx = enc.encode(leaderElectionPrefix);
    const resp = await c.range(pfx, { rangeEnd: prefixEnd(pfx) });
    const byName = new Map<string, StoredElection>();
    const leaderRevs = new Map<string, number>();
    for (const kv of resp.kvs) {
      const parsed = parseElectionKey(dec.decode(kv.key));
      if (parsed?.part === "state") {
        byName.set(parsed.election, {
          election: parsed.election,
          state: parseLineState(kv.value),
          stateRev: Number(kv.modRevision),
          leaderRev: 0,
        });
      } else if (parsed?.part === "leader") {
        leaderRevs.set(parsed.election, Number(kv.modRevision));
      }
    }
    const elections = [...byName.values()];
    for (const e of elections) e.leaderRev = leaderRevs.get(e.election) ?? 0;
    return { elections, rev: Number(resp.header.revision ?? 0n) };
  }

  /** The txn ops writing `next`, the leader key when elected, and the candidate key `op` touches. */
  function writeOps(election: string, op: LineOp, next: LineState): RequestOp[] {
    const k = electionKeys(election);
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
    } else if (op.op === "close") {
      // Every candidate leaves in the same revision. The expiry duty sees
      // these deletions too and finds the candidates already out of line.
      const candidates = enc.encode(k.candidatesPrefix);
      ops.push({
        request: {
          case: "requestDeleteRange",
          value: deleteRangeRequest(candidates, { rangeEnd: prefixEnd(candidates) }),
        },
      });
    }
    return ops;
  }

  function mutate(election: string, opOrMake: LineOp | (() => LineOp), as = c): Promise<Term> {
    return serial(election, async () => {
      const stateKey = enc.encode(electionKeys(election).state);
      let op: LineOp | undefined;
      for (;;) {
        const snap = await read(election, as);
        op ??= typeof opOrMake === "function" ? opOrMake() : opOrMake;
        if (snap.state === undefined && op.op !== "enter" && op.op !== "create") {
          throw errElectionNotFound(election);
        }
        const prev = snap.state ?? emptyLine;
        const changed = applyLineOp(prev, op);
        if (changed === undefined) {
          return toTerm(election, snap.state, snap.stateRev, snap.leaderRev);
        }
        const next = stampLineTimes(prev, changed, Date.now());
        const resp = await as.txn(
          txnRequest({
            compare: [
              compare(stateKey, {
                target: CompareTarget.MOD,
                result: CompareResult.EQUAL,
                targetUnion: { case: "modRevision", value: BigInt(snap.stateRev) },
              }),
            ],
            success: writeOps(election, op, next),
          }),
        );
        if (!resp.succeeded) continue; // changed under us: read again
        const rev = Number(resp.header.revision ?? 0n);
        return toTerm(election, next, rev, next.last.elected ? rev : snap.leaderRev);
      }
    });
  }

  return { read, readAll, mutate, toTerm };
}
