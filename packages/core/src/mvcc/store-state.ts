import { type Backend, Buckets } from "../backend/backend.js";
import { errStoreClosed } from "../errors.js";
import type { KeyIndex } from "./key-index.js";
import type { LeaseHooks } from "./kv-store.js";
import type { MvccStats } from "./mvcc-stats.js";
import { decodeRecord, type StoredRecord } from "./record-codec.js";
import { type Revision, revisionToBytes } from "./revision.js";

/**
 * What the parts of one KV store share (etcd's `store` struct, whose methods
 * are spread over kvstore.go, kvstore_txn.go and kvstore_compaction.go):
 * the backend, the in-memory index, and the revisions. Only the store's own
 * modules touch it; everyone else sees {@link KvStore}.
 */
export interface StoreState {
  readonly backend: Backend;
  readonly index: KeyIndex;
  readonly leases: LeaseHooks | undefined;
  /** Records written but maybe not yet readable from the backend. */
  readonly pending: PendingRecords;
  /** Ranges, puts, deletes and txns served so far (etcd's mvcc counters). */
  readonly stats: MvccStats;
  /** Latest applied main revision. */
  current: number;
  /** Latest main revision known to be durable; reads are served here. */
  durable: number;
  /** Compaction revision, -1 before the first compaction (as in etcd). */
  compactMain: number;
  /** The first commit or apply failure: once set, the store takes no more writes. */
  failure: unknown;
  closed: boolean;
}

/**
 * The records of writes not yet durable, by main revision and sub-revision
 * (a change's position in its write): each write is staged as it applies
 * and dropped whole once its commit is durable, in revision order.
 *
 * A queue indexed by revision, not a Map keyed by "main:sub": writes come
 * and go in revision order, so a slot is found by subtraction; and an
 * insert and a delete per change into a hash table as old as the store is
 * the churn that made V8 promote what the table's replaced tables still
 * held (see IndexedSet), with a string key made three times per Put.
 */
export class PendingRecords {
  /** Staged writes from revision `base` on; undefined where a write was dropped (or had none). */
  private writes: (StoredRecord[] | undefined)[] = [];
  private head = 0;
  private base = 0;
  private staged = 0;

  get(main: number, sub: number): StoredRecord | undefined {
    const at = main - this.base;
    if (at < 0 || at >= this.writes.length - this.head) return undefined;
    return this.writes[this.head + at]?.[sub];
  }

  set(main: number, sub: number, rec: StoredRecord): void {
    if (this.staged === 0) {
      // Nothing staged: start the queue at this write.
      this.writes.length = 0;
      this.head = 0;
      this.base = main;
    } else if (main < this.base) {
      // Revisions only grow; should an older one come, make room in front.
      const gap = this.base - main;
      this.compact();
      this.writes.unshift(...new Array<undefined>(gap));
      this.base = main;
    }
    const at = this.head + (main - this.base);
    while (this.writes.length <= at) this.writes.push(undefined);
    let write = this.writes[at];
    if (write === undefined) {
      write = [];
      this.writes[at] = write;
      this.staged++;
    }
    write[sub] = rec;
  }

  /** Drops every record of the write at `main`. */
  deleteWrite(main: number): void {
    const at = main - this.base;
    if (at < 0 || at >= this.writes.length - this.head) return;
    if (this.writes[this.head + at] === undefined) return;
    this.writes[this.head + at] = undefined;
    this.staged--;
    // Move past the dropped writes at the front.
    while (this.head < this.writes.length && this.writes[this.head] === undefined) {
      this.head++;
      this.base++;
    }
    if (this.head === this.writes.length) {
      this.writes.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.writes.length) {
      this.compact();
    }
  }

  /** Writes staged and not yet dropped. */
  get writeCount(): number {
    return this.staged;
  }

  private compact(): void {
    this.writes.splice(0, this.head);
    this.head = 0;
  }
}

/** The record of an indexed revision: pending if not yet committed, else from the backend. */
export function loadRecord(state: StoreState, r: Revision): StoredRecord {
  const p = state.pending.get(r.main, r.sub);
  if (p !== undefined) return p;
  const raw = state.backend.get(Buckets.key, revisionToBytes(r.main, r.sub));
  if (raw === undefined) {
    throw new Error(`mvcc: revision ${r.main}.${r.sub} is indexed but not stored`);
  }
  return decodeRecord(raw);
}

/** Throws the failure that stopped the store, or errStoreClosed after close. */
export function checkOpen(state: StoreState): void {
  if (state.failure !== undefined) throw state.failure;
  if (state.closed) throw errStoreClosed;
}
