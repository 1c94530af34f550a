import { crc32 } from "node:zlib";
import type { RangeEnd } from "@conclave/wire";
import { type Backend, type BackendOp, Buckets } from "../backend/backend.js";
import { errCompacted, errFutureRev, errStoreClosed } from "../errors.js";
import type { Change, KeyValue } from "../types.js";
import { createKeyIndex, type IndexedRevision, type KeyEntry, type KeyIndex } from "./key-index.js";
import { bytesToKeyString } from "./key-string.js";
import { decodeRecord, encodeRecord, type StoredRecord } from "./record-codec.js";
import { bytesToRevision, type Revision, revisionToBytes } from "./revision.js";

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
  /** Called when `key` gets `lease` (0: none) after having `oldLease`. */
  onPut(key: string, keyBytes: Uint8Array, lease: bigint, oldLease: bigint): void;
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
  /** Number of keys in the index (etcd_debugging_mvcc_keys_total). */
  keyCount(): number;
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
  /** Subscribes to durable writes, delivered in revision order. Returns unsubscribe. */
  onCommitted(listener: (write: CommittedWrite) => void): () => void;
  /** The backend, for subsystems that keep buckets of their own. */
  readonly backend: Backend;
  /** Waits for in-flight commits, then stops accepting writes. Does not close the backend. */
  close(): Promise<void>;
}

export interface KvStoreOptions {
  backend: Backend;
  leases?: LeaseHooks;
}

const metaRev = new TextEncoder().encode("currentRev");
const metaCompact = new TextEncoder().encode("scheduledCompactRev");
const metaCompactDone = new TextEncoder().encode("finishedCompactRev");
/** Backend deletions per commit while compacting, to bound each transaction. */
const compactBatch = 10_000;

function encodeNumber(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, BigInt(n));
  return b;
}
function decodeNumber(b: Uint8Array | undefined): number | undefined {
  if (b === undefined || b.length !== 8) return undefined;
  return Number(new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0));
}

const empty = new Uint8Array(0);

/**
 * Opens the MVCC store over a backend and rebuilds the in-memory index from
 * it (etcd's `restore`). Layers: backend (values by revision) ⟂ key index
 * (key → revisions) ⟂ this store (revisions, reads, writes, compaction).
 *
 * Durability: a write is applied to the index at once (so the next write sees
 * it, as Raft-ordered applies do) and handed to the backend; its `durable`
 * promise resolves after the backend commit. Reads are served at the latest
 * durable revision, so no client ever observes a write that a crash could
 * still take back. Watch listeners hear about a write only once it is durable.
 */
