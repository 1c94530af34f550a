import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type Backend,
  type BackendOp,
  bucketNames,
  type LogRecord,
  type SharedLog,
} from "@conclave/core";
import { conclaveLog } from "@conclave/proto";

/**
 * Bytes of records per restore entry (1 MiB): small enough that a replica
 * holds one part at a time while it loads, large enough that a store of a
 * few GiB is a few thousand rows. A record larger than this gets an entry of
 * its own.
 */
export const restoreEntryBytes = 1024 * 1024;

/** Entries read per round trip while loading a prefix: a few parts, not the whole store. */
const prefixReadBatch = 8;

/** Bytes a record adds to a Restore beside its key and value (field tags and lengths). */
const recordOverheadBytes = 24;

/**
 * A store's state as the log's restore prefix (`conclave.log.v1.Restore`
 * entries, see log_entry.proto): every record of the core's buckets
 * (`bucketNames`), in bucket and key order, as the backend holds them — a
 * copy of the backend, like etcd's snapshot is a copy of its bbolt file, so
 * nothing here reads the records' format, which stays the core's. Lazily:
 * the caller writes each part before the next one is read.
 *
 * The last entry is always an empty Restore: a replica re-reads the entry it
 * applied last at every catch-up (to notice a log that lost entries), and
 * until the first ordinary entry that is the prefix's last — a few bytes,
 * not a part of 1 MiB. An empty store is that entry alone.
 */
export function* restoreEntries(
  backend: Backend,
  maxBytes: number = restoreEntryBytes,
): Generator<Uint8Array> {
  let records: conclaveLog.BackendRecord[] = [];
  let bytes = 0;
  const entry = () =>
    toBinary(
      conclaveLog.LogEntrySchema,
      create(conclaveLog.LogEntrySchema, {
        request: { case: "restore", value: { records } },
      }),
    );
  for (const bucket of bucketNames) {
    for (const { key, value } of backend.range(bucket)) {
      const size = bucket.length + key.length + value.length + recordOverheadBytes;
      if (records.length > 0 && bytes + size > maxBytes) {
        yield entry();
        records = [];
        bytes = 0;
      }
      // Copies: a backend may hand out views of buffers it reuses.
      records.push(
        create(conclaveLog.BackendRecordSchema, {
          bucket,
          key: key.slice(),
          value: value.slice(),
        }),
      );
      bytes += size;
    }
  }
  if (records.length > 0) yield entry();
  records = [];
  yield entry();
}

/**
 * Loads the log's restore prefix into `backend` (a replica's fresh local
 * copy) and resolves with its last entry, undefined when the log does not
 * start with one. Call it before opening a store on `backend`: the store,
 * the lessor and the auth store then restore from these records as they do
 * from a data dir, and the replica follows the log after that entry
 * (`ReplicaLogOptions.after`).
 */
export async function loadRestorePrefix(
  log: SharedLog,
  backend: Backend,
): Promise<LogRecord | undefined> {
  let last: LogRecord | undefined;
  for (;;) {
    const loaded = last?.seq ?? 0n;
    const records = await log.read(loaded, prefixReadBatch);
    for (const r of records) {
      if (r.seq !== (last?.seq ?? 0n) + 1n) {
        throw new Error(`conclave: the shared log skips from ${last?.seq ?? 0n} to ${r.seq}`);
      }
      const entry = fromBinary(conclaveLog.LogEntrySchema, r.data);
      if (entry.request.case !== "restore") return last;
      const ops: BackendOp[] = entry.request.value.records.map((rec) => ({
        bucket: rec.bucket,
        key: rec.key,
        value: rec.value,
      }));
      if (ops.length > 0) await backend.commit(ops);
      last = r;
    }
    if (records.length < prefixReadBatch) return last;
  }
}
