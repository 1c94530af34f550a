/** Size of each shared slab. */
const slabBytes = 64 * 1024;
/** Larger arrays get their own buffer: a slab would hold little else. */
const largestFromSlab = slabBytes / 16;

let slab = new Uint8Array(slabBytes);
let used = 0;

/**
 * A zeroed array of `length` bytes for a backend operation (a revision key,
 * a record, a meta value), carved from a shared slab when it is small.
 *
 * Why: every write encodes a few such arrays, and on Node each new
 * ArrayBuffer (which an array's `.buffer`, used by DataView and by the
 * backends' Buffer views, also makes of a small on-heap array) costs about
 * a microsecond — more than encoding its bytes; a view of a slab costs a
 * tenth of that. Slabs are never reused, so views never alias; the backends
 * copy what they write, so a slab lives as long as the operations carved
 * from it. Views share their `.buffer`: read them with their `byteOffset`.
 */
export function allocBackendBytes(length: number): Uint8Array {
  if (length > largestFromSlab) return new Uint8Array(length);
  if (used + length > slabBytes) {
    slab = new Uint8Array(slabBytes);
    used = 0;
  }
  const view = slab.subarray(used, used + length);
  used += length;
  return view;
}
