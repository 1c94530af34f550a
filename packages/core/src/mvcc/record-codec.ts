import { allocBackendBytes } from "../backend/alloc-backend-bytes.js";
import type { KeyValue } from "../types.js";

/**
 * Serialized form of one revision in the backend's `key` bucket:
 *
 *   flags u8 (bit 0: tombstone) | keyLength u32 | key |
 *   createRevision i64 | modRevision i64 | version i64 | lease i64 | value
 *
 * Self-describing enough to rebuild the in-memory index on start without any
 * other state (as etcd rebuilds its treeIndex from the key bucket).
 */
export interface StoredRecord {
  tombstone: boolean;
  kv: KeyValue;
}

const headerLength = 1 + 4;
const numbersLength = 8 * 4;

export function encodeRecord(r: StoredRecord): Uint8Array {
  const { kv } = r;
  const out = allocBackendBytes(headerLength + kv.key.length + numbersLength + kv.value.length);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out[0] = r.tombstone ? 1 : 0;
  view.setUint32(1, kv.key.length);
  out.set(kv.key, headerLength);
  let o = headerLength + kv.key.length;
  view.setBigInt64(o, kv.createRevision);
  view.setBigInt64(o + 8, kv.modRevision);
  view.setBigInt64(o + 16, kv.version);
  view.setBigInt64(o + 24, kv.lease);
  o += numbersLength;
  out.set(kv.value, o);
  return out;
}

export function decodeRecord(b: Uint8Array): StoredRecord {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const keyLength = view.getUint32(1);
  let o = headerLength;
  const key = b.slice(o, o + keyLength);
  o += keyLength;
  const kv: KeyValue = {
    key,
    createRevision: view.getBigInt64(o),
    modRevision: view.getBigInt64(o + 8),
    version: view.getBigInt64(o + 16),
    lease: view.getBigInt64(o + 24),
    value: b.slice(o + numbersLength),
  };
  return { tombstone: ((b[0] ?? 0) & 1) === 1, kv };
}
