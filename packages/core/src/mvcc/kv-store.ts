import type { RangeEnd } from "@conclave/wire";
import type { Backend, BackendOp } from "../backend/backend.js";
import type { Change, KeyValue } from "../types.js";
import { createCommitPipeline } from "./commit-pipeline.js";
import { createCompactor } from "./compactor.js";
import { hashByRev } from "./hash-by-rev.js";
import { createIndexCheckpointer, type IndexCheckpointOptions } from "./index-checkpointer.js";
import { createKeyIndex, type KeyIndex } from "./key-index.js";
import { createMvccStats, type MvccStats } from "./mvcc-stats.js";
import { readHistory } from "./read-history.js";
import { createReadViews } from "./read-views.js";
import { restoreIndex } from "./restore-index.js";
import type { Revision } from "./revision.js";
import { type RevisionRecordBatch, readRevisionRecords } from "./revision-records.js";
import { checkOpen, PendingRecords, type StoreState } from "./store-state.js";
import { runWriteTxn } from "./write-txn.js";

/** How a range is bounded (etcd's `mkGteRange`); defined with the range-end rule in @conclave/wire. */
export type { RangeEnd } from "@conclave/wire";

export interface RangeOptions {
  /** Stop after this many keys (0 = no limit). `count` still counts all. */
  limit?: number;
  /** Read at this revision; ≤ 0 means the view's revision. */
  rev?: number;
  /** Only count, return no key-values. */
  countOnly?: boolean;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** Keys in range at the read revision, regardless of limit. */
  count: number;
  /** The view's current revision (header revision). */
  rev: number;
}

/** A consistent read view of the store (etcd's TxnRead). */
export interface ReadView {
  /** Revision the view reads at by default. */
  rev(): number;
  /** The compaction revision; reads below it fail (-1 before any compaction). */
  firstRev(): number;
  /** Reads keys; throws errFutureRev / errCompacted as etcd's mvcc does. */
  range(key: Uint8Array, end: RangeEnd, options?: RangeOptions): RangeResult;
  /**
   * The keys `range` would return, without limit, as index metadata whose
   * value loads on demand: for a key whose visible revision is its latest,
   * revisions and version come from the in-memory index, so filtering and
   * sorting by them (etcd's lock and election recipes do on every call)
   * reads only the records that are returned.
   */
  rangeMeta(key: Uint8Array, end: RangeEnd, options?: { rev?: number }): RangeMetaResult;
}

/** One key of a {@link ReadView.rangeMeta} result. */
export interface KeyMeta {
  key: Uint8Array;
  modRevision: bigint;
  createRevision: bigint;
  version: bigint;
  /** The full key-value (a copy of its own). */
  load(): KeyValue;
}

export interface RangeMetaResult {
  metas: KeyMeta[];
  /** The view's revision, as in {@link RangeResult}. */
  rev: number;
}

/** A write transaction (etcd's TxnWrite): one main revision for all its changes. */
export interface WriteTxn extends ReadView {
  /** Writes a key; returns the revision it gets. */
  put(key: Uint8Array, value: Uint8Array, lease: bigint): number;
  /** Deletes live keys in range; returns how many and the resulting revision. */
  deleteRange(key: Uint8Array, end: RangeEnd): { deleted: number; rev: number };
  /**
   * A read view of the state this txn started from, for checks before the
   * first change (a txn's compares). It reads what the txn reads then, and
   * counts in the store's stats as a read txn of its own: etcd's applier
   * runs those checks in a read txn and then opens the write txn, and
   * `etcd_mvcc_txn_total` counts the two apart. Throws after a change.
   */
  beforeChanges(): ReadView;
  /** Changes so far, in sub-revision order. */
  changes(): readonly Change[];
  /**
   * Adds a backend operation of another subsystem (e.g. a lease record) to this
   * write's commit, so it becomes durable atomically with the key changes. A
   * write with only staged operations commits them without a new revision.
   */
  stage(op: BackendOp): void;
}

