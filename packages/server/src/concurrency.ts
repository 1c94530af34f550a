import {
  CompareResult,
  CompareTarget,
  compare,
  deleteRangeRequest,
  type Header,
  type KeyValue,
  prefixEnd,
  putRequest,
  rangeRequest,
  SortOrder,
  SortTarget,
  txnRequest,
} from "@conclave/core";
import type { LocalClient } from "./local-client.js";

/**
 * etcd's client-side concurrency recipes (clientv3/concurrency: Mutex and
 * Election), run server-side over the in-process client, exactly as etcd's
 * v3lock and v3election servers run them. `c` acts for the caller (its
 * calls are checked in the apply); a recipe's cleanup of the key it wrote —
 * after a wait failed or was cancelled — goes through `c.unchecked`, so a
 * refusal that ended the wait does not leave the key in line until its
 * lease expires.
 */

/**
 * An error of the recipes themselves (`election: not leader`): etcd's Lock
 * and Election servers return them as plain errors, so the error table
 * reports them as code Unknown with their text.
 */
export class RecipeError extends Error {
  override name = "RecipeError";
}
export const errElectionNotLeader = new RecipeError("election: not leader");
export const errElectionNoLeader = new RecipeError("election: no leader");
export const errMissingLeaderKey = new RecipeError('"leader" field must be provided');
/** The watch ended (cancel or shutdown) before the awaited delete came. */
export const errLostWatcher = new RecipeError("lost watcher waiting for delete");

const enc = new TextEncoder();

/** `prefix/` + lease ID in lowercase hex, no padding (Go's %x). */
export function leaseKey(prefix: Uint8Array, lease: bigint): Uint8Array {
  const hex = enc.encode(BigInt.asUintN(64, lease).toString(16));
  const k = new Uint8Array(prefix.length + 1 + hex.length);
  k.set(prefix);
  k[prefix.length] = 0x2f; // "/"
  k.set(hex, prefix.length + 1);
  return k;
}

/** `name/`: where the keys of a lock or an election live. */
export function recipePrefix(name: Uint8Array): Uint8Array {
  const p = new Uint8Array(name.length + 1);
  p.set(name);
  p[name.length] = 0x2f;
  return p;
}

/** `create_revision(key) == rev` (0: the key does not exist). */
const createRevisionIs = (key: Uint8Array, rev: bigint) =>
  compare(key, {
    target: CompareTarget.CREATE,
    result: CompareResult.EQUAL,
    targetUnion: { case: "createRevision", value: rev },
  });

/** WithFirstCreate / WithLastCreate: the oldest (or newest) key under a prefix. */
const topByCreate = (prefix: Uint8Array, order: number, maxCreate = 0n) =>
  rangeRequest(prefix, {
    rangeEnd: prefixEnd(prefix),
    sortTarget: SortTarget.CREATE,
    sortOrder: order,
    limit: 1n,
    maxCreateRevision: maxCreate,
  });

/**
 * Ends a finished wait's watch. One shared reason: `abort()` without one
 * builds a DOMException with a stack trace, on every lock hand-over.
 */
const waitOver = new RecipeError("wait over");

/** Waits until `key` is deleted, watching from `rev`. */
async function waitDelete(c: LocalClient, key: Uint8Array, rev: number, signal: AbortSignal) {
  const inner = new AbortController();
  const abort = () => inner.abort(signal.reason);
  signal.addEventListener("abort", abort, { once: true });
  try {
    for await (const wr of c.watch(key, { rev }, inner.signal)) {
      if (wr.events.some((e) => e.type === "delete")) return;
    }
  } finally {
    signal.removeEventListener("abort", abort);
    inner.abort(waitOver);
  }
  throw signal.aborted ? (signal.reason ?? errLostWatcher) : errLostWatcher;
}

/** etcd's waitDeletes: waits until no key under `prefix` has create revision ≤ maxCreateRev. */
export async function waitDeletes(
  c: LocalClient,
  prefix: Uint8Array,
  maxCreateRev: number,
  signal: AbortSignal,
): Promise<Header> {
  for (;;) {
    const resp = await c.range(
      prefix,
      topByCreate(prefix, SortOrder.DESCEND, BigInt(maxCreateRev)),
    );
    const last = resp.kvs[0];
    if (last === undefined) return resp.header;
    // The key exists at the header revision, so its delete comes later: from
    // the next revision on, the watch usually starts synced, with no history read.
    await waitDelete(c, last.key, Number(resp.header.revision) + 1, signal);
  }
}

/** etcd's Mutex.Lock for a session with `lease`; returns the lock key and header. */
export async function lockMutex(
  c: LocalClient,
  name: Uint8Array,
  lease: bigint,
  signal: AbortSignal,
): Promise<{ key: Uint8Array; header: Header }> {
  const pfx = recipePrefix(name);
  const myKey = leaseKey(name, lease);
  const owner = { case: "requestRange" as const, value: topByCreate(pfx, SortOrder.ASCEND) };
  const resp = await c.txn(
    txnRequest({
      compare: [createRevisionIs(myKey, 0n)],
      success: [
        { request: { case: "requestPut", value: putRequest(myKey, new Uint8Array(0), { lease }) } },
        { request: owner },
      ],
      failure: [
        { request: { case: "requestRange", value: rangeRequest(myKey) } },
        { request: owner },
      ],
    }),
  );
  let myRev = Number(resp.header.revision);
  const first = resp.responses[0]?.response;
  if (!resp.succeeded && first?.case === "responseRange") {
    myRev = Number((first.value.kvs[0] as KeyValue).createRevision);
  }
  const ownerResp = resp.responses[1]?.response;
  const ownerKv = ownerResp?.case === "responseRange" ? ownerResp.value.kvs[0] : undefined;
  if (ownerKv === undefined || Number(ownerKv.createRevision) === myRev) {
    return { key: myKey, header: { revision: resp.header.revision ?? 0n } };
  }
  try {
    const header = await waitDeletes(c, pfx, myRev - 1, signal);
    return { key: myKey, header };
  } catch (err) {
    // Release the place in line when waiting failed (cancel, shutdown).
    await c.unchecked.delete(myKey).catch(() => undefined);
    throw err;
  }
}

