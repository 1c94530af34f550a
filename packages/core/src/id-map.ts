/**
 * Values by positive integer id (1 to 2^31 − 1: HTTP/2 stream ids), for a
 * table that lives as long as a connection and sees an insert and a delete
 * per request.
 *
 * Why not a `Map`: V8 rehashes such a Map into a new table every few
 * requests and links the old table to its successor (for live iterators).
 * Once one old table is in the old generation, the chain from it keeps every
 * later table, and what each held, alive through young-generation
 * collections: with the gRPC engine's streams in a Map, every Put at c=100
 * was promoted (~2 MB per scavenge, 3.8 ms pauses every ~30 ms; with this
 * table 0.25 MB and 1.7 ms: BENCHMARKS.md, "The engine's stream table").
 * This one is open addressing over two arrays that are replaced only when
 * they grow, so nothing links one generation of the table to the next.
 *
 * Linear probing with Fibonacci hashing (sequential ids land in sequential
 * slots) and backward-shift deletion (no tombstones), at most half full.
 */
export class IdMap<V> {
  private ids: Int32Array;
  private values: (V | undefined)[];
  private mask: number;
  private shift: number;
  private count = 0;

  /** `capacity`: slots to start with, rounded up to a power of two (default 16). */
  constructor(capacity = 16) {
    let bits = 4;
    while (1 << bits < capacity) bits++;
    this.ids = new Int32Array(1 << bits);
    this.values = new Array<V | undefined>(1 << bits).fill(undefined);
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
  }

  get size(): number {
    return this.count;
  }

  private home(id: number): number {
    return Math.imul(id, 0x9e3779b1) >>> this.shift;
  }

  /** The slot holding `id`, or -1. */
  private find(id: number): number {
    const { ids, mask } = this;
    for (let i = this.home(id); ; i = (i + 1) & mask) {
      const at = ids[i] as number;
      if (at === id) return i;
      if (at === 0) return -1;
    }
  }

  get(id: number): V | undefined {
    const i = this.find(id);
    return i < 0 ? undefined : this.values[i];
  }

  has(id: number): boolean {
    return this.find(id) >= 0;
  }

  /** Sets `id` (a positive 31-bit integer) to `value`. */
  set(id: number, value: V): this {
    if (!(id > 0 && id <= 0x7fff_ffff && Number.isInteger(id))) {
      throw new RangeError(`IdMap: id ${id} is not a positive 31-bit integer`);
    }
    if ((this.count + 1) * 2 > this.ids.length) this.grow();
    const { ids, mask } = this;
    let i = this.home(id);
    for (; ids[i] !== 0; i = (i + 1) & mask) {
      if (ids[i] === id) {
        this.values[i] = value;
        return this;
      }
    }
    ids[i] = id;
    this.values[i] = value;
    this.count++;
    return this;
  }

  /** Removes `id`; false if it had no entry. */
  delete(id: number): boolean {
    let i = this.find(id);
    if (i < 0) return false;
    const { ids, values, mask } = this;
    // Backward shift: move each later entry of the run whose home is not
    // between the hole and it into the hole, so lookups never cross a gap.
    for (let j = (i + 1) & mask; ids[j] !== 0; j = (j + 1) & mask) {
      const k = this.home(ids[j] as number);
      const stays = i <= j ? i < k && k <= j : i < k || k <= j;
      if (stays) continue;
      ids[i] = ids[j] as number;
      values[i] = values[j];
      i = j;
    }
    ids[i] = 0;
    values[i] = undefined;
    this.count--;
    return true;
  }

  /** The values, a copy (safe to use while the table changes), in no set order. */
  valuesSnapshot(): V[] {
    const out: V[] = [];
    const { ids, values } = this;
    for (let i = 0; i < ids.length; i++) if (ids[i] !== 0) out.push(values[i] as V);
    return out;
  }

  clear(): void {
    this.ids.fill(0);
    this.values.fill(undefined);
    this.count = 0;
  }

  private grow(): void {
    const { ids, values } = this;
    const size = ids.length * 2;
    this.ids = new Int32Array(size);
    this.values = new Array<V | undefined>(size).fill(undefined);
    this.mask = size - 1;
    this.shift--;
    this.count = 0;
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] !== 0) this.set(ids[i] as number, values[i] as V);
    }
  }
}
