/**
 * The local storage port of the core: a small, ordered, bucketed key-value
 * store on this machine with durable batched commits — the shape of etcd's
 * bbolt backend.
 *
 * Reads are synchronous on purpose: the MVCC store reads records in the
 * middle of serving a request (ranges, prev_kv, compares) and while it
 * restores its index, and etcd's mvcc reads bbolt the same way. So this is
 * not a network storage port, and a store that lives elsewhere (PostgreSQL)
 * does not implement it: a replica over PostgreSQL keeps one of these as its
 * local copy and follows the shared log into it (docs/design.md, "The
 * storage port"). The record format is the MVCC store's: other layers read
 * history, hashes and snapshots through the store (`history`, `hashByRev`),
 * not through buckets.
 *
 * The MVCC layer above stores revisions in the `key` bucket and its own state
 * in `meta`; the lessor and later subsystems add buckets of their own. Keys in a
 * bucket are ordered bytewise.
 *
 * Contract every implementation must keep (see `backend-conformance.ts`):
 * - `commit` applies its operations atomically and resolves only once they are
 *   durable; commits become visible and durable in call order.
 * - Reads (`get`, `range`) are synchronous and see every commit that has
 *   resolved. Whether they already see a commit still in flight is unspecified,
 *   so callers keep in-flight writes in memory until the commit resolves.
 */
export interface Backend {
  /** A short name for logs and status ("lmdb", "memory"). */
  readonly kind: string;
  /** The value stored under `key` in `bucket`, or undefined. */
  get(bucket: string, key: Uint8Array): Uint8Array | undefined;
  /**
   * Entries of `bucket` with `start <= key < end` in ascending key order.
   * `start` undefined means from the first key, `end` undefined means to the last.
   */
  range(bucket: string, start?: Uint8Array, end?: Uint8Array): Iterable<BackendEntry>;
  /** Writes (value set) and deletes (value undefined) atomically and durably. */
  commit(ops: readonly BackendOp[]): Promise<void>;
  /**
   * Calls `listener` once per durable write to the disk, with how long it
   * took in seconds and which `stage` it was (etcd's disk latency
   * histograms): `"log"` for a batch of commits made durable in a
   * write-ahead log (etcd's WAL fsync), `"store"` for a transaction of the
   * store's own file synced (etcd's backend commit). A backend without a
   * disk (the in-memory one) never calls it. Returns unsubscribe.
   */
  onCommitDuration(listener: (seconds: number, stage: CommitStage) => void): () => void;
  /** Bytes the backend occupies on its medium (etcd's db size). */
  sizeBytes(): number;
  /** Bytes holding live data (etcd's db size in use); equals sizeBytes when unknown. */
  sizeInUseBytes(): number;
  /**
   * Writes a consistent copy of everything committed so far to `path` (for
   * Maintenance.Snapshot). The file's size is a multiple of 512 bytes, which
   * etcdctl's `snapshot save` expects of a database image.
   */
  snapshotTo(path: string): Promise<void>;
  /**
   * Gives the space of deleted data back to the medium (etcd's defrag).
   * Reads go on meanwhile; commits issued meanwhile wait and then apply in
   * order. A crash at any point loses no committed write.
   */
  defragment(): Promise<void>;
  /** Waits for in-flight commits and releases the medium. */
  close(): Promise<void>;
}

/** Which write {@link Backend.onCommitDuration} times. */
export type CommitStage = "log" | "store";

export interface BackendEntry {
  key: Uint8Array;
  value: Uint8Array;
}

export interface BackendOp {
  bucket: string;
  key: Uint8Array;
  /** The new value; undefined deletes the key. */
  value: Uint8Array | undefined;
}

/** Bucket names used by the core. */
export const Buckets = {
  /** Revision (16 bytes: main, sub big-endian) → encoded key-value record. */
  key: "key",
  /** Store state: current revision, compaction marks. */
  meta: "meta",
  /** Lease ID (8 bytes big-endian) → encoded lease. */
  lease: "lease",
  /** Auth state: enabled flag and auth revision (etcd's `auth` bucket). */
  auth: "auth",
  /** User name → encoded user (etcd's `authUsers`). */
  authUsers: "authUsers",
  /** Role name → encoded role (etcd's `authRoles`). */
  authRoles: "authRoles",
  /** Member ID (8 bytes) + alarm type → empty (etcd's `alarm`). */
  alarm: "alarm",
} as const;

/** The core's shared buckets: what a hash covers and what a replica or a migration copies. */
export const bucketNames: readonly string[] = Object.values(Buckets);

/**
 * Buckets a member keeps for itself beside {@link Buckets}: derived data that
 * only speeds this member up. They are not part of the store's contents, so
 * Maintenance.Hash skips them and nothing copies them to a replica; a
 * database copy (defrag, backup) carries them along, which is harmless since
 * what they hold is checked against the shared buckets before use.
 */
export const LocalBuckets = {
  /** The MVCC store's index checkpoint (mvcc/index-checkpoint.ts). */
  indexCheckpoint: "indexCheckpoint",
} as const;

export const localBucketNames: readonly string[] = Object.values(LocalBuckets);
