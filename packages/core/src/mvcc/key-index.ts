import { BTree, bulkLoadBTree } from "./btree.js";
import type { Revision } from "./revision.js";

/**
 * A revision of a key as a read sees it: the record to load, and whether it is
 * the key's latest revision, in which case the index also knows its creation
 * revision and version (etcd's lock and election recipes sort by them on every
 * call, so they are answered without reading the record).
 */
export interface VisibleRevision extends Revision {
  /** True when no later revision (nor tombstone) of the key exists. */
  latest: boolean;
  /** Creation revision of the key's current generation; meaningful only when `latest`. */
  created: number;
  /** Version of the key in its current generation; meaningful only when `latest`. */
  version: number;
}

/**
 * What the index keeps per key: one flat array of numbers, no object per
 * revision (an object per revision cost ~10× the numbers it held, and the
 * index dominated the heap):
 *
 *   [created, version, main₀, sub₀·2+tombstone₀, main₁, sub₁·2+tombstone₁, …]
 *
 * Revisions ascend. `created` and `version` describe the current generation
 * (both 0 after a tombstone). This is etcd's keyIndex with its generations
 * flattened: a tombstone ends a generation. The key itself is the tree's key
 * (a binary string, see key-string.ts), so no byte copy is kept beside it.
 * Small integers stay unboxed in a packed array: 8 bytes per number.
 */
export type KeyRevisions = number[];

/**
 * What the tree holds per key: its {@link KeyRevisions}, or — for a key that
 * a bulk load brought in with a single revision — the number of its slot in
 * the load's table of such keys (four numbers each, the same as the array
 * would hold). A start from the index checkpoint brings in most keys that
 * way: a number in the tree is no object at all, so loading a million keys
 * allocates a million strings instead of three million objects, which the
 * young-generation collector would copy twice each. The first write to such
 * a key (or a compaction that drops its revision) turns it into an array.
 */
export type IndexEntry = KeyRevisions | number;

/** Numbers per slot of the single-revision table: created, version, main, sub·2+tombstone. */
export const singleSlotLength = 4;

const head = 2;

/**
 * The in-memory index: key → revisions, ordered by key (a B+tree keyed by
 * binary strings, see key-string.ts). Values live in the backend; the index
 * only says which revision of a key is visible at a given main revision.
 */
export interface KeyIndex {
  /** Number of keys with at least one revision (live or not yet compacted). */
  readonly size: number;
  /**
   * Number of live keys: those whose latest revision is not a tombstone
   * (etcd's `keysGauge`, which its keyIndex raises when a generation starts
   * and lowers at a tombstone). Kept as puts and deletes happen, not counted.
   */
  readonly live: number;
  /** The latest revision of a live key; undefined when absent or deleted. */
  latest(k: string): VisibleRevision | undefined;
  /** The revision of `k` visible at `atRev`, or undefined when absent then. */
  get(k: string, atRev: number): VisibleRevision | undefined;
  /**
   * Calls `fn` for each key in `[start, end)` that is live at `atRev`, in key
   * order, until it returns false. `end` null means no upper bound.
   */
  range(
    start: string,
    end: string | null,
    atRev: number,
    fn: (k: string, rev: VisibleRevision) => boolean | undefined,
  ): void;
  /** Records a put; returns the creation revision and version the new value gets. */
  put(k: string, rev: Revision): { created: number; version: number };
  /** Records a delete of a live key. */
  tombstone(k: string, rev: Revision): void;
  /**
   * Rebuild path: replaces the whole index with `keys` (ascending, no
   * duplicates) and their revisions (`revisions[i]` is `keys[i]`'s, kept,
   * not copied; a number is a slot of `singles`, see {@link IndexEntry}), in
   * one bulk load (see restore-index.ts).
   */
  load(keys: readonly string[], revisions: readonly IndexEntry[], singles?: Float64Array): void;
  /**
   * Calls `fn` for every key in key order with its packed revisions, which
   * it must not change: what the index checkpoint writes (index-checkpoint.ts).
   */
  forEach(fn: (k: string, revisions: Readonly<KeyRevisions>) => void): void;
  /**
   * Drops what compaction at `atRev` makes unreachable: for each key, every
   * revision below the last one ≤ atRev, and that one too if it is a tombstone.
   * Keys left with no revisions leave the index. Returns the dropped revisions.
   */
  compact(atRev: number): Revision[];
}

/** Appends revision (main, sub) to `e`, packed as {@link KeyRevisions} says. */
export function pushRevision(e: KeyRevisions, main: number, sub: number, tombstone: boolean): void {
  e.push(main, sub * 2 + (tombstone ? 1 : 0));
}

