import { toRangeEnd } from "@conclave/wire";
import { errCompacted, errFutureRev, errKeyNotFound, errLeaseNotFound } from "../errors.js";
import type { LeaseLookup } from "../lease/lease-lookup.js";
import { noLeases } from "../lease/lease-lookup.js";
import type { KvStore, ReadView, WriteTxn } from "../mvcc/kv-store.js";
import {
  type CompactionRequest,
  type CompactionResponse,
  type Compare,
  CompareResult,
  CompareTarget,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type KeyValue,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type ResponseOp,
  SortOrder,
  SortTarget,
  type TxnRequest,
  type TxnResponse,
} from "../types.js";
import { compareBytes } from "./compare-bytes.js";
import type { KvAuthorizer } from "./kv-authorizer.js";
import { type SortFields, sortKeyValues } from "./sort-key-values.js";

/**
 * etcd's key-value semantics over the MVCC store: what etcd's applier does
 * for Range, Put, DeleteRange, Txn and Compaction once a request passed the
 * API's validation (see the server's validation for empty keys, op limits and
 * the duplicate-key rule). Responses carry only `header.revision`; the edge
 * adds cluster and member IDs.
 *
 * `auth`, when given, is the caller's permission check: it runs first inside
 * the read view or write transaction the request is served in, before any
 * other check and before the first change, so a refused request writes
 * nothing and no auth change can slip between check and apply (etcd's
 * authApplierV3). Without it the request is applied as a trusted internal
 * one (lease expiry, the in-process client acting as the server, tests).
 */
export interface KvApplier {
  range(r: RangeRequest, auth?: KvAuthorizer): Promise<RangeResponse>;
  put(r: PutRequest, auth?: KvAuthorizer): Promise<PutResponse>;
  deleteRange(r: DeleteRangeRequest, auth?: KvAuthorizer): Promise<DeleteRangeResponse>;
  txn(r: TxnRequest, auth?: KvAuthorizer): Promise<TxnResponse>;
  compact(r: CompactionRequest): Promise<CompactionResponse>;
}

export interface KvApplierOptions {
  store: KvStore;
  /** Which leases exist; defaults to none. */
  leases?: LeaseLookup;
}

const none = new Uint8Array(0);
const compactionKey = new TextEncoder().encode("compaction");

/** Range as etcd's applier runs it, against a read view or a write txn. */
export function applyRange(view: ReadView, r: RangeRequest): RangeResponse {
  const postFilter =
    r.sortOrder !== SortOrder.NONE ||
    r.minModRevision !== 0n ||
    r.maxModRevision !== 0n ||
    r.minCreateRevision !== 0n ||
    r.maxCreateRevision !== 0n;
  const end = toRangeEnd(r.rangeEnd);
  let kvs: KeyValue[];
  let count: number;
  let rev: number;
  let more = false;
  if (postFilter && !r.countOnly && r.sortTarget !== SortTarget.VALUE) {
    // Filter and sort on the index's metadata; load only what is returned.
    const rm = view.rangeMeta(r.key, end, { rev: Number(r.revision) });
    const picked = filterAndSort(rm.metas, r);
    count = rm.metas.length;
    rev = rm.rev;
    more = picked.more;
    kvs = picked.items.map((m) => m.load());
  } else {
    // Sorting and filtering need every match; otherwise fetch one extra for `more`.
    let limit = postFilter ? 0 : Number(r.limit);
    if (limit > 0) limit += 1;
    const rr = view.range(r.key, end, { limit, rev: Number(r.revision), countOnly: r.countOnly });
    const picked = filterAndSort(rr.kvs, r);
    kvs = picked.items;
    more = picked.more;
    count = rr.count;
    rev = rr.rev;
  }
  if (r.keysOnly) for (const kv of kvs) kv.value = none;
  return { header: { revision: BigInt(rev) }, kvs, more, count: BigInt(count) };
}

/** etcd's revision filters, sort and limit, over key-values or index metadata. */
function filterAndSort<T extends SortFields>(
  all: T[],
  r: RangeRequest,
): { items: T[]; more: boolean } {
  let items = all;
  if (r.maxModRevision !== 0n) items = items.filter((kv) => !(kv.modRevision > r.maxModRevision));
  if (r.minModRevision !== 0n) items = items.filter((kv) => !(kv.modRevision < r.minModRevision));
  if (r.maxCreateRevision !== 0n)
    items = items.filter((kv) => !(kv.createRevision > r.maxCreateRevision));
  if (r.minCreateRevision !== 0n)
    items = items.filter((kv) => !(kv.createRevision < r.minCreateRevision));

  let order = r.sortOrder;
  // Results already come in key order; other targets default to ascending.
  if (r.sortTarget !== SortTarget.KEY && order === SortOrder.NONE) order = SortOrder.ASCEND;
  if (order === SortOrder.ASCEND || order === SortOrder.DESCEND) {
    sortKeyValues(items, r.sortTarget, order === SortOrder.DESCEND);
  }
  if (r.limit > 0n && items.length > Number(r.limit)) {
    return { items: items.slice(0, Number(r.limit)), more: true };
  }
  return { items, more: false };
}

