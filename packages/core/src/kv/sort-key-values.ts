import type { KeyValue } from "../types.js";
import { SortTarget } from "../types.js";
import { compareBytes } from "./compare-bytes.js";

/** What the sort targets other than VALUE look at. */
export type SortFields = Pick<KeyValue, "key" | "version" | "createRevision" | "modRevision">;

type Less = (a: KeyValue, b: KeyValue) => boolean;

const lessBy: Record<number, Less> = {
  [SortTarget.KEY]: (a, b) => compareBytes(a.key, b.key) < 0,
  [SortTarget.VERSION]: (a, b) => a.version < b.version,
  [SortTarget.CREATE]: (a, b) => a.createRevision < b.createRevision,
  [SortTarget.MOD]: (a, b) => a.modRevision < b.modRevision,
  [SortTarget.VALUE]: (a, b) => compareBytes(a.value, b.value) < 0,
};

/**
 * Sorts in place by `target`, ascending or descending, as etcd's Range does.
 * Elements that tie keep their key order. etcd uses Go's unstable sort.Sort,
 * which is an insertion sort — hence stable — for up to 12 elements; for
 * larger results with ties etcd's tie order is an artifact of its sort
 * implementation, and ours stays in key order.
 */
export function sortKeyValues<T extends SortFields>(
  kvs: T[],
  target: number,
  descending: boolean,
): void {
  // VALUE needs values; callers sort by it only with full key-values.
  const less = lessBy[target] as ((a: T, b: T) => boolean) | undefined;
  if (less === undefined) return; // etcd leaves the order alone for unknown targets
  kvs.sort((a, b) => {
    if (descending) return less(b, a) ? -1 : less(a, b) ? 1 : 0;
    return less(a, b) ? -1 : less(b, a) ? 1 : 0;
  });
}
