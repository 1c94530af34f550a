import { Buffer } from "node:buffer";

/**
 * Keys are bytes, but the index keys its tree and maps by "binary strings":
 * one UTF-16 code unit per byte (latin1). JavaScript compares such strings
 * code unit by code unit, which is exactly bytewise order, and Map lookups on
 * strings are much cheaper than on byte arrays.
 */
export function bytesToKeyString(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

/** Inverse of {@link bytesToKeyString}. Returns a fresh copy. */
export function keyStringToBytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "latin1"));
}
