/** How a range is bounded, after etcd's `mkGteRange`. */
export type RangeEnd =
  /** Only `key` itself (an empty range_end). */
  | undefined
  /** Every key ≥ `key` (range_end "\0"). */
  | "infinity"
  /** Keys in `[key, end)`. */
  | Uint8Array;

/**
 * etcd's rule for a request's `range_end` (mkGteRange): empty means "only
 * the key", a single "\0" byte means "every key from the key on", anything
 * else is the exclusive end. The returned end is `rangeEnd` itself, not a copy.
 */
export function toRangeEnd(rangeEnd: Uint8Array): RangeEnd {
  if (rangeEnd.length === 0) return undefined;
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return "infinity";
  return rangeEnd;
}

/** A watch's normalised key and end. */
export interface WatchRange {
  key: Uint8Array;
  end: RangeEnd;
}

/**
 * etcd's normalisation of a watch's key and range_end: an empty key is
 * "\0" (so key "" with range_end "\0" watches everything), and the end
 * follows {@link toRangeEnd}. Does not check that `[key, end)` is non-empty;
 * callers refuse that each in their own words.
 */
export function toWatchRange(key: Uint8Array, rangeEnd: Uint8Array): WatchRange {
  return { key: key.length === 0 ? new Uint8Array([0]) : key, end: toRangeEnd(rangeEnd) };
}