/**
 * Hooks the lessor gives the store so that attaching and detaching keys is part
 * of the same write (etcd does this in mvcc's put/delete).
 */
export interface LeaseHooks {
  /**
   * The lease `key` is attached to, 0 for none: what its latest record
   * says, for a lease the lessor knows. Asked on every put and delete, so
   * the store need not read the old record from the backend for it.
   */
  leaseOf(key: string): bigint;
  /** Called when `key` gets `lease` (0: none) after having `oldLease`. */
  onPut(key: string, lease: bigint, oldLease: bigint): void;
  /** Called when `key` is deleted while attached to `lease` (may be 0). */
  onDelete(key: string, lease: bigint): void;
}

/** A committed write as watchers see it: all changes of one revision, in order. */
export interface CommittedWrite {
  rev: number;
  changes: readonly Change[];
}

/** What {@link KvStore.history} read: every change of main revisions `from`..`to`. */
export interface HistorySpan {
  /** The last main revision covered. */
  to: number;
  changes: Change[];
}

export interface WriteResult<T> {
  result: T;
  /** The revision after the write (unchanged when nothing changed). */
  rev: number;
  changes: readonly Change[];
  /** Resolves once this write and every earlier one is durable. */
  durable: Promise<void>;
}

export interface KvStore {
  /** Latest applied revision (includes writes whose commit is in flight). */
  currentRev(): number;
  /** Latest revision known to be durable; reads see this. */
  durableRev(): number;
  /** Compaction revision, -1 before the first compaction. */
  compactRev(): number;
  /**
   * Number of live keys, not those whose latest revision is a tombstone
   * (etcd_debugging_mvcc_keys_total).
   */
  keyCount(): number;
  /**
   * Ranges, puts, deletes and txns served so far, as etcd's mvcc counts them
   * (see {@link MvccStats}): the live counters, read when scraped.
   */
  stats(): Readonly<MvccStats>;
  /** A read view at the latest durable revision. */
  read(): ReadView;
  /**
   * Runs `fn` as one write transaction, synchronously and alone (writes are
   * serialized, as Raft serializes them in etcd). Throwing before the first
   * change aborts it with no effect.
   */
  write<T>(fn: (txn: WriteTxn) => T): WriteResult<T>;
  /**
   * Compacts history up to `rev`: errCompacted if rev ≤ the compaction
   * revision, errFutureRev above the current one. Resolves `scheduled` once
   * reads below `rev` fail, and `physical` once the backend dropped the data.
   */
  compact(rev: number): Promise<{ physical: Promise<void> }>;
  /** Resolves once everything applied so far is durable. */
  barrier(): Promise<void>;
  /**
   * etcd's HashByRev: a CRC-32 over every stored revision up to `rev` (0: the
   * durable revision), for comparing members' histories. Throws errFutureRev /
   * errCompacted like a range at that revision.
   */
  hashByRev(rev: number): { hash: number; rev: number; compactRev: number };
  /**
   * The changes of main revisions `from`..`to` (both durable and not
   * compacted; the caller checks), in revision order, as watchers see them:
   * a delete carries only its key and mod revision. Reads stop at the end of
   * the first revision that brings the decoded bytes to `maxBytes`, so one
   * call holds at most that much plus one revision in memory; `to` in the
   * answer says how far it got (the whole span when nothing was cut).
   */
  history(from: number, to: number, maxBytes?: number): HistorySpan;
  /**
   * Every stored revision from `from` (undefined: the first) through
   * `upTo`, which must be durable, in batches of about `maxBytes` (default
   * 1 MiB): what a snapshot copies, records and tombstones alike, below the
   * compaction revision too where compaction kept them. Batches read at
   * different times agree, except that a compaction in between drops
   * records of revisions it compacted.
   */
  revisions(from: Revision | undefined, upTo: number, maxBytes?: number): RevisionRecordBatch;
  /** Subscribes to durable writes, delivered in revision order. Returns unsubscribe. */
  onCommitted(listener: (write: CommittedWrite) => void): () => void;
  /** The backend, for subsystems that keep buckets of their own. */
  readonly backend: Backend;
  /**
   * How opening rebuilt the index: from the index checkpoint plus the
   * `recordsRead` records after it, or (no fitting checkpoint) by reading
   * all `recordsRead` records. For the start's log line.
   */
  readonly opened: { fromCheckpoint: boolean; recordsRead: number };
  /** Waits for in-flight commits, then stops accepting writes. Does not close the backend. */
  close(): Promise<void>;
}

