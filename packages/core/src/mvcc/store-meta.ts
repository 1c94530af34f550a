import { allocBackendBytes } from "../backend/alloc-backend-bytes.js";
import { type BackendOp, Buckets } from "../backend/backend.js";
import { writeInt64BE } from "./revision.js";

/**
 * Keys of the store's own entries in the backend's `meta` bucket, and their
 * encoding (a big-endian signed 64-bit integer).
 */
export const metaKeys = {
  /** The current main revision, written with every write that makes one. */
  currentRev: new TextEncoder().encode("currentRev"),
  /** The compaction revision, written before compaction drops anything. */
  scheduledCompactRev: new TextEncoder().encode("scheduledCompactRev"),
  /** Written with compaction's last deletions; differs from the scheduled one after a stop mid-way. */
  finishedCompactRev: new TextEncoder().encode("finishedCompactRev"),
} as const;

export function encodeMetaNumber(n: number): Uint8Array {
  const b = allocBackendBytes(8);
  writeInt64BE(b, 0, n);
  return b;
}

/** The number stored under a meta key; undefined when absent or malformed. */
export function decodeMetaNumber(b: Uint8Array | undefined): number | undefined {
  if (b === undefined || b.length !== 8) return undefined;
  return Number(new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0));
}

/**
 * The meta entries of a store restored from a snapshot: its current revision
 * and, once compacted, the compaction revision as both scheduled and finished
 * (nothing to redo). Written with the snapshot's `key` records by
 * {@link revisionRecordOp}, they make `openKvStore` come up at that revision.
 */
export function storeMetaOps(current: number, compactRev: number): BackendOp[] {
  const ops: BackendOp[] = [
    { bucket: Buckets.meta, key: metaKeys.currentRev, value: encodeMetaNumber(current) },
  ];
  if (compactRev >= 0) {
    for (const key of [metaKeys.scheduledCompactRev, metaKeys.finishedCompactRev]) {
      ops.push({ bucket: Buckets.meta, key, value: encodeMetaNumber(compactRev) });
    }
  }
  return ops;
}
