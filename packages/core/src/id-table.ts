/**
 * Values by non-negative integer id (HTTP/2 stream ids, revisions), for
 * tables that see an insert and a delete per request while they live as
 * long as a connection or the server. Ids below 2^32 − 1 are kept as
 * indexed properties; larger ones work too, as named properties.
 *
 * Why not a `Map`: a Map with that churn rehashes every few dozen requests
 * and V8 links each old table to its successor, entries included; once one
 * old table is in the old generation, every request's objects get promoted
 * (see IndexedSet). The entries are kept as an object's indexed properties
 * instead — a dictionary V8 rehashes without linking old tables to new.
 */
export class IdTable<V> {
  private entries: Record<number, V> = Object.create(null);
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: number): V | undefined {
    return this.entries[id];
  }

  has(id: number): boolean {
    return this.entries[id] !== undefined;
  }

  /** Sets `id` to `value` (which must not be undefined). */
  set(id: number, value: V): void {
    if (this.entries[id] === undefined) this.count++;
    this.entries[id] = value;
  }

  /** Removes `id`; false if it had no entry. */
  delete(id: number): boolean {
    if (this.entries[id] === undefined) return false;
    delete this.entries[id];
    this.count--;
    return true;
  }

  /** The values (in id order for ids below 2^32 − 1): a copy, safe to use while the table changes. */
  values(): V[] {
    return Object.values(this.entries);
  }

  clear(): void {
    this.entries = Object.create(null);
    this.count = 0;
  }
}
