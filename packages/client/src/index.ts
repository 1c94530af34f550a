/// <reference lib="esnext.disposable" preserve="true" />
// Public API of @conclave/client: a Conclave (etcd v3) client for Node and
// browsers over any Connect transport. No Node-only imports. The lib
// reference above gives programs that use these types `AsyncDisposable` and
// `Symbol.asyncDispose` (`await using` on leases, locks, leadership).

// The protobuf messages and enums results are made of, so code using the
// client does not need @conclave/proto: `e.type === EventType.DELETE`.
export {
  AlarmType,
  Compare_CompareResult as CompareResult,
  Compare_CompareTarget as CompareTarget,
  type Event,
  Event_EventType as EventType,
  EventReason,
  type KeyValue,
  type LeaderKey,
  Permission_Type as PermissionType,
  RangeRequest_SortOrder as SortOrder,
  RangeRequest_SortTarget as SortTarget,
  type Term,
} from "@conclave/proto";
// Shared with the server and dashboard (see @conclave/wire); part of this client's API.
export { defaultSessionTtl, prefixEnd } from "@conclave/wire";
export { type AuthSession, createAuthSession } from "./auth-session.js";
export { type Backoff, type BackoffOptions, createBackoff } from "./backoff.js";
export { ClientClosedError } from "./client-closed-error.js";
export {
  type ConclaveClient,
  type ConclaveClientOptions,
  createConclaveClient,
} from "./conclave-client.js";
export { type ConclaveServices, createConclaveServices } from "./conclave-services.js";
export {
  type CampaignOptions,
  createElection,
  type Election,
  type Leadership,
} from "./election.js";
export {
  createKvClient,
  type DeleteResult,
  type KvClient,
  type PutResult,
  type RangeResult,
  type TxnResult,
} from "./kv-client.js";
export {
  createLeaderElection,
  type LeaderElection,
  type LeaderElectionEvent,
  type LeaderElectionEventKind,
  type LeaderElectionList,
  listLeaderElections,
} from "./leader-election.js";
export {
  grantLease,
  type Lease,
  LeaseEndedError,
  type LeaseEndReason,
  type LeaseInput,
  type LeaseOptions,
  leaseIdOf,
} from "./lease.js";
export { acquireLock, type LockHandle, type LockOptions } from "./lock.js";
export type { DeleteOptions, KeySpan, RangeOptions } from "./range-request.js";
export {
  createReconnectingStream,
  isRetryable,
  type ReconnectingStream,
  type StreamOptions,
} from "./reconnecting-stream.js";
export { type BytesInput, toBytes, toText } from "./to-bytes.js";
export type { Compare, CompareOp, PutOptions, TxnOp, TxnSpec } from "./txn-request.js";
export {
  createWatchStream,
  type WatchEvent,
  type WatchOptions,
  type WatchStream,
  type WatchUpdate,
} from "./watch-stream.js";