export interface KvStoreOptions {
  backend: Backend;
  leases?: LeaseHooks;
  /** When the index checkpoint that makes the next start fast is written (index-checkpointer.ts). */
  indexCheckpoint?: IndexCheckpointOptions;
}

/**
 * Opens the MVCC store over a backend and rebuilds the in-memory index from
 * it (etcd's `restore`, {@link restoreIndex}). Layers: backend (values by
 * revision) ⟂ key index (key → revisions) ⟂ this store (revisions, reads,
 * writes, compaction), which composes its parts: {@link createReadViews},
 * {@link runWriteTxn}, {@link createCommitPipeline}, {@link createCompactor},
 * {@link readHistory} and {@link hashByRev} over one {@link StoreState}.
 *
 * Durability: a write is applied to the index at once (so the next write sees
 * it, as Raft-ordered applies do) and handed to the backend; its `durable`
 * promise resolves after the backend commit. Reads are served at the latest
 * durable revision, so no client ever observes a write that a crash could
 * still take back. Watch listeners hear about a write only once it is durable.
 *
 * The only work that opening starts is redoing a compaction that a stop
 * interrupted (as etcd's restore does), and writing an index checkpoint
 * when it had to read many records; `close` waits for both, and writes a
 * checkpoint of its own when anything changed (index-checkpointer.ts).
 */
export function openKvStore(options: KvStoreOptions): KvStore {
  const { backend, leases } = options;
  const index: KeyIndex = createKeyIndex();
  const restored = restoreIndex(backend, index, leases);
  const state: StoreState = {
    backend,
    index,
    leases,
    pending: new PendingRecords(),
    stats: createMvccStats(),
    current: restored.current,
    durable: restored.current,
    compactMain: restored.compactMain,
    failure: undefined,
    closed: false,
  };
  const reads = createReadViews(state);
  const pipeline = createCommitPipeline(state);
  const checkpointer = createIndexCheckpointer(state, pipeline, restored, options.indexCheckpoint);
  const compactor = createCompactor(state, pipeline, () => checkpointer.request());
  if (restored.unfinishedCompaction !== undefined) {
    compactor.resume(restored.unfinishedCompaction);
  }

  return {
    backend,
    opened: { fromCheckpoint: restored.fromCheckpoint, recordsRead: restored.recordsRead },
    currentRev: () => state.current,
    durableRev: () => state.durable,
    compactRev: () => state.compactMain,
    keyCount: () => index.live,
    stats: () => state.stats,
    read() {
      checkOpen(state);
      return reads.view(state.durable);
    },
    write(fn) {
      checkOpen(state);
      const written = runWriteTxn(state, reads, pipeline, fn);
      if (written.changes.length > 0) checkpointer.wrote(written.changes.length);
      return written;
    },
    compact: (rev) => compactor.compact(rev),
    barrier: () => pipeline.barrier(),
    hashByRev: (rev) => hashByRev(state, rev),
    history: (from, to, maxBytes) => readHistory(backend, from, to, maxBytes),
    revisions(from, upTo, maxBytes) {
      checkOpen(state);
      return readRevisionRecords(backend, from, Math.min(upTo, state.durable), maxBytes);
    },
    onCommitted: (listener) => pipeline.onCommitted(listener),
    async close() {
      state.closed = true;
      await pipeline.barrier().catch(() => undefined);
      await compactor.close();
      await checkpointer.close();
    },
  };
}
