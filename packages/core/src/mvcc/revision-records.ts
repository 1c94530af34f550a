import { type Backend, type BackendOp, Buckets } from "../backend/backend.js";
import type { KeyValue } from "../types.js";
import { decodeRecord, encodeRecord } from "./record-codec.js";
import { bytesToRevision, type Revision, revisionToBytes } from "./revision.js";

/**
 * One stored revision of a key, as the `key` bucket holds it: what a
 * snapshot carries to another store (etcd's backend, or a new Conclave data
 * dir). A tombstone's `kv` holds the key (and its deletion revision).
 */
export interface RevisionRecord {
  main: number;
  sub: number;
  tombstone: boolean;
  kv: KeyValue;
}

/** One batch of {@link readRevisionRecords}. */
export interface RevisionRecordBatch {
  records: RevisionRecord[];
  /** Where the next batch starts; undefined once every revision up to `upTo` was read. */
  next: Revision | undefined;
}

/** Default bytes of values and keys per batch: 1 MiB, as history reads. */
export const defaultRevisionBatchBytes = 1024 * 1024;

/**
 * Stored revisions from `from` (inclusive; undefined: the first) through main
 * revision `upTo`, in revision order, stopping after the record that brings
 * the batch to `maxBytes`. A caller reading a consistent image in several
 * batches pins `upTo` to one durable revision: later writes only add
 * revisions above it, so each batch sees the same history (only compaction
 * removes records, and the caller handles that).
 */
export function readRevisionRecords(
  backend: Backend,
  from: Revision | undefined,
  upTo: number,
  maxBytes = defaultRevisionBatchBytes,
): RevisionRecordBatch {
  const start = from === undefined ? undefined : revisionToBytes(from.main, from.sub);
  const end = revisionToBytes(upTo + 1, 0);
  const records: RevisionRecord[] = [];
  let bytes = 0;
  for (const { key, value } of backend.range(Buckets.key, start, end)) {
    const rev = bytesToRevision(key);
    if (bytes >= maxBytes) return { records, next: rev };
    const { tombstone, kv } = decodeRecord(value);
    records.push({ main: rev.main, sub: rev.sub, tombstone, kv });
    bytes += kv.key.length + kv.value.length + 64;
  }
  return { records, next: undefined };
}

/** The backend write that stores `r` in the `key` bucket (building a data dir from a snapshot). */
export function revisionRecordOp(r: RevisionRecord): BackendOp {
  return {
    bucket: Buckets.key,
    key: revisionToBytes(r.main, r.sub),
    value: encodeRecord({ tombstone: r.tombstone, kv: r.kv }),
  };
}
