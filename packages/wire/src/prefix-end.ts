/**
 * The end of the range of keys that start with `prefix` (etcd's
 * `GetPrefixRangeEnd`): the prefix with its last byte below 0xff incremented
 * and what follows dropped. An empty prefix, or one of only 0xff bytes, has
 * no end: "\0", which etcd reads as "to the last key". Never changes `prefix`.
 *
 * @example
 * ```ts
 * prefixEnd(new TextEncoder().encode("config/")); // the bytes of "config0"
 * ```
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i] as number;
    if (byte < 0xff) {
      // A copy even of a Buffer, whose slice() is a view of the prefix.
      const end = new Uint8Array(i + 1);
      end.set(prefix.subarray(0, i + 1));
      end[i] = byte + 1;
      return end;
    }
  }
  return new Uint8Array([0]);
}
