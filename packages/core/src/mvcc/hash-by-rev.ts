import { crc32 } from "node:zlib";
import { Buckets } from "../backend/backend.js";
import { errCompacted, errFutureRev } from "../errors.js";
import { revisionToBytes } from "./revision.js";
import type { StoreState } from "./store-state.js";

/**
 * etcd's HashByRev: a CRC-32 over the bucket name and every stored revision
 * (key and record) up to `rev` (≤ 0: the durable revision). Throws
 * errFutureRev / errCompacted like a range at that revision.
 */
export function hashByRev(
  state: StoreState,
  rev: number,
): { hash: number; rev: number; compactRev: number } {
  const at = rev <= 0 ? state.durable : rev;
  if (at > state.durable) throw errFutureRev;
  if (at < state.compactMain) throw errCompacted;
  let hash = crc32(Buckets.key);
  for (const { key, value } of state.backend.range(
    Buckets.key,
    undefined,
    revisionToBytes(at + 1, 0),
  )) {
    hash = crc32(key, hash);
    hash = crc32(value, hash);
  }
  return { hash, rev: at, compactRev: state.compactMain };
}
