import { BTree } from "./btree.js";
import type { Revision } from "./revision.js";

/** One revision of a key as the index remembers it. */
export interface IndexedRevision extends Revision {
  tombstone: boolean;
}

/**
 * Everything the index knows of one key: its revisions in ascending order and,
 * for its current generation, the creation revision and version (both 0 when
 * the key is deleted). This is etcd's keyIndex with its generations flattened:
 * a tombstone ends a generation.
 */
export interface KeyEntry {
  key: Uint8Array;
  revs: IndexedRevision[];
  created: number;
  version: number;
}

/**
 * The in-memory index: key → revisions, ordered by key (a B+tree keyed by
 * binary strings, see key-string.ts). Values live in the backend; the index
 * only says which revision of a key is visible at a given main revision.
 */
export interface KeyIndex {
  /** Number of keys with at least one revision (live or not yet compacted). */
  readonly size: number;
  /** The entry of a key, if the index has one. */
  entry(k: string): KeyEntry | undefined;
  /** The revision of `k` visible at `atRev`, or undefined when absent then. */
  get(k: string, atRev: number): IndexedRevision | undefined;
  /**
   * Calls `fn` for each key in `[start, end)` that is live at `atRev`, in key
   * order, until it returns false. `end` null means no upper bound.
   */
  range(
    start: string,
    end: string | null,
    atRev: number,
    fn: (k: string, e: KeyEntry, rev: IndexedRevision) => boolean | undefined,
  ): void;
  /** Records a put; returns the creation revision and version the new value gets. */
  put(k: string, key: Uint8Array, rev: Revision): { created: number; version: number };
  /** Records a delete of a live key. */
  tombstone(k: string, key: Uint8Array, rev: Revision): void;
  /** Rebuild path: records a stored put with its stored creation revision and version. */
  restore(
    k: string,
    key: Uint8Array,
    rev: Revision,
    created: number,
    version: number,
    tombstone: boolean,
  ): void;
  /**
   * Drops what compaction at `atRev` makes unreachable: for each key, every
   * revision below the last one ≤ atRev, and that one too if it is a tombstone.
   * Keys left with no revisions leave the index. Returns the dropped revisions.
   */
  compact(atRev: number): Revision[];
}

/** Finds the revision visible at `atRev`: the last one with main ≤ atRev, unless a tombstone. */
function visibleAt(revs: IndexedRevision[], atRev: number): IndexedRevision | undefined {
  let hi = revs.length - 1;
  const last = revs[hi];
  if (last === undefined) return undefined;
  if (last.main <= atRev) return last.tombstone ? undefined : last;
  let lo = 0;
  // Binary search for the last index with main <= atRev.
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const r = revs[mid] as IndexedRevision;
    if (r.main <= atRev) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  if (found < 0) return undefined;
  const r = revs[found] as IndexedRevision;
  return r.tombstone ? undefined : r;
}

export function createKeyIndex(): KeyIndex {
  const tree = new BTree<string, KeyEntry>();
  return {
    get size() {
      return tree.size;
    },
    entry: (k) => tree.get(k),
    get(k, atRev) {
      const e = tree.get(k);
      return e === undefined ? undefined : visibleAt(e.revs, atRev);
    },
    range(start, end, atRev, fn) {
      if (end !== null && start >= end) return;
      for (const [k, e] of tree.entries(start)) {
        if (end !== null && k >= end) return;
        const rev = visibleAt(e.revs, atRev);
        if (rev !== undefined && fn(k, e, rev) === false) return;
      }
    },
    put(k, key, rev) {
      let e = tree.get(k);
      if (e === undefined) {
        e = { key, revs: [], created: 0, version: 0 };
        tree.set(k, e);
      }
      if (e.version === 0) e.created = rev.main;
      e.version++;
      e.revs.push({ main: rev.main, sub: rev.sub, tombstone: false });
      return { created: e.created, version: e.version };
    },
    tombstone(k, _key, rev) {
      const e = tree.get(k);
      if (e === undefined) throw new Error("tombstone of a key the index does not have");
      e.revs.push({ main: rev.main, sub: rev.sub, tombstone: true });
      e.created = 0;
      e.version = 0;
    },
    restore(k, key, rev, created, version, tombstone) {
      let e = tree.get(k);
      if (e === undefined) {
        e = { key, revs: [], created: 0, version: 0 };
        tree.set(k, e);
      }
      e.revs.push({ main: rev.main, sub: rev.sub, tombstone });
      e.created = tombstone ? 0 : created;
      e.version = tombstone ? 0 : version;
    },
    compact(atRev) {
      const dropped: Revision[] = [];
      const emptied: string[] = [];
      for (const [k, e] of tree.entries()) {
        const revs = e.revs;
        // Index of the last revision with main <= atRev.
        let keep = -1;
        for (let i = 0; i < revs.length; i++) {
          if ((revs[i] as IndexedRevision).main <= atRev) keep = i;
          else break;
        }
        if (keep < 0) continue;
        const from = (revs[keep] as IndexedRevision).tombstone ? keep + 1 : keep;
        if (from === 0) continue;
        for (let i = 0; i < from; i++) {
          const r = revs[i] as IndexedRevision;
          dropped.push({ main: r.main, sub: r.sub });
        }
        e.revs = revs.slice(from);
        if (e.revs.length === 0) emptied.push(k);
      }
      for (const k of emptied) tree.delete(k);
      return dropped;
    },
  };
}