/** Put as etcd's applier runs it inside a write txn. */
export function applyPut(txn: WriteTxn, p: PutRequest): PutResponse {
  let value = p.value;
  let lease = p.lease;
  let prev: KeyValue | undefined;
  if (p.ignoreValue || p.ignoreLease || p.prevKv) {
    prev = txn.range(p.key, undefined).kvs[0];
  }
  if ((p.ignoreValue || p.ignoreLease) && prev === undefined) throw errKeyNotFound;
  if (p.ignoreValue && prev !== undefined) value = prev.value;
  if (p.ignoreLease && prev !== undefined) lease = prev.lease;
  const rev = txn.put(p.key, value, lease);
  const resp: PutResponse = { header: { revision: BigInt(rev) } };
  if (p.prevKv && prev !== undefined) resp.prevKv = prev;
  return resp;
}

/** DeleteRange as etcd's applier runs it inside a write txn. */
export function applyDeleteRange(txn: WriteTxn, d: DeleteRangeRequest): DeleteRangeResponse {
  const end = toRangeEnd(d.rangeEnd);
  const prevKvs = d.prevKv ? txn.range(d.key, end).kvs : [];
  const { deleted, rev } = txn.deleteRange(d.key, end);
  return { header: { revision: BigInt(rev) }, deleted: BigInt(deleted), prevKvs };
}

