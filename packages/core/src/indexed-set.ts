/**
 * A set of objects kept in one array, each object holding its own position
 * (under a symbol of the set's), so that adding and deleting are O(1) and
 * write into the same array rather than into a hash table.
 *
 * Why not a `Set`: a JS Set (or Map) that lives long and sees an add and a
 * delete per request — the responses in flight, the streams of a
 * connection — rehashes into a new table every few dozen requests, and V8
 * keeps each old table linked to its successor (for iterators) with the
 * entries it had. Once one such table is in the old generation, every
 * successor and every object in flight when it was replaced survive
 * young-generation collections and are promoted: measured at 20k HTTP
 * requests/s, ~2.5 MB promoted per collection and 3–5 ms pauses instead of
 * ~0.5 ms (BENCHMARKS.md, "Requests that outlived their answers"). An array
 * whose slots are overwritten and cleared keeps no such chain.
 *
 * Iteration order is not insertion order (a delete moves the last object
 * into the freed slot). An object may be in several IndexedSets at once.
 */
export class IndexedSet<T extends object> implements Iterable<T> {
  private readonly items: T[] = [];
  private readonly slot = Symbol("IndexedSet slot");

  get size(): number {
    return this.items.length;
  }

  /** Adds `item` (no-op if it is in the set already). */
  add(item: T): void {
    if (this.has(item)) return;
    (item as Record<symbol, number>)[this.slot] = this.items.length;
    this.items.push(item);
  }

  has(item: T): boolean {
    const at = (item as Record<symbol, number | undefined>)[this.slot];
    return at !== undefined && this.items[at] === item;
  }

  /** Removes `item`; false if it was not in the set. */
  delete(item: T): boolean {
    const held = item as Record<symbol, number | undefined>;
    const at = held[this.slot];
    if (at === undefined || this.items[at] !== item) return false;
    held[this.slot] = undefined;
    const last = this.items.pop() as T;
    if (last !== item) {
      this.items[at] = last;
      (last as Record<symbol, number>)[this.slot] = at;
    }
    return true;
  }

  /** Removes every object. */
  clear(): void {
    for (const item of this.items)
      (item as Record<symbol, number | undefined>)[this.slot] = undefined;
    this.items.length = 0;
  }

  /** A copy of the members, safe to iterate while the set changes. */
  snapshot(): T[] {
    return this.items.slice();
  }

  /**
   * Calls `visit` with each member, in place: no copy. Why: the watch hub
   * looks up a key's watchers on every write, and a copy of a key with a
   * thousand watchers was a new array per write. `visit` must not add or
   * delete members (iterate a {@link snapshot} for that).
   */
  forEach(visit: (item: T) => void): void {
    const items = this.items;
    for (let i = 0; i < items.length; i++) visit(items[i] as T);
  }

  [Symbol.iterator](): Iterator<T> {
    return this.snapshot()[Symbol.iterator]();
  }
}
