import { type BackendOp, Buckets } from "../backend/backend.js";
import type { Change, KeyValue } from "../types.js";
import type { CommitPipeline } from "./commit-pipeline.js";
import type { VisibleRevision } from "./key-index.js";
import { bytesToKeyString, keyStringToBytes } from "./key-string.js";
import type { WriteResult, WriteTxn } from "./kv-store.js";
import { countTxnCall } from "./mvcc-stats.js";
import type { ReadViews } from "./read-views.js";
import { encodeRecord, type StoredRecord } from "./record-codec.js";
import { revisionToBytes } from "./revision.js";
import { encodeMetaNumber, metaKeys } from "./store-meta.js";
import { pendingKey, type StoreState } from "./store-state.js";

const empty = new Uint8Array(0);

/**
 * Runs `fn` as one write transaction (etcd's kvstore_txn.go `storeTxnWrite`):
 * every change gets the next main revision and a sub-revision in order, is
 * applied to the index at once and kept pending (readable) until its commit
 * is durable. The caller checks the store is open; writes run alone.
 */
export function runWriteTxn<T>(
  state: StoreState,
  reads: ReadViews,
  pipeline: CommitPipeline,
  fn: (txn: WriteTxn) => T,
): WriteResult<T> {
  const { index, leases, stats } = state;
  const beginRev = state.current;
  /** Range, put and delete calls so far (etcd_mvcc_txn_total counts txns of more than one). */
  let calls = 0;
  const changes: Change[] = [];
  const ops: BackendOp[] = [];
  const txnRev = () => (changes.length > 0 ? beginRev + 1 : beginRev);
  /** Stages one change: readable at once (pending), written with the commit, seen by watchers. */
  const record = (main: number, sub: number, rec: StoredRecord) => {
    state.pending.set(pendingKey(main, sub), rec);
    ops.push({
      bucket: Buckets.key,
      key: revisionToBytes(main, sub),
      value: encodeRecord(rec),
    });
    changes.push({ type: rec.tombstone ? "delete" : "put", kv: rec.kv });
  };
  const txn: WriteTxn = {
    rev: txnRev,
    firstRev: () => state.compactMain,
    range(key, end, ro) {
      stats.ranges++;
      calls = countTxnCall(stats, calls);
      return reads.range(key, end, txnRev(), ro);
    },
    rangeMeta(key, end, ro) {
      stats.ranges++;
      calls = countTxnCall(stats, calls);
      return reads.rangeMeta(key, end, txnRev(), ro);
    },
    beforeChanges() {
      if (changes.length > 0) throw new Error("beforeChanges after a change");
      return reads.view(beginRev);
    },
    changes: () => changes,
    stage(op) {
      ops.push(op);
    },
    put(key, value, lease) {
      stats.puts++;
      calls = countTxnCall(stats, calls);
      const main = beginRev + 1;
      const sub = changes.length;
      const k = bytesToKeyString(key);
      const before = index.latest(k);
      const oldLease = before === undefined || leases === undefined ? 0n : leases.leaseOf(k);
      const { created, version } = index.put(k, { main, sub });
      const kv: KeyValue = {
        key,
        value,
        createRevision: BigInt(created),
        modRevision: BigInt(main),
        version: BigInt(version),
        lease,
      };
      record(main, sub, { tombstone: false, kv });
      leases?.onPut(k, lease, oldLease);
      return main;
    },
    deleteRange(key, end) {
      // Every call counts, whether or not it deletes anything (etcd's too).
      stats.deletes++;
      calls = countTxnCall(stats, calls);
      const rrev = txnRev();
      const targets: Array<{ k: string; key: Uint8Array; rev: VisibleRevision }> = [];
      const start = bytesToKeyString(key);
      if (end === undefined) {
        const r = index.get(start, rrev);
        if (r !== undefined) targets.push({ k: start, key, rev: r });
      } else {
        const endKey = end === "infinity" ? null : bytesToKeyString(end);
        index.range(start, endKey, rrev, (k, r) => {
          targets.push({ k, key: keyStringToBytes(k), rev: r });
          return true;
        });
      }
      if (targets.length === 0) return { deleted: 0, rev: txnRev() };
      const main = beginRev + 1;
      for (const t of targets) {
        const sub = changes.length;
        const oldLease = leases === undefined ? 0n : leases.leaseOf(t.k);
        index.tombstone(t.k, { main, sub });
        const kv: KeyValue = {
          key: t.key,
          value: empty,
          createRevision: 0n,
          modRevision: BigInt(main),
          version: 0n,
          lease: 0n,
        };
        record(main, sub, { tombstone: true, kv });
        leases?.onDelete(t.k, oldLease);
      }
      return { deleted: targets.length, rev: main };
    },
  };
  let result: T;
  try {
    result = fn(txn);
  } catch (err) {
    // Validation throws before the first change. A throw after changes
    // would leave the index ahead of the backend: stop taking writes.
    if (changes.length > 0) state.failure ??= err;
    throw err;
  }
  if (changes.length === 0) {
    const durable = ops.length > 0 ? pipeline.commit(ops, undefined) : pipeline.barrier();
    return { result, rev: beginRev, changes, durable };
  }
  state.current = beginRev + 1;
  ops.push({
    bucket: Buckets.meta,
    key: metaKeys.currentRev,
    value: encodeMetaNumber(state.current),
  });
  const durable = pipeline.commit(ops, { rev: state.current, changes });
  return { result, rev: state.current, changes, durable };
}
