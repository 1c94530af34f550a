import { Buffer } from "node:buffer";
import { type Backend, Buckets } from "../backend/backend.js";
import { decodeInt64 } from "../backend/int64-bytes.js";
import { type IndexCheckpoint, readIndexCheckpoint } from "./index-checkpoint.js";
import { type KeyIndex, type KeyRevisions, pushRevision } from "./key-index.js";
import type { LeaseHooks } from "./kv-store.js";
import { revisionToBytes } from "./revision.js";
import { metaKeys } from "./store-meta.js";

/** What {@link restoreIndex} found in the backend. */
export interface RestoredRevisions {
  /** The current main revision (1 for an empty store). */
  current: number;
  /** The compaction revision (-1 when never compacted). */
  compactMain: number;
  /** A compaction scheduled but not finished before the last stop, to redo. */
  unfinishedCompaction: number | undefined;
  /** Chunk entries the stored index checkpoint occupies (0: none), for the next one to replace. */
  checkpointChunks: number;
  /** Whether a checkpoint was loaded (and only the records after it read). */
  fromCheckpoint: boolean;
  /** Records read from the `key` bucket: those after the checkpoint, or all of them. */
  recordsRead: number;
}

const two32 = 2 ** 32;
/** Offsets in an encoded record (record-codec.ts): flags u8, key length u32, key, then i64s. */
const keyOffset = 5;
const latin1Slice = Buffer.prototype.latin1Slice as (
  this: Uint8Array,
  s: number,
  e: number,
) => string;

