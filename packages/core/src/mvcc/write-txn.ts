import { type BackendOp, Buckets } from "../backend/backend.js";
import { encodeInt64 } from "../backend/int64-bytes.js";
import type { Change, KeyValue } from "../types.js";
import type { CommitPipeline } from "./commit-pipeline.js";
import type { VisibleRevision } from "./key-index.js";
import { bytesToKeyString, keyStringToBytes } from "./key-string.js";
import type {
  RangeEnd,
  RangeMetaResult,
  RangeOptions,
  RangeResult,
  ReadView,
  WriteResult,
  WriteTxn,
} from "./kv-store.js";
import { countTxnCall } from "./mvcc-stats.js";
import type { ReadViews } from "./read-views.js";
import { encodeRecord, type StoredRecord } from "./record-codec.js";
import { revisionToBytes } from "./revision.js";
import { metaKeys } from "./store-meta.js";
import type { StoreState } from "./store-state.js";

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
  const beginRev = state.current;
  const txn = new StoreWriteTxn(state, reads, beginRev);
  const { written: changes, ops } = txn;
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
    value: encodeInt64(state.current),
  });
  const durable = pipeline.commit(ops, { rev: state.current, changes });
  return { result, rev: state.current, changes, durable };
}

/**
 * The txn `fn` is given. A class rather than an object of closures: every
 * write (a Put is one) makes one, and the closures were ~1 KB of garbage per
 * write.
 */
class StoreWriteTxn implements WriteTxn {
  /** Range, put and delete calls so far (etcd_mvcc_txn_total counts txns of more than one). */
  private calls = 0;
  /** The changes so far, in sub-revision order. */
  readonly written: Change[] = [];
  /** What the commit writes: each change's record, then whatever was staged. */
  readonly ops: BackendOp[] = [];

  constructor(
    private readonly state: StoreState,
    private readonly reads: ReadViews,
    private readonly beginRev: number,
  ) {}

  rev(): number {
    return this.written.length > 0 ? this.beginRev + 1 : this.beginRev;
  }

  firstRev(): number {
    return this.state.compactMain;
  }

  range(key: Uint8Array, end: RangeEnd, ro?: RangeOptions): RangeResult {
    this.state.stats.ranges++;
    this.calls = countTxnCall(this.state.stats, this.calls);
    return this.reads.range(key, end, this.rev(), ro);
  }

  rangeMeta(key: Uint8Array, end: RangeEnd, ro?: { rev?: number }): RangeMetaResult {
    this.state.stats.ranges++;
    this.calls = countTxnCall(this.state.stats, this.calls);
    return this.reads.rangeMeta(key, end, this.rev(), ro);
  }

  beforeChanges(): ReadView {
    if (this.written.length > 0) throw new Error("beforeChanges after a change");
    return this.reads.view(this.beginRev);
  }

  changes(): readonly Change[] {
    return this.written;
  }

  stage(op: BackendOp): void {
    this.ops.push(op);
  }

  put(key: Uint8Array, value: Uint8Array, lease: bigint): number {
    const { index, leases, stats } = this.state;
    stats.puts++;
    this.calls = countTxnCall(stats, this.calls);
    const main = this.beginRev + 1;
    const sub = this.written.length;
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
    this.record(main, sub, { tombstone: false, kv });
    leases?.onPut(k, lease, oldLease);
    return main;
  }

  deleteRange(key: Uint8Array, end: RangeEnd): { deleted: number; rev: number } {
    const { index, leases, stats } = this.state;
    // Every call counts, whether or not it deletes anything (etcd's too).
    stats.deletes++;
    this.calls = countTxnCall(stats, this.calls);
    const rrev = this.rev();
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
    if (targets.length === 0) return { deleted: 0, rev: this.rev() };
    const main = this.beginRev + 1;
    for (const t of targets) {
      const sub = this.written.length;
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
      this.record(main, sub, { tombstone: true, kv });
      leases?.onDelete(t.k, oldLease);
    }
    return { deleted: targets.length, rev: main };
  }

  /** Stages one change: readable at once (pending), written with the commit, seen by watchers. */
  private record(main: number, sub: number, rec: StoredRecord): void {
    this.state.pending.set(main, sub, rec);
    this.ops.push({
      bucket: Buckets.key,
      key: revisionToBytes(main, sub),
      value: encodeRecord(rec),
    });
    this.written.push({ type: rec.tombstone ? "delete" : "put", kv: rec.kv });
  }
}
