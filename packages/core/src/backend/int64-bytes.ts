import { allocBackendBytes } from "./alloc-backend-bytes.js";

const two32 = 2 ** 32;

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

/**
 * `n` as 8 bytes, a big-endian signed 64-bit integer, from the backend
 * slab: how the store keeps its numbers (meta entries) and the LMDB backend
 * the last log record it holds.
 */
export function encodeInt64(n: number): Uint8Array {
  const b = allocBackendBytes(8);
  writeInt64BE(b, 0, n);
  return b;
}

/** The number {@link encodeInt64} wrote; undefined when absent or not 8 bytes. */
export function decodeInt64(b: Uint8Array | undefined): number | undefined {
  if (b === undefined || b.length !== 8) return undefined;
  return Number(new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0));
}