/** Big-endian unsigned 32-bit integer at `o`, without a DataView per record. */
function u32(b: Uint8Array, o: number): number {
  return (
    (b[o] as number) * 0x1000000 +
    (((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number))
  );
}

/** A non-negative big-endian 64-bit integer at `o` (revisions and versions stay below 2^53). */
function u64(b: Uint8Array, o: number): number {
  return u32(b, o) * two32 + u32(b, o + 4);
}

/** What a pass over the records left to do once it succeeded: attach leases. */
interface Restored {
  /** The highest main revision seen. */
  current: number;
  recordsRead: number;
  /** Keys to attach to a lease, and the lease. */
  attach: Array<[string, bigint]>;
}

/** One record of the `key` bucket, as much of it as the index needs. */
interface RecordFields {
  main: number;
  sub: number;
  tombstone: boolean;
  k: string;
  /** 0 for a tombstone. */
  created: number;
  version: number;
  /** Whether the record carries a lease (never for a tombstone). */
  leased: boolean;
}

/**
 * Reads `f` from the record `rec` at revision `revBytes` straight from the
 * bytes (no record decode, no value copy, no bigint); `f` is reused.
 */
function readFields(revBytes: Uint8Array, rec: Uint8Array, f: RecordFields): void {
  f.main = u64(revBytes, 0);
  f.sub = u64(revBytes, 8);
  f.tombstone = ((rec[0] as number) & 1) === 1;
  const keyLength = u32(rec, 1);
  f.k = latin1Slice.call(rec, keyOffset, keyOffset + keyLength);
  const o = keyOffset + keyLength;
  f.created = f.tombstone ? 0 : u64(rec, o);
  f.version = f.tombstone ? 0 : u64(rec, o + 16);
  f.leased = !f.tombstone && (u32(rec, o + 24) !== 0 || u32(rec, o + 28) !== 0);
}

/** The lease of a record {@link readFields} found leased. */
function leaseOfRecord(rec: Uint8Array): bigint {
  const o = keyOffset + u32(rec, 1) + 24;
  return new DataView(rec.buffer, rec.byteOffset, rec.byteLength).getBigInt64(o);
}

const newFields = (): RecordFields => ({
  main: 0,
  sub: 0,
  tombstone: false,
  k: "",
  created: 0,
  version: 0,
  leased: false,
});

/**
 * etcd's `restore`: rebuilds the in-memory index from the `key` bucket (every
 * record says which key, revision and generation it belongs to), re-attaches
 * each live key to its lease, and reads the revisions from the `meta` bucket.
 * Reads only; redoing an unfinished compaction is the compactor's job.
 *
 * The start of a large store is this, so it does the least it can. When the
 * store holds an index checkpoint that fits it (index-checkpoint.ts: same
 * compaction, no unfinished one, not ahead of the store), the index is that
 * checkpoint, loaded in bulk, plus the records written after it, replayed
 * through the index's own put and delete; each replayed put must yield the
 * creation revision and version its record holds, or the checkpoint is
 * dropped and the full scan below runs instead. Without one, every record
 * is read (see {@link scanAll}).
 */
export function restoreIndex(
  backend: Backend,
  index: KeyIndex,
  leases: LeaseHooks | undefined,
): RestoredRevisions {
  const storedRev = decodeInt64(backend.get(Buckets.meta, metaKeys.currentRev));
  const scheduled = decodeInt64(backend.get(Buckets.meta, metaKeys.scheduledCompactRev));
  const finished = decodeInt64(backend.get(Buckets.meta, metaKeys.finishedCompactRev));
  const checkpoint = readIndexCheckpoint(backend);
  let restored: Restored | undefined;
  if (
    checkpoint !== undefined &&
    scheduled === finished &&
    checkpoint.compactRev === (scheduled ?? -1) &&
    checkpoint.rev >= 1 &&
    checkpoint.rev <= (storedRev ?? 1)
  ) {
    restored = fromCheckpoint(backend, index, checkpoint);
  }
  const fromCheckpointUsed = restored !== undefined;
  restored ??= scanAll(backend, index);
  if (leases !== undefined) for (const [k, lease] of restored.attach) leases.onPut(k, lease, 0n);
  let current = restored.current;
  let compactMain = -1;
  if (storedRev !== undefined && storedRev > current) current = storedRev;
  if (scheduled !== undefined) {
    compactMain = scheduled;
    if (current < compactMain) current = compactMain;
  }
  return {
    current,
    compactMain,
    unfinishedCompaction: scheduled !== undefined && scheduled !== finished ? scheduled : undefined,
    checkpointChunks: checkpoint?.chunks ?? 0,
    fromCheckpoint: fromCheckpointUsed,
    recordsRead: restored.recordsRead,
  };
}

/**
 * Loads `checkpoint` into `index` and replays the records after it.
 * Undefined when a record contradicts it (the index is then to be rebuilt).
 */
function fromCheckpoint(
  backend: Backend,
  index: KeyIndex,
  checkpoint: IndexCheckpoint,
): Restored | undefined {
  index.load(checkpoint.keys, checkpoint.revisions, checkpoint.singles);
  let current = checkpoint.rev;
  let recordsRead = 0;
  /** Keys the replay wrote, with the lease of their latest record (0: none). */
  const replayed = new Map<string, bigint>();
  const f = newFields();
  const from = revisionToBytes(checkpoint.rev + 1, 0);
  for (const { key: revBytes, value: rec } of backend.range(Buckets.key, from)) {
    readFields(revBytes, rec, f);
    recordsRead++;
    if (f.tombstone) {
      // The write path deletes only live keys.
      if (index.latest(f.k) === undefined) return undefined;
      index.tombstone(f.k, f);
      replayed.set(f.k, 0n);
    } else {
      const { created, version } = index.put(f.k, f);
      if (created !== f.created || version !== f.version) return undefined;
      replayed.set(f.k, f.leased ? leaseOfRecord(rec) : 0n);
    }
    current = f.main;
  }
  const attach: Array<[string, bigint]> = [];
  for (const [k, lease] of checkpoint.leased) if (!replayed.has(k)) attach.push([k, lease]);
  for (const [k, lease] of replayed) if (lease !== 0n) attach.push([k, lease]);
  return { current, recordsRead, attach };
}

/**
 * Rebuilds `index` from every record. It does the least per record: reads
 * the key, the creation revision, the version, the tombstone flag and
 * whether a lease is set straight from the record bytes, collects revisions
 * per key in a hash map, then sorts the keys once and bulk-loads the tree.
 * The bucket is in revision order, so each key's revisions arrive ascending.
 */
function scanAll(backend: Backend, index: KeyIndex): Restored {
  let current = 1;
  let recordsRead = 0;
  const byKey = new Map<string, KeyRevisions>();
  /** Keys whose latest revision carries a lease, with the record holding it. */
  const leased = new Map<string, Uint8Array>();
  let sorted = true;
  let lastNew = "";
  const f = newFields();
  for (const { key: revBytes, value: rec } of backend.range(Buckets.key)) {
    readFields(revBytes, rec, f);
    recordsRead++;
    const { k } = f;
    const e = byKey.get(k);
    if (e === undefined) {
      // A literal of the exact size: most keys keep this single revision.
      byKey.set(k, [f.created, f.version, f.main, f.sub * 2 + (f.tombstone ? 1 : 0)]);
      if (sorted && k < lastNew) sorted = false;
      lastNew = k;
    } else {
      pushRevision(e, f.main, f.sub, f.tombstone);
      e[0] = f.created;
      e[1] = f.version;
    }
    if (f.leased) leased.set(k, rec);
    else if (leased.size > 0) leased.delete(k);
    if (f.main > current) current = f.main;
  }
  const keys = [...byKey.keys()];
  // Binary strings compare code unit by code unit: the default sort is bytewise order.
  if (!sorted) keys.sort();
  index.load(
    keys,
    keys.map((k) => {
      const e = byKey.get(k) as KeyRevisions;
      // push leaves growth slack; a key with history gets an exact-size copy.
      return e.length > 4 ? e.slice() : e;
    }),
  );
  const attach: Array<[string, bigint]> = [];
  for (const [k, rec] of leased) attach.push([k, leaseOfRecord(rec)]);
  return { current, recordsRead, attach };
}