function compareNumbers(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One compare against one key-value (etcd's compareKV). */
function compareKv(c: Compare, kv: KeyValue): boolean {
  let result = 0;
  const u = c.targetUnion;
  switch (c.target) {
    case CompareTarget.VALUE:
      result = compareBytes(kv.value, u.case === "value" ? u.value : none);
      break;
    case CompareTarget.CREATE:
      result = compareNumbers(kv.createRevision, u.case === "createRevision" ? u.value : 0n);
      break;
    case CompareTarget.MOD:
      result = compareNumbers(kv.modRevision, u.case === "modRevision" ? u.value : 0n);
      break;
    case CompareTarget.VERSION:
      result = compareNumbers(kv.version, u.case === "version" ? u.value : 0n);
      break;
    case CompareTarget.LEASE:
      result = compareNumbers(kv.lease, u.case === "lease" ? u.value : 0n);
      break;
  }
  switch (c.result) {
    case CompareResult.EQUAL:
      return result === 0;
    case CompareResult.NOT_EQUAL:
      return result !== 0;
    case CompareResult.GREATER:
      return result > 0;
    case CompareResult.LESS:
      return result < 0;
  }
  return true;
}

const zeroKv: KeyValue = {
  key: none,
  value: none,
  createRevision: 0n,
  modRevision: 0n,
  version: 0n,
  lease: 0n,
};

/** etcd's applyCompare: every key in range must satisfy it; a missing key compares as zeros. */
function applyCompare(view: ReadView, c: Compare): boolean {
  let kvs: KeyValue[];
  try {
    kvs = view.range(c.key, toRangeEnd(c.rangeEnd)).kvs;
  } catch {
    return false;
  }
  if (kvs.length === 0) {
    // A value compare on a missing key always fails: "no value" is not "".
    if (c.target === CompareTarget.VALUE) return false;
    return compareKv(c, zeroKv);
  }
  return kvs.every((kv) => compareKv(c, kv));
}

/**
 * The branch every (nested) txn takes, decided up front against the state
 * before the txn, in pre-order of the taken branches (etcd's compareToPath).
 */
function compareToPath(view: ReadView, rt: TxnRequest): boolean[] {
  const ok = rt.compare.every((c) => applyCompare(view, c));
  const path = [ok];
  for (const op of ok ? rt.success : rt.failure) {
    if (op.request.case === "requestTxn") path.push(...compareToPath(view, op.request.value));
  }
  return path;
}

/** A cursor over the pre-order path, shared by the recursive walkers below. */
interface PathCursor {
  path: boolean[];
  at: number;
}

/** Walks the ops of the taken branches in order (etcd's checkRequests). */
function walkTaken(rt: TxnRequest, cur: PathCursor, f: (op: RequestOp) => void): void {
  const taken = cur.path[cur.at] ?? false;
  cur.at++;
  for (const op of taken ? rt.success : rt.failure) {
    if (op.request.case === "requestTxn") walkTaken(op.request.value, cur, f);
    else f(op);
  }
}

function isReadOnly(rt: TxnRequest): boolean {
  return (
    rt.success.every((op) => op.request.case === "requestRange") &&
    rt.failure.every((op) => op.request.case === "requestRange")
  );
}

function runTxn(
  txn: ReadView,
  write: WriteTxn | undefined,
  rt: TxnRequest,
  cur: PathCursor,
  top: boolean,
): TxnResponse {
  const succeeded = cur.path[cur.at] ?? false;
  cur.at++;
  const responses: ResponseOp[] = [];
  for (const op of succeeded ? rt.success : rt.failure) {
    const req = op.request;
    switch (req.case) {
      case "requestRange":
        responses.push({ response: { case: "responseRange", value: applyRange(txn, req.value) } });
        break;
      case "requestPut":
        if (write === undefined) throw new Error("put in a read-only txn");
        responses.push({ response: { case: "responsePut", value: applyPut(write, req.value) } });
        break;
      case "requestDeleteRange":
        if (write === undefined) throw new Error("delete in a read-only txn");
        responses.push({
          response: { case: "responseDeleteRange", value: applyDeleteRange(write, req.value) },
        });
        break;
      case "requestTxn":
        responses.push({
          response: { case: "responseTxn", value: runTxn(txn, write, req.value, cur, false) },
        });
        break;
      default:
        responses.push({ response: { case: undefined } });
    }
  }
  return { header: top ? { revision: 0n } : {}, succeeded, responses };
}

/**
 * Runs a whole txn: decide branches and check puts (write txns only) then
 * ranges across the taken branches against `view`, then apply against
 * `write` (a write txn whose state `view` reads; undefined for a read-only
 * txn, applied against `view`). As etcd's applier, which checks in a read
 * txn and applies in a write txn; its mvcc metrics count them apart.
 */
function executeTxn(
  view: ReadView,
  write: WriteTxn | undefined,
  rt: TxnRequest,
  leases: LeaseLookup,
) {
  const path = compareToPath(view, rt);
  if (write !== undefined) {
    walkTaken(rt, { path, at: 0 }, (op) => {
      if (op.request.case !== "requestPut") return;
      const p = op.request.value;
      if (p.ignoreValue || p.ignoreLease) {
        if (view.range(p.key, undefined).kvs.length === 0) throw errKeyNotFound;
      }
      if (p.lease !== 0n && !leases.exists(p.lease)) throw errLeaseNotFound;
    });
  }
  walkTaken(rt, { path, at: 0 }, (op) => {
    if (op.request.case !== "requestRange") return;
    const rev = Number(op.request.value.revision);
    if (rev === 0) return;
    if (rev > view.rev()) throw errFutureRev;
    if (rev < view.firstRev()) throw errCompacted;
  });
  const resp = runTxn(write ?? view, write, rt, { path, at: 0 }, true);
  resp.header = { revision: BigInt((write ?? view).rev()) };
  return resp;
}

export function createKvApplier(options: KvApplierOptions): KvApplier {
  const { store } = options;
  const leases = options.leases ?? noLeases;
  return {
    async range(r, auth) {
      const view = store.read();
      auth?.range(r);
      return applyRange(view, r);
    },
    async put(p, auth) {
      const w = store.write((txn) => {
        auth?.put(p);
        if (p.lease !== 0n && !leases.exists(p.lease)) throw errLeaseNotFound;
        return applyPut(txn, p);
      });
      await w.durable;
      return w.result;
    },
    async deleteRange(d, auth) {
      const w = store.write((txn) => {
        auth?.deleteRange(d);
        return applyDeleteRange(txn, d);
      });
      await w.durable;
      return w.result;
    },
    async txn(rt, auth) {
      if (isReadOnly(rt)) {
        const view = store.read();
        auth?.txn(rt);
        return executeTxn(view, undefined, rt, leases);
      }
      const w = store.write((txn) => {
        auth?.txn(rt);
        return executeTxn(txn.beforeChanges(), txn, rt, leases);
      });
      await w.durable;
      return w.result;
    },
    async compact(c) {
      const { physical } = await store.compact(Number(c.revision));
      if (c.physical) await physical;
      // etcd reads the header's revision with a range of the key
      // "compaction", which its mvcc metrics count; so is this one, so that
      // etcd_mvcc_range_total agrees.
      return { header: { revision: BigInt(store.read().range(compactionKey, undefined).rev) } };
    },
  };
}
