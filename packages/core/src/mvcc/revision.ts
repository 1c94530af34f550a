import { allocBackendBytes } from "../backend/alloc-backend-bytes.js";
import { writeInt64BE } from "../backend/int64-bytes.js";

/**
 * A revision is a (main, sub) pair: `main` counts write requests (one per put,
 * effective delete or write txn), `sub` orders the changes inside one of them.
 * Main revisions stay below 2^53 in any realistic lifetime, so the index keeps
 * them as numbers and only the domain types expose bigint.
 */
export interface Revision {
  main: number;
  sub: number;
}

/** Byte length of an encoded revision: 8 bytes main, 8 bytes sub, big-endian. */
export const revisionBytesLength = 16;

const two32 = 2 ** 32;

/** Encodes a revision so that byte order equals revision order (backend keys). */
export function revisionToBytes(main: number, sub: number): Uint8Array {
  const b = allocBackendBytes(revisionBytesLength);
  writeInt64BE(b, 0, main);
  writeInt64BE(b, 8, sub);
  return b;
}

export function bytesToRevision(b: Uint8Array): Revision {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    main: v.getUint32(0) * two32 + v.getUint32(4),
    sub: v.getUint32(8) * two32 + v.getUint32(12),
  };
}