/** Index in `e` of the last revision with main ≤ atRev, or -1. */
function lastAtOrBefore(e: KeyRevisions, atRev: number): number {
  const last = e.length - 2;
  if (last < head) return -1;
  if ((e[last] as number) <= atRev) return last;
  let lo = 0;
  let hi = (last - head) / 2;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if ((e[head + mid * 2] as number) <= atRev) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found < 0 ? -1 : head + found * 2;
}

/** What a `forRange` callback returns to stop the scan. */
const stopRange = { break: true };

/** The revision at index `i` of `e`, unless a tombstone. */
function visible(e: KeyRevisions, i: number): VisibleRevision | undefined {
  if (i < 0) return undefined;
  const packed = e[i + 1] as number;
  if (packed % 2 === 1) return undefined;
  const latest = i === e.length - 2;
  return {
    main: e[i] as number,
    sub: packed / 2,
    latest,
    created: latest ? (e[0] as number) : 0,
    version: latest ? (e[1] as number) : 0,
  };
}

export function createKeyIndex(): KeyIndex {
  let tree = new BTree<string, IndexEntry>();
  let live = 0;
  /** The single-revision table of the last bulk load. */
  let singles: Float64Array = new Float64Array(0);
  /** The revisions of an entry, as a fresh array when it is a slot. */
  const revisionsOf = (e: IndexEntry): KeyRevisions => {
    if (typeof e !== "number") return e;
    const o = e * singleSlotLength;
    return [
      singles[o] as number,
      singles[o + 1] as number,
      singles[o + 2] as number,
      singles[o + 3] as number,
    ];
  };
  /** The entry of `k` as an array the index keeps (a slot becomes one), to change it. */
  const mutable = (k: string, e: IndexEntry): KeyRevisions => {
    if (typeof e !== "number") return e;
    const a = revisionsOf(e);
    tree.set(k, a);
    return a;
  };
  return {
    get size() {
      return tree.size;
    },
    get live() {
      return live;
    },
    latest(k) {
      const found = tree.get(k);
      if (found === undefined) return undefined;
      const e = revisionsOf(found);
      return visible(e, e.length - 2);
    },
    get(k, atRev) {
      const found = tree.get(k);
      if (found === undefined) return undefined;
      const e = revisionsOf(found);
      return visible(e, lastAtOrBefore(e, atRev));
    },
    range(start, end, atRev, fn) {
      if (end !== null && start >= end) return;
      // forRange rather than entries(): no [key, value] pair and iterator
      // result per key.
      const high = end ?? tree.maxKey();
      if (high === undefined) return;
      tree.forRange(start, high, end === null, (k, found) => {
        const e = revisionsOf(found);
        const rev = visible(e, lastAtOrBefore(e, atRev));
        if (rev !== undefined && fn(k, rev) === false) return stopRange;
      });
    },
    put(k, rev) {
      const found = tree.get(k);
      if (found === undefined) {
        tree.set(k, [rev.main, 1, rev.main, rev.sub * 2]);
        live++;
        return { created: rev.main, version: 1 };
      }
      const e = mutable(k, found);
      if (e[1] === 0) {
        // Version 0: the key was deleted; this put starts a new generation.
        e[0] = rev.main;
        live++;
      }
      e[1] = (e[1] as number) + 1;
      pushRevision(e, rev.main, rev.sub, false);
      return { created: e[0] as number, version: e[1] as number };
    },
    tombstone(k, rev) {
      const found = tree.get(k);
      if (found === undefined) throw new Error("tombstone of a key the index does not have");
      const e = mutable(k, found);
      pushRevision(e, rev.main, rev.sub, true);
      e[0] = 0;
      e[1] = 0;
      live--;
    },
    load(keys, revisions, table) {
      live = 0;
      singles = table ?? new Float64Array(0);
      // A deleted key's current generation has version 0.
      for (const e of revisions) {
        const version = typeof e === "number" ? singles[e * singleSlotLength + 1] : e[1];
        if (version !== 0) live++;
      }
      tree = bulkLoadBTree(keys, revisions);
    },
    forEach(fn) {
      tree.forEachPair((k, e) => {
        fn(k, revisionsOf(e));
      });
    },
    compact(atRev) {
      const dropped: Revision[] = [];
      tree.editAll((_k, found) => {
        const e = revisionsOf(found);
        const keep = lastAtOrBefore(e, atRev);
        if (keep < 0) return;
        const from = (e[keep + 1] as number) % 2 === 1 ? keep + 2 : keep;
        if (from === head) return;
        for (let i = head; i < from; i += 2) {
          dropped.push({ main: e[i] as number, sub: Math.floor((e[i + 1] as number) / 2) });
        }
        if (from === e.length) return { delete: true };
        // A fresh array of the exact size (slice), so the old one's growth slack goes too.
        const next = e.slice(from - head);
        next[0] = e[0] as number;
        next[1] = e[1] as number;
        return { value: next };
      });
      return dropped;
    },
  };
}
