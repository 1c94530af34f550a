import { crc32 } from "node:zlib";
import { type Backend, bucketNames } from "./backend.js";

/**
 * Maintenance.Hash: a CRC-32 over every bucket's name, keys and values, in
 * order — Conclave's own value (etcd hashes bbolt's pages), stable across
 * restarts and defrags, equal for equal contents. Here, beside the backend,
 * so no service walks buckets itself.
 */
export function hashBuckets(backend: Backend): number {
  let hash = 0;
  for (const bucket of bucketNames) {
    hash = crc32(bucket, hash);
    for (const { key, value } of backend.range(bucket)) {
      hash = crc32(key, hash);
      hash = crc32(value, hash);
    }
  }
  return hash;
}
