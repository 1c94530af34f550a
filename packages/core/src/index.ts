// Public API of @conclave/core.

// etcd's range-end rule, written once in @conclave/wire (the server's KV and
// both watch services normalise with it).
export { toRangeEnd, toWatchRange, type WatchRange } from "@conclave/wire";
export * from "./alarm/index.js";
export * from "./auth/index.js";
export type { Backend, BackendEntry, BackendOp } from "./backend/backend.js";
export { Buckets, bucketNames } from "./backend/backend.js";
export { DataDirError, dataDirLockName, lockDataDir } from "./backend/data-dir-lock.js";
export { hashBuckets } from "./backend/hash-buckets.js";
export {
  createLmdbBackend,
  defaultBatchIntervalMs,
  defaultBatchLimit,
  type LmdbBackendOptions,
  type LmdbBatchOptions,
} from "./backend/lmdb-backend.js";
export { createMemoryBackend } from "./backend/memory-backend.js";
export {
  type AutoCompactionMode,
  type AutoCompactor,
  type AutoCompactorOptions,
  createAutoCompactor,
} from "./compactor/auto-compactor.js";
export {
  defaultAuthTokenTtlSeconds,
  defaultJwtTtlMs,
  defaultLeaseGraceMs,
  defaultListenClientUrl,
  defaultMaxRequestBytes,
  defaultMaxTxnOps,
  defaultMemberName,
} from "./defaults.js";
export * from "./errors.js";
export { grpcOverheadBytes } from "./grpc-overhead-bytes.js";
export { IdMap } from "./id-map.js";
export { IndexedSet } from "./indexed-set.js";
export {
  createKvApplier,
  type KvApplier,
  type KvApplierOptions,
} from "./kv/kv-applier.js";
export type { KeyScope, KvAuthorizer } from "./kv/kv-authorizer.js";
export type { LeaseLookup } from "./lease/lease-lookup.js";
export { noLeases } from "./lease/lease-lookup.js";
export {
  createLessor,
  type LeaseInfo,
  type LeaseRevokeAuthorizer,
  type Lessor,
  type LessorOptions,
  leaseRecordOp,
  maxLeaseTtl,
} from "./lease/lessor.js";
export { inspectStore, type StoreSummary } from "./mvcc/inspect-store.js";
export {
  type CommittedWrite,
  type HistorySpan,
  type KeyMeta,
  type KvStore,
  type KvStoreOptions,
  type LeaseHooks,
  openKvStore,
  type RangeEnd,
  type RangeMetaResult,
  type RangeOptions,
  type RangeResult,
  type ReadView,
  type WriteResult,
  type WriteTxn,
} from "./mvcc/kv-store.js";
export type { MvccStats } from "./mvcc/mvcc-stats.js";
export type { Revision } from "./mvcc/revision.js";
export {
  defaultRevisionBatchBytes,
  type RevisionRecord,
  type RevisionRecordBatch,
  revisionRecordOp,
} from "./mvcc/revision-records.js";
export { storeMetaOps } from "./mvcc/store-meta.js";
export type {
  ClusterMembership,
  LeaseDeadlines,
  LeaseGrant,
  LogAppend,
  LogRecord,
  ReplicaMember,
  ReplicationStorage,
  SharedLog,
} from "./replication/replication-storage.js";
export { LogNotEmptyError } from "./replication/replication-storage.js";
export * from "./requests.js";
export * from "./types.js";
export {
  createWatchHub,
  type WatchBatch,
  type WatchEvent,
  type Watcher,
  type WatchHub,
  type WatchHubOptions,
  type WatchOptions,
  type WatchSink,
} from "./watch/watch-hub.js";