export interface LeaderState {
  name: Uint8Array;
  key: Uint8Array;
  rev: bigint;
  lease: bigint;
}

/** etcd's Election.Proclaim for a resumed election. */
export async function proclaim(c: LocalClient, l: LeaderState, value: Uint8Array): Promise<Header> {
  const resp = await c.txn(
    txnRequest({
      compare: [createRevisionIs(l.key, l.rev)],
      success: [
        { request: { case: "requestPut", value: putRequest(l.key, value, { ignoreLease: true }) } },
      ],
    }),
  );
  if (!resp.succeeded) throw errElectionNotLeader;
  return { revision: resp.header.revision ?? 0n };
}

/** etcd's Election.Resign: deletes the leader key if it is still ours; success either way. */
export async function resign(c: LocalClient, l: LeaderState): Promise<Header> {
  const resp = await c.txn(
    txnRequest({
      compare: [createRevisionIs(l.key, l.rev)],
      success: [{ request: { case: "requestDeleteRange", value: deleteRangeRequest(l.key) } }],
    }),
  );
  return { revision: resp.header.revision ?? 0n };
}

/** etcd's Election.Campaign: joins and waits until every earlier candidate is gone. */
export async function campaign(
  c: LocalClient,
  name: Uint8Array,
  lease: bigint,
  value: Uint8Array,
  signal: AbortSignal,
): Promise<{ leader: LeaderState; header: Header }> {
  const pfx = recipePrefix(name);
  const key = leaseKey(name, lease);
  const resp = await c.txn(
    txnRequest({
      compare: [createRevisionIs(key, 0n)],
      success: [{ request: { case: "requestPut", value: putRequest(key, value, { lease }) } }],
      failure: [{ request: { case: "requestRange", value: rangeRequest(key) } }],
    }),
  );
  const leader: LeaderState = { name, key, rev: resp.header.revision ?? 0n, lease };
  const first = resp.responses[0]?.response;
  if (!resp.succeeded && first?.case === "responseRange") {
    const kv = first.value.kvs[0] as KeyValue;
    leader.rev = kv.createRevision;
    if (Buffer.compare(kv.value, value) !== 0) {
      try {
        await proclaim(c, leader, value);
      } catch (err) {
        await resign(c.unchecked, leader).catch(() => undefined);
        throw err;
      }
    }
  }
  try {
    await waitDeletes(c, pfx, Number(leader.rev) - 1, signal);
  } catch (err) {
    if (signal.aborted) await resign(c.unchecked, leader).catch(() => undefined);
    throw err;
  }
  return { leader, header: { revision: resp.header.revision ?? 0n } };
}

/** etcd's Election.Leader: the oldest key under the prefix. */
export async function currentLeader(
  c: LocalClient,
  name: Uint8Array,
): Promise<{ kv: KeyValue; header: Header }> {
  const resp = await c.range(recipePrefix(name), topByCreate(recipePrefix(name), SortOrder.ASCEND));
  const kv = resp.kvs[0];
  if (kv === undefined) throw errElectionNoLeader;
  return { kv, header: resp.header };
}

/**
 * etcd's Election.Observe: the current leader, each of its proclamations,
 * and after its key is deleted the next leader; with no leader, waits for
 * the first put under the prefix. Never reports "no leader".
 */
export async function* observe(
  c: LocalClient,
  name: Uint8Array,
  signal: AbortSignal,
): AsyncGenerator<{ kv: KeyValue; header: Header }> {
  const pfx = recipePrefix(name);
  while (!signal.aborted) {
    const resp = await c.range(pfx, topByCreate(pfx, SortOrder.ASCEND));
    let kv = resp.kvs[0];
    let header: Header = resp.header;
    if (kv === undefined) {
      for await (const wr of c.watch(
        pfx,
        { prefix: true, rev: Number(resp.header.revision) },
        signal,
      )) {
        if (wr.compactRevision !== undefined) return;
        const put = wr.events.find((e) => e.type === "put");
        if (put !== undefined) {
          kv = put.kv;
          header = { revision: put.kv.modRevision };
          break;
        }
      }
      if (kv === undefined) return;
    }
    yield { kv, header };
    let deleted = false;
    for await (const wr of c.watch(kv.key, { rev: Number(header.revision) + 1 }, signal)) {
      if (wr.compactRevision !== undefined) return;
      for (const e of wr.events) {
        if (e.type === "delete") {
          deleted = true;
          break;
        }
        yield { kv: e.kv, header: { revision: BigInt(wr.rev) } };
      }
      if (deleted) break;
    }
    if (!deleted) return;
  }
}
