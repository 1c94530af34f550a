import { allocBackendBytes } from "../backend/alloc-backend-bytes.js";

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

/**
 * Writes `n`, a safe integer, as a big-endian signed 64-bit integer at `at`
 * (what DataView's `setBigInt64(at, BigInt(n))` writes). Byte by byte
 * because every write encodes a few of these: a DataView is one more object
 * per number, and over a small array's `.buffer` it moves the array's bytes
 * off the heap (~1 µs; see allocBackendBytes).
 */
export function writeInt64BE(b: Uint8Array, at: number, n: number): void {
  const high = Math.floor(n / two32);
  writeUint32BE(b, at, high >>> 0);
  writeUint32BE(b, at + 4, (n - high * two32) >>> 0);
}

function writeUint32BE(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

export function bytesToRevision(b: Uint8Array): Revision {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    main: v.getUint32(0) * two32 + v.getUint32(4),
    sub: v.getUint32(8) * two32 + v.getUint32(12),
  };
}
