import { Buffer } from "node:buffer";

/**
 * Buffer's latin1 decoder, which takes any Uint8Array as `this`: no Buffer
 * view made per call (a Put converted its key three times, ~100 bytes of
 * garbage each) and half the time of `Buffer.from(…).toString("latin1")`.
 */
const latin1Slice = (
  Buffer.prototype as unknown as {
    latin1Slice: (this: Uint8Array, start: number, end: number) => string;
  }
).latin1Slice;

/**
 * Keys are bytes, but the index keys its tree and maps by "binary strings":
 * one UTF-16 code unit per byte (latin1). JavaScript compares such strings
 * code unit by code unit, which is exactly bytewise order, and Map lookups on
 * strings are much cheaper than on byte arrays.
 */
export function bytesToKeyString(bytes: Uint8Array): string {
  return latin1Slice.call(bytes, 0, bytes.byteLength);
}

/** Inverse of {@link bytesToKeyString}. Returns a fresh copy. */
export function keyStringToBytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "latin1"));
}