export function openKvStore(options: KvStoreOptions): KvStore {
  const { backend, leases } = options;
  const index: KeyIndex = createKeyIndex();
  /** Records written but maybe not yet readable from the backend, by "main:sub". */
  const pending = new Map<string, StoredRecord>();
  const listeners = new Set<(w: CommittedWrite) => void>();

  let current = 1;
  let compactMain = -1;
  let lastCommit: Promise<void> = Promise.resolve();
  let failure: unknown;
  let closed = false;

  // --- restore ---------------------------------------------------------------
  /** Lease of each key's latest revision, to re-attach once the scan is done. */
  const restoredLeases = new Map<string, { key: Uint8Array; lease: bigint }>();
  for (const { key, value } of backend.range(Buckets.key)) {
    const rev = bytesToRevision(key);
    const rec = decodeRecord(value);
    const k = bytesToKeyString(rec.kv.key);
    index.restore(
      k,
      rec.kv.key,
      rev,
      Number(rec.kv.createRevision),
      Number(rec.kv.version),
      rec.tombstone,
    );
    if (rec.tombstone || rec.kv.lease === 0n) restoredLeases.delete(k);
    else restoredLeases.set(k, { key: rec.kv.key, lease: rec.kv.lease });
    if (rev.main > current) current = rev.main;
  }
  for (const [k, { key, lease }] of restoredLeases) leases?.onPut(k, key, lease, 0n);
  const storedRev = decodeNumber(backend.get(Buckets.meta, metaRev));
  if (storedRev !== undefined && storedRev > current) current = storedRev;
  const scheduled = decodeNumber(backend.get(Buckets.meta, metaCompact));
  const finished = decodeNumber(backend.get(Buckets.meta, metaCompactDone));
  if (scheduled !== undefined) {
    compactMain = scheduled;
    if (current < compactMain) current = compactMain;
  }
  let durable = current;

  // A compaction that was scheduled but not finished before a stop: redo it.
  let recovering: Promise<void> = Promise.resolve();
  if (scheduled !== undefined && scheduled !== finished) {
    recovering = dropRevisions(index.compact(scheduled), scheduled);
  }

  // --- helpers ---------------------------------------------------------------
  const pendingKey = (main: number, sub: number) => `${main}:${sub}`;

  function load(r: IndexedRevision): StoredRecord {
    const p = pending.get(pendingKey(r.main, r.sub));
    if (p !== undefined) return p;
    const raw = backend.get(Buckets.key, revisionToBytes(r.main, r.sub));
    if (raw === undefined) {
      throw new Error(`mvcc: revision ${r.main}.${r.sub} is indexed but not stored`);
    }
    return decodeRecord(raw);
  }

  function copyKv(kv: KeyValue): KeyValue {
    return { ...kv };
  }

  /** The revision a read asks for (≤ 0: the view's), checked as etcd's mvcc checks it. */
  function readRev(requested: number, curRev: number): number {
    if (requested > curRev) throw errFutureRev;
    const rev = requested <= 0 ? curRev : requested;
    if (rev < compactMain) throw errCompacted;
    return rev;
  }

  function rangeKeys(
    key: Uint8Array,
    end: RangeEnd,
    curRev: number,
    ro: RangeOptions | undefined,
  ): RangeResult {
    const rev = readRev(ro?.rev ?? 0, curRev);
    const limit = ro?.limit ?? 0;
    const countOnly = ro?.countOnly ?? false;
    const start = bytesToKeyString(key);
    const kvs: KeyValue[] = [];
    let count = 0;
    if (end === undefined) {
      const r = index.get(start, rev);
      if (r !== undefined) {
        count = 1;
        if (!countOnly) kvs.push(copyKv(load(r).kv));
      }
      return { kvs, count, rev: curRev };
    }
    const endKey = end === "infinity" ? null : bytesToKeyString(end);
    index.range(start, endKey, rev, (_k, _e, r) => {
      count++;
      if (!countOnly && (limit <= 0 || kvs.length < limit)) kvs.push(copyKv(load(r).kv));
      return true;
    });
    return { kvs, count, rev: curRev };
  }

  function rangeMeta(
    key: Uint8Array,
    end: RangeEnd,
    curRev: number,
    ro: { rev?: number } | undefined,
  ): RangeMetaResult {
    const rev = readRev(ro?.rev ?? 0, curRev);
    const metas: KeyMeta[] = [];
    const visit = (e: KeyEntry, r: IndexedRevision) => {
      if (e.revs[e.revs.length - 1] === r) {
        // The latest revision: the index's creation revision and version are its own.
        metas.push({
          key: e.key,
          modRevision: BigInt(r.main),
          createRevision: BigInt(e.created),
          version: BigInt(e.version),
          load: () => copyKv(load(r).kv),
        });
      } else {
        const kv = copyKv(load(r).kv);
        metas.push({ ...kv, load: () => kv });
      }
    };
    const start = bytesToKeyString(key);
    if (end === undefined) {
      const e = index.entry(start);
      const r = e === undefined ? undefined : index.get(start, rev);
      if (e !== undefined && r !== undefined) visit(e, r);
    } else {
      const endKey = end === "infinity" ? null : bytesToKeyString(end);
      index.range(start, endKey, rev, (_k, e, r) => {
        visit(e, r);
        return true;
      });
    }
    return { metas, rev: curRev };
  }

  function readView(atRev: number): ReadView {
    return {
      rev: () => atRev,
      firstRev: () => compactMain,
      range: (key, end, ro) => rangeKeys(key, end, atRev, ro),
      rangeMeta: (key, end, ro) => rangeMeta(key, end, atRev, ro),
    };
  }

  function check() {
    if (failure !== undefined) throw failure;
    if (closed) throw errStoreClosed;
  }

  /** Commits ops; tracks durability and notifies listeners in order. */
  function commit(ops: BackendOp[], write: CommittedWrite | undefined): Promise<void> {
    const prev = lastCommit;
    const done = backend.commit(ops);
    const next = Promise.all([prev, done]).then(
      () => {
        if (write !== undefined) {
          durable = Math.max(durable, write.rev);
          // A change's sub-revision is its position in the write.
          for (let sub = 0; sub < write.changes.length; sub++) {
            pending.delete(pendingKey(write.rev, sub));
          }
          for (const l of listeners) {
            try {
              l(write);
            } catch {
              // A listener's failure must not break durability tracking.
            }
          }
        }
      },
      (err: unknown) => {
        failure ??= err;
        throw err;
      },
    );
    lastCommit = next;
    return next;
  }

  async function dropRevisions(revs: Revision[], atRev: number): Promise<void> {
    for (let i = 0; i < revs.length; i += compactBatch) {
      const ops: BackendOp[] = revs.slice(i, i + compactBatch).map((r) => ({
        bucket: Buckets.key,
        key: revisionToBytes(r.main, r.sub),
        value: undefined,
      }));
      if (i + compactBatch >= revs.length) {
        ops.push({ bucket: Buckets.meta, key: metaCompactDone, value: encodeNumber(atRev) });
      }
      await commit(ops, undefined);
    }
    if (revs.length === 0) {
      await commit(
        [{ bucket: Buckets.meta, key: metaCompactDone, value: encodeNumber(atRev) }],
        undefined,
      );
    }
  }

  // --- the store -------------------------------------------------------------
  const store: KvStore = {
    backend,
    currentRev: () => current,
    durableRev: () => durable,
    compactRev: () => compactMain,
    keyCount: () => index.size,
    read() {
      check();
      return readView(durable);
    },
    write<T>(fn: (txn: WriteTxn) => T): WriteResult<T> {
      check();
      const beginRev = current;
      const changes: Change[] = [];
      const ops: BackendOp[] = [];
      const txnRev = () => (changes.length > 0 ? beginRev + 1 : beginRev);
      /** Stages one change: readable at once (pending), written with the commit, seen by watchers. */
      const record = (main: number, sub: number, rec: StoredRecord) => {
        pending.set(pendingKey(main, sub), rec);
        ops.push({
          bucket: Buckets.key,
          key: revisionToBytes(main, sub),
          value: encodeRecord(rec),
        });
        changes.push({ type: rec.tombstone ? "delete" : "put", kv: rec.kv });
      };
      const txn: WriteTxn = {
        rev: txnRev,
        firstRev: () => compactMain,
        range: (key, end, ro) => rangeKeys(key, end, txnRev(), ro),
        rangeMeta: (key, end, ro) => rangeMeta(key, end, txnRev(), ro),
        changes: () => changes,
        stage(op) {
          ops.push(op);
        },
        put(key, value, lease) {
          const main = beginRev + 1;
          const sub = changes.length;
          const k = bytesToKeyString(key);
          const before = index.entry(k);
          let oldLease = 0n;
          if (before !== undefined && before.version > 0) {
            const last = before.revs[before.revs.length - 1] as IndexedRevision;
            oldLease = load(last).kv.lease;
          }
          const { created, version } = index.put(k, key, { main, sub });
          const kv: KeyValue = {
            key,
            value,
            createRevision: BigInt(created),
            modRevision: BigInt(main),
            version: BigInt(version),
            lease,
          };
          record(main, sub, { tombstone: false, kv });
          leases?.onPut(k, key, lease, oldLease);
          return main;
        },
        deleteRange(key, end) {
          const rrev = txnRev();
          const targets: Array<{ k: string; key: Uint8Array; rev: IndexedRevision }> = [];
          const start = bytesToKeyString(key);
          if (end === undefined) {
            const r = index.get(start, rrev);
            if (r !== undefined) targets.push({ k: start, key, rev: r });
          } else {
            const endKey = end === "infinity" ? null : bytesToKeyString(end);
            index.range(start, endKey, rrev, (k, e, r) => {
              targets.push({ k, key: e.key, rev: r });
              return true;
            });
          }
          if (targets.length === 0) return { deleted: 0, rev: txnRev() };
          const main = beginRev + 1;
          for (const t of targets) {
            const sub = changes.length;
            const oldLease = load(t.rev).kv.lease;
            index.tombstone(t.k, t.key, { main, sub });
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
        if (changes.length > 0) failure ??= err;
        throw err;
      }
      if (changes.length === 0) {
        const durable = ops.length > 0 ? commit(ops, undefined) : lastCommit;
        return { result, rev: beginRev, changes, durable };
      }
      current = beginRev + 1;
      ops.push({ bucket: Buckets.meta, key: metaRev, value: encodeNumber(current) });
      const durablePromise = commit(ops, { rev: current, changes });
      return { result, rev: current, changes, durable: durablePromise };
    },
    async compact(rev) {
      check();
      // Reads are served at the durable revision; let it catch up so that a
      // compaction never hides what a reader may still ask for.
      await store.barrier();
      await recovering;
      check();
      if (rev <= compactMain) throw errCompacted;
      if (rev > current) throw errFutureRev;
      compactMain = rev;
      const dropped = index.compact(rev);
      await commit(
        [{ bucket: Buckets.meta, key: metaCompact, value: encodeNumber(rev) }],
        undefined,
      );
      const physical = dropRevisions(dropped, rev);
      recovering = physical.catch(() => undefined);
      return { physical };
    },
    barrier() {
      return lastCommit;
    },
    hashByRev(rev) {
      const at = rev <= 0 ? durable : rev;
      if (at > durable) throw errFutureRev;
      if (at < compactMain) throw errCompacted;
      let hash = crc32(Buckets.key);
      for (const { key, value } of backend.range(
        Buckets.key,
        undefined,
        revisionToBytes(at + 1, 0),
      )) {
        hash = crc32(key, hash);
        hash = crc32(value, hash);
      }
      return { hash, rev: at, compactRev: compactMain };
    },
    history(from, to, maxBytes = Number.POSITIVE_INFINITY) {
      const changes: Change[] = [];
      let bytes = 0;
      let lastMain = from - 1;
      for (const { key, value } of backend.range(
        Buckets.key,
        revisionToBytes(from, 0),
        revisionToBytes(to + 1, 0),
      )) {
        const main = bytesToRevision(key).main;
        // Cut only between revisions: a revision's events travel together.
        if (bytes >= maxBytes && main !== lastMain) return { to: lastMain, changes };
        lastMain = main;
        bytes += value.length;
        const rec = decodeRecord(value);
        changes.push(
          rec.tombstone
            ? {
                type: "delete",
                kv: {
                  ...rec.kv,
                  modRevision: BigInt(main),
                  createRevision: 0n,
                  version: 0n,
                  lease: 0n,
                },
              }
            : { type: "put", kv: rec.kv },
        );
      }
      return { to, changes };
    },
    onCommitted(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      closed = true;
      await lastCommit.catch(() => undefined);
      await recovering.catch(() => undefined);
    },
  };
  return store;
}
