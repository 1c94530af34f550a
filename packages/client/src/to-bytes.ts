const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A key or value as callers pass it: a string (encoded as UTF-8) or raw
 * bytes. etcd keys and values are bytes; most applications use text.
 */
export type BytesInput = string | Uint8Array;

/**
 * UTF-8 bytes of a string; bytes pass through unchanged (not copied).
 *
 * @example
 * ```ts
 * toBytes("héllo"); // Uint8Array(6)
 * ```
 */
export function toBytes(input: BytesInput): Uint8Array {
  return typeof input === "string" ? encoder.encode(input) : input;
}

/**
 * Bytes decoded as UTF-8, for display and text values. Invalid sequences
 * become U+FFFD rather than throwing, because keys need not be text.
 *
 * @example
 * ```ts
 * toText((await client.get("config/mode"))?.value); // "fast", or "" when missing
 * ```
 */
export function toText(bytes: Uint8Array | undefined): string {
  return bytes === undefined ? "" : decoder.decode(bytes);
}
