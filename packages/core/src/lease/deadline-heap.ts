/**
 * A min-heap of small integer items (slot numbers) ordered by a number each
 * (a deadline), with the item's place kept so that changing or removing any
 * item is O(log n) — what etcd's LeaseQueue does with `heap.Fix`, over typed
 * arrays: no object per item, and nothing to scan to find what is due.
 *
 * Items are the integers 0 … capacity-1; the heap grows as larger ones are
 * set. Among equal deadlines the order is unspecified.
 */
export class DeadlineHeap {
  /** Heap order: `heap[0]` is the item with the smallest deadline. */
  private heap: Int32Array;
  /** Item → its index in `heap`, or -1 when absent. */
  private pos: Int32Array;
  /** Item → its deadline (meaningful only while present). */
  private key: Float64Array;
  private n = 0;

  constructor(capacity = 16) {
    const c = Math.max(1, capacity);
    this.heap = new Int32Array(c);
    this.pos = new Int32Array(c).fill(-1);
    this.key = new Float64Array(c);
  }

  /** Items in the heap. */
  get size(): number {
    return this.n;
  }

  has(item: number): boolean {
    return item < this.pos.length && (this.pos[item] as number) >= 0;
  }

  /** The item's deadline, or undefined when it is not in the heap. */
  deadline(item: number): number | undefined {
    return this.has(item) ? this.key[item] : undefined;
  }

  /** The item with the smallest deadline, or -1 when empty. */
  peek(): number {
    return this.n === 0 ? -1 : (this.heap[0] as number);
  }

  /** The smallest deadline, or +Infinity when empty. */
  peekDeadline(): number {
    return this.n === 0 ? Number.POSITIVE_INFINITY : (this.key[this.heap[0] as number] as number);
  }

  /** Adds `item` with `deadline`, or moves it to `deadline` if present. */
  set(item: number, deadline: number): void {
    if (!Number.isInteger(item) || item < 0) throw new RangeError(`bad heap item ${item}`);
    if (item >= this.pos.length) this.grow(item + 1);
    const at = this.pos[item] as number;
    if (at < 0) {
      this.key[item] = deadline;
      this.place(this.n++, item);
      this.up(this.n - 1);
      return;
    }
    const old = this.key[item] as number;
    this.key[item] = deadline;
    if (deadline < old) this.up(at);
    else if (deadline > old) this.down(at);
  }

  /** Removes `item`; false when it was not in the heap. */
  delete(item: number): boolean {
    if (!this.has(item)) return false;
    const at = this.pos[item] as number;
    this.pos[item] = -1;
    const last = this.heap[--this.n] as number;
    if (at === this.n) return true;
    this.place(at, last);
    // The moved item may belong above or below its new place.
    this.up(at);
    this.down(this.pos[last] as number);
    return true;
  }

  /** Removes and returns the item with the smallest deadline, or -1 when empty. */
  pop(): number {
    const top = this.peek();
    if (top >= 0) this.delete(top);
    return top;
  }

  private place(at: number, item: number): void {
    this.heap[at] = item;
    this.pos[item] = at;
  }

  private up(at: number): void {
    const { heap, key } = this;
    const item = heap[at] as number;
    const k = key[item] as number;
    let i = at;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as number;
      if ((key[p] as number) <= k) break;
      this.place(i, p);
      i = parent;
    }
    if (i !== at) this.place(i, item);
  }

  private down(at: number): void {
    const { heap, key } = this;
    const item = heap[at] as number;
    const k = key[item] as number;
    let i = at;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= this.n) break;
      const right = left + 1;
      let child = left;
      if (
        right < this.n &&
        (key[heap[right] as number] as number) < (key[heap[left] as number] as number)
      ) {
        child = right;
      }
      const c = heap[child] as number;
      if ((key[c] as number) >= k) break;
      this.place(i, c);
      i = child;
    }
    if (i !== at) this.place(i, item);
  }

  private grow(min: number): void {
    const c = Math.max(min, this.pos.length * 2);
    const heap = new Int32Array(c);
    heap.set(this.heap);
    const pos = new Int32Array(c).fill(-1);
    pos.set(this.pos);
    const key = new Float64Array(c);
    key.set(this.key);
    this.heap = heap;
    this.pos = pos;
    this.key = key;
  }
}
