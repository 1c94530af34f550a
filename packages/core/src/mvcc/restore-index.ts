import { type Backend, Buckets } from "../backend/backend.js";
import type { KeyIndex } from "./key-index.js";
import { bytesToKeyString } from "./key-string.js";
import type { LeaseHooks } from "./kv-store.js";
import { decodeRecord } from "./record-codec.js";
import { bytesToRevision } from "./revision.js";
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

/**
 * etcd's `restore`: rebuilds the in-memory index from the `key` bucket (every
 * record says which key, revision and generation it belongs to), re-attaches
 * each live key to its lease, and reads the revisions from the `meta` bucket.
 * Reads only; redoing an unfinished compaction is the compactor's job.
 */
export function restoreIndex(
  backend: Backend,
  index: KeyIndex,
  leases: LeaseHooks | undefined,
): RestoredRevisions {
  let current = 1;
  let compactMain = -1;
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
