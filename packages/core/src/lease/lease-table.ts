import { DeadlineHeap } from "./deadline-heap.js";

const graced = 1;
const revoking = 2;
const dirty = 4;

/**
 * The lessor's leases, compactly: a lease is a slot number, and its fields
 * live in arrays indexed by slot (TTL and deadline in Float64Arrays, flags in
 * a Uint8Array, the ID in a plain array that shares the Map's bigint), with
 * one Map from ID to slot. Deadlines are also kept in a {@link DeadlineHeap},
 * so finding the leases due is a look at its top, not a scan. Attached keys
 * are kept as the index's binary strings: none (nothing allocated), one (the
 * string itself) or a Set of them.
 *
 * Before, a lease was an object with a Map of keys (each key's bytes
 * retained beside its string), and every 50 ms the expiry check copied and
 * filtered all of them.
 */
export class LeaseTable {
  private readonly slotOf = new Map<bigint, number>();
  private ids: bigint[] = [];
  private ttls = new Float64Array(16);
  private deadlines = new Float64Array(16);
  private flags = new Uint8Array(16);
  private keys: Array<string | Set<string> | undefined> = [];
  private readonly freeSlots: number[] = [];
  private readonly dirtySlots: number[] = [];
  /** Every lease by deadline, except those being revoked. */
  private readonly heap = new DeadlineHeap();

  /** Leases held, including one being revoked. */
  get size(): number {
    return this.slotOf.size;
  }

  /** The lease's slot, or -1 when it is not held. */
  slot(id: bigint): number {
    return this.slotOf.get(id) ?? -1;
  }

  /** Adds a lease (which must not be held) and returns its slot. */
  add(id: bigint, ttl: number, deadline: number, isGraced: boolean): number {
    if (this.slotOf.has(id)) throw new Error(`lease ${id} already held`);
    let s = this.freeSlots.pop();
    if (s === undefined) {
      s = this.ids.length;
      this.ids.push(id);
      this.keys.push(undefined);
      if (s >= this.ttls.length) this.grow(s + 1);
    } else {
      this.ids[s] = id;
      this.keys[s] = undefined;
    }
    this.slotOf.set(id, s);
    this.ttls[s] = ttl;
    this.deadlines[s] = deadline;
    this.flags[s] = isGraced ? graced : 0;
    this.heap.set(s, deadline);
    return s;
  }

  /** Drops the lease in `slot`; the slot may be reused by the next {@link add}. */
  remove(slot: number): void {
    const id = this.ids[slot];
    if (id === undefined || this.slotOf.get(id) !== slot) return;
    this.slotOf.delete(id);
    this.heap.delete(slot);
    this.flags[slot] = 0;
    this.keys[slot] = undefined;
    this.ids[slot] = 0n;
    this.freeSlots.push(slot);
  }

  id(slot: number): bigint {
    return this.ids[slot] as bigint;
  }
  ttl(slot: number): number {
    return this.ttls[slot] as number;
  }
  deadline(slot: number): number {
    return this.deadlines[slot] as number;
  }
  graced(slot: number): boolean {
    return ((this.flags[slot] as number) & graced) !== 0;
  }
  revoking(slot: number): boolean {
    return ((this.flags[slot] as number) & revoking) !== 0;
  }

  /** Moves the deadline (a renewal clears the restart grace and marks the lease for persisting). */
  renew(slot: number, deadline: number): void {
    this.deadlines[slot] = deadline;
    const f = this.flags[slot] as number;
    this.flags[slot] = (f & ~graced) | dirty;
    if ((f & dirty) === 0) this.dirtySlots.push(slot);
    if ((f & revoking) === 0) this.heap.set(slot, deadline);
  }

  /** A lease being revoked is no longer due; clearing the mark makes it due again. */
  setRevoking(slot: number, on: boolean): void {
    const f = this.flags[slot] as number;
    if (on) {
      this.flags[slot] = f | revoking;
      this.heap.delete(slot);
    } else {
      this.flags[slot] = f & ~revoking;
      this.heap.set(slot, this.deadlines[slot] as number);
    }
  }

  /**
   * Takes the lease with the earliest deadline at or before `now` (not being
   * revoked) off the deadline heap and returns its slot, or -1. It is due
   * again only once {@link setRevoking}(slot, false) or {@link renew} puts
   * it back.
   */
  popDue(now: number): number {
    return this.heap.peekDeadline() <= now ? this.heap.pop() : -1;
  }

  /** Whether any renewed lease waits to be persisted. */
  hasDirty(): boolean {
    return this.dirtySlots.length > 0;
  }

  /** The slots renewed since the last call (each once, only leases still held), clearing their mark. */
  takeDirty(): number[] {
    const out: number[] = [];
    for (const s of this.dirtySlots) {
      const f = this.flags[s] as number;
      if ((f & dirty) === 0) continue; // removed (and perhaps reused) since
      this.flags[s] = f & ~dirty;
      out.push(s);
    }
    this.dirtySlots.length = 0;
    return out;
  }

  attach(slot: number, key: string): void {
    const k = this.keys[slot];
    if (k === undefined) this.keys[slot] = key;
    else if (typeof k === "string") {
      if (k !== key) this.keys[slot] = new Set([k, key]);
    } else k.add(key);
  }

  detach(slot: number, key: string): void {
    const k = this.keys[slot];
    if (k === undefined) return;
    if (typeof k === "string") {
      if (k === key) this.keys[slot] = undefined;
      return;
    }
    k.delete(key);
    if (k.size === 1) this.keys[slot] = k.values().next().value;
  }

  keyCount(slot: number): number {
    const k = this.keys[slot];
    return k === undefined ? 0 : typeof k === "string" ? 1 : k.size;
  }

  /** The attached keys, sorted (binary strings sort as their bytes do). */
  sortedKeys(slot: number): string[] {
    const k = this.keys[slot];
    if (k === undefined) return [];
    if (typeof k === "string") return [k];
    return [...k].sort();
  }

  /** Every lease ID held. */
  allIds(): IterableIterator<bigint> {
    return this.slotOf.keys();
  }

  private grow(min: number): void {
    const c = Math.max(min, this.ttls.length * 2);
    const ttls = new Float64Array(c);
    ttls.set(this.ttls);
    const deadlines = new Float64Array(c);
    deadlines.set(this.deadlines);
    const flags = new Uint8Array(c);
    flags.set(this.flags);
    this.ttls = ttls;
    this.deadlines = deadlines;
    this.flags = flags;
  }
}
