import { type BackendOp, Buckets } from "../backend/backend.js";
import { encodeInt64 } from "../backend/int64-bytes.js";

/**
 * Keys of the store's own entries in the backend's `meta` bucket; their
 * values are numbers as {@link encodeInt64} writes them.
 */
export const metaKeys = {
  /** The current main revision, written with every write that makes one. */
  currentRev: new TextEncoder().encode("currentRev"),
  /** The compaction revision, written before compaction drops anything. */
  scheduledCompactRev: new TextEncoder().encode("scheduledCompactRev"),
  /** Written with compaction's last deletions; differs from the scheduled one after a stop mid-way. */
  finishedCompactRev: new TextEncoder().encode("finishedCompactRev"),
} as const;

/**
 * The meta entries of a store restored from a snapshot: its current revision
 * and, once compacted, the compaction revision as both scheduled and finished
 * (nothing to redo). Written with the snapshot's `key` records by
 * {@link revisionRecordOp}, they make `openKvStore` come up at that revision.
 */
export function storeMetaOps(current: number, compactRev: number): BackendOp[] {
  const ops: BackendOp[] = [
    { bucket: Buckets.meta, key: metaKeys.currentRev, value: encodeInt64(current) },
  ];
  if (compactRev >= 0) {
    for (const key of [metaKeys.scheduledCompactRev, metaKeys.finishedCompactRev]) {
      ops.push({ bucket: Buckets.meta, key, value: encodeInt64(compactRev) });
    }
  }
  return ops;
}
