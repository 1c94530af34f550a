// Public API of @conclave/server.

export { type AsyncQueue, createAsyncQueue } from "./async-queue.js";
export { authorizerOf, callerOf } from "./auth-guard.js";
export { type AuthNeed, authPolicy, type MethodNeed } from "./auth-policy.js";
export { createAuthService } from "./auth-service.js";
export {
  type CallContext,
  type CallContextInit,
  type CallerCredentials,
  type CallLimits,
  type CallProtocol,
  callContextKey,
  callContextOf,
  callContextValues,
  createCallContext,
  defaultReadMaxBytes,
} from "./call-context.js";

export { createClusterService } from "./cluster-service.js";
export { createConclaveLeaseService } from "./conclave-lease-service.js";
export {
  cutDeepTxn,
  cutDeepTxnJson,
  fromBinaryRequest,
  txnRequestTypeName,
} from "./deep-txn.js";
export { createElectionService } from "./election-service.js";
export { errorInterceptor } from "./error-interceptor.js";
export * from "./errors.js";
export {
  defaultInitialAdvertisePeerUrls,
  defaultInitialClusterToken,
  etcdClusterId,
  etcdIdsOf,
  etcdMemberId,
  type InitialCluster,
} from "./etcd-member-ids.js";
export { fillHeader } from "./header.js";
export { createIdentityService } from "./identity-service.js";
export { createKvService } from "./kv-service.js";
export {
  createElectionStore,
  type ElectionSnapshot,
  type ElectionStore,
} from "./leader-election/election-store.js";
export {
  createLeaderElectionExpiry,
  type LeaderElectionExpiry,
} from "./leader-election/leader-election-expiry.js";
export { createLeaderElectionService } from "./leader-election/leader-election-service.js";
export { createLeaseService } from "./lease-service.js";
export { createLocalClient, type LocalClient } from "./local-client.js";
export { createLockService } from "./lock-service.js";
export {
  createMaintenanceService,
  etcdApiVersion,
  etcdClusterVersion,
} from "./maintenance-service.js";
export {
  allocEnvelope,
  envelopePrefixBytes,
  rememberEnvelope,
  rememberedEncoding,
  rememberedEnvelope,
} from "./message-encoding.js";
export { type ClientTraffic, createMetrics, etcdDiskBuckets, type Metrics } from "./metrics.js";
export { peerCommonNameKey } from "./peer-identity.js";
export { createQuotaInterceptor } from "./quota-interceptor.js";
export {
  type MigrateEmbeddedStoreOptions,
  type MigrateProgress,
  type MigrateSummary,
  migrateEmbeddedStore,
} from "./replication/migrate-embedded-store.js";
export {
  openReplicaContext,
  type ReplicaContextOptions,
} from "./replication/open-replica-context.js";
export { createRoutes } from "./routes.js";
export {
  closeServerContext,
  openServerContext,
  type ServerContext,
  type ServerContextOptions,
} from "./server-context.js";
export {
  type RestoredSnapshot,
  type RestoreEtcdSnapshotOptions,
  restoreEtcdSnapshot,
} from "./snapshot/restore-etcd-snapshot.js";
export {
  type EtcdSnapshotInfo,
  type SnapshotProgress,
  type WriteEtcdSnapshotOptions,
  writeEtcdSnapshot,
} from "./snapshot/write-etcd-snapshot.js";
export { maxMessageDepth, maxTxnNesting, validateTxn } from "./validation.js";
export { createWatchService, type WatchServiceOptions } from "./watch-service.js";
export {
  createWatchStreamService,
  type WatchStreamServiceOptions,
} from "./watch-stream-service.js";
export { createWhileLeading, type Duty } from "./while-leading.js";
export { withAuthPolicy } from "./with-auth-policy.js";
