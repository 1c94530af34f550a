import { type Backend, Buckets } from "../backend/backend.js";
import type { Change } from "../types.js";
import type { HistorySpan } from "./kv-store.js";
import { decodeRecord } from "./record-codec.js";
import { bytesToRevision, revisionToBytes } from "./revision.js";

/**
 * The changes of main revisions `from`..`to` straight from the backend, as
 * watchers see them (see {@link KvStore.history}); the caller checks the span
 * is durable and not compacted. Reads stop at the end of the first revision
 * that brings the decoded bytes to `maxBytes` (default: no limit).
 */
export function readHistory(
  backend: Backend,
  from: number,
  to: number,
  maxBytes = Number.POSITIVE_INFINITY,
): HistorySpan {
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
}
