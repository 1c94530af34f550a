import { Buffer } from "node:buffer";
import { type Backend, Buckets } from "../backend/backend.js";
import { type KeyIndex, type KeyRevisions, pushRevision } from "./key-index.js";
import type { LeaseHooks } from "./kv-store.js";
import { decodeMetaNumber, metaKeys } from "./store-meta.js";

/** What {@link restoreIndex} found in the backend. */
export interface RestoredRevisions {
  /** The current main revision (1 for an empty store). */
  current: number;
  /** The compaction revision (-1 when never compacted). */
  compactMain: number;
  /** A compaction scheduled but not finished before the last stop, to redo. */
  unfinishedCompaction: number | undefined;
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

/**
 * etcd's `restore`: rebuilds the in-memory index from the `key` bucket (every
 * record says which key, revision and generation it belongs to), re-attaches
 * each live key to its lease, and reads the revisions from the `meta` bucket.
 * Reads only; redoing an unfinished compaction is the compactor's job.
 *
 * The start of a large store is this scan, so it does the least per record:
 * it reads the key, the creation revision, the version, the tombstone flag
 * and whether a lease is set straight from the record bytes (no record
 * decode, no value copy, no bigint), collects revisions per key in a hash
 * map, then sorts the keys once and bulk-loads the tree. The bucket is in
 * revision order, so each key's revisions arrive ascending.
 */
export function restoreIndex(
  backend: Backend,
  index: KeyIndex,
  leases: LeaseHooks | undefined,
): RestoredRevisions {
  let current = 1;
  let compactMain = -1;
  const byKey = new Map<string, KeyRevisions>();
  /** Keys whose latest revision carries a lease, with the record holding it. */
  const leased = new Map<string, Uint8Array>();
  let sorted = true;
  let lastNew = "";
  for (const { key: revBytes, value: rec } of backend.range(Buckets.key)) {
    const main = u64(revBytes, 0);
    const sub = u64(revBytes, 8);
    const tombstone = ((rec[0] as number) & 1) === 1;
    const keyLength = u32(rec, 1);
    const k = latin1Slice.call(rec, keyOffset, keyOffset + keyLength);
    const o = keyOffset + keyLength;
    const created = tombstone ? 0 : u64(rec, o);
    const version = tombstone ? 0 : u64(rec, o + 16);
    const e = byKey.get(k);
    if (e === undefined) {
      // A literal of the exact size: most keys keep this single revision.
      byKey.set(k, [created, version, main, sub * 2 + (tombstone ? 1 : 0)]);
      if (sorted && k < lastNew) sorted = false;
      lastNew = k;
    } else {
      pushRevision(e, main, sub, tombstone);
      e[0] = created;
      e[1] = version;
    }
    if (!tombstone && (u32(rec, o + 24) !== 0 || u32(rec, o + 28) !== 0)) leased.set(k, rec);
    else if (leased.size > 0) leased.delete(k);
    if (main > current) current = main;
  }
  const keys = [...byKey.keys()];
  // Binary strings compare code unit by code unit: the default sort is bytewise order.
  if (!sorted) keys.sort();
  index.load(keys, (k) => {
    const e = byKey.get(k) as KeyRevisions;
    // push leaves growth slack; a key with history gets an exact-size copy.
    return e.length > 4 ? e.slice() : e;
  });
  if (leases !== undefined) {
    for (const [k, rec] of leased) {
      const o = keyOffset + u32(rec, 1) + 24;
      const lease = new DataView(rec.buffer, rec.byteOffset, rec.byteLength).getBigInt64(o);
      leases.onPut(k, lease, 0n);
    }
  }
  const storedRev = decodeMetaNumber(backend.get(Buckets.meta, metaKeys.currentRev));
  if (storedRev !== undefined && storedRev > current) current = storedRev;
  const scheduled = decodeMetaNumber(backend.get(Buckets.meta, metaKeys.scheduledCompactRev));
  const finished = decodeMetaNumber(backend.get(Buckets.meta, metaKeys.finishedCompactRev));
  if (scheduled !== undefined) {
    compactMain = scheduled;
    if (current < compactMain) current = compactMain;
  }
  return {
    current,
    compactMain,
    unfinishedCompaction: scheduled !== undefined && scheduled !== finished ? scheduled : undefined,
  };
}
