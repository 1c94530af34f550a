import { compareBytes } from "../kv/compare-bytes.js";

/** etcd's authpb.Permission.Type values. */
export const PermissionType = { READ: 0, WRITE: 1, READWRITE: 2 } as const;
export type PermissionType = (typeof PermissionType)[keyof typeof PermissionType];

/** A permission of a role: `permType` on a key or key range, in etcd's range forms. */
export interface KeyPermission {
  permType: PermissionType;
  key: Uint8Array;
  /** Empty: the single `key`; `"\0"`: every key ≥ `key`; else `[key, rangeEnd)`. */
  rangeEnd: Uint8Array;
}

/** A half-open byte interval; `end` undefined is the end of the keyspace. */
export interface KeyInterval {
  start: Uint8Array;
  end: Uint8Array | undefined;
}

/** The interval of etcd's (key, range_end) forms: a single key is `[key, key + "\0")`. */
export function toInterval(key: Uint8Array, rangeEnd: Uint8Array): KeyInterval {
  if (rangeEnd.length === 0) {
    const end = new Uint8Array(key.length + 1);
    end.set(key);
    return { start: key, end };
  }
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start: key, end: undefined };
  return { start: key, end: rangeEnd };
}

/**
 * One user's merged permissions: the union of every interval its roles grant,
 * per access kind (etcd's unifiedRangePermissions). Sorted by start so that a
 * coverage check is one sweep.
 */
export interface MergedPermissions {
  read: KeyInterval[];
  write: KeyInterval[];
}

const byStart = (a: KeyInterval, b: KeyInterval) => compareBytes(a.start, b.start);

export function mergePermissions(perms: Iterable<KeyPermission>): MergedPermissions {
  const read: KeyInterval[] = [];
  const write: KeyInterval[] = [];
  for (const p of perms) {
    const ivl = toInterval(p.key, p.rangeEnd);
    if (p.permType === PermissionType.READ || p.permType === PermissionType.READWRITE) {
      read.push(ivl);
    }
    if (p.permType === PermissionType.WRITE || p.permType === PermissionType.READWRITE) {
      write.push(ivl);
    }
  }
  return { read: read.sort(byStart), write: write.sort(byStart) };
}

/**
 * Whether the union of `granted` (sorted by start) covers all of `wanted`.
 * Several permissions together may cover a range none covers alone, as in
 * etcd's interval-tree check. An empty range (start ≥ end) reads and writes
 * nothing and is allowed, as etcd answers such a Range.
 */
export function covers(granted: readonly KeyInterval[], wanted: KeyInterval): boolean {
  if (wanted.end !== undefined && compareBytes(wanted.start, wanted.end) >= 0) return true;
  let reached: Uint8Array = wanted.start;
  for (const g of granted) {
    if (compareBytes(g.start, reached) > 0) return false; // a gap before this one
    if (g.end === undefined) return true;
    if (compareBytes(g.end, reached) > 0) {
      reached = g.end;
      if (wanted.end !== undefined && compareBytes(reached, wanted.end) >= 0) return true;
    }
  }
  return false;
}
