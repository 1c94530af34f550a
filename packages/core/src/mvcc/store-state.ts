import { type Backend, Buckets } from "../backend/backend.js";
import { errStoreClosed } from "../errors.js";
import { IdTable } from "../id-table.js";
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
 * and dropped whole once its commit is durable.
 *
 * Not a Map keyed by "main:sub": an insert and a delete per change into a
 * table as old as the store is the churn that made V8 promote what the
 * table's replaced hash tables still held (see IdTable), and the key was
 * a string made three times per Put.
 */
export class PendingRecords {
  private readonly byMain = new IdTable<StoredRecord[]>();

  get(main: number, sub: number): StoredRecord | undefined {
    return this.byMain.get(main)?.[sub];
  }

  set(main: number, sub: number, rec: StoredRecord): void {
    let write = this.byMain.get(main);
    if (write === undefined) {
      write = [];
      this.byMain.set(main, write);
    }
    write[sub] = rec;
  }

  /** Drops every record of the write at `main`. */
  deleteWrite(main: number): void {
    this.byMain.delete(main);
  }

  /** Writes staged and not yet dropped. */
  get writes(): number {
    return this.byMain.size;
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
