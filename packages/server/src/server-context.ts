import { randomBytes } from "node:crypto";
import {
  type AlarmStore,
  type AuthStore,
  type Backend,
  type BackendQuota,
  createAlarmStore,
  createAuthStore,
  createBackendQuota,
  createKvApplier,
  createLessor,
  createLmdbBackend,
  createMemoryBackend,
  createWatchHub,
  defaultListenClientUrl,
  defaultMaxRequestBytes,
  defaultMaxTxnOps,
  defaultMemberName,
  type JwtTokens,
  type KvApplier,
  type KvStore,
  type Lessor,
  type LmdbBatchOptions,
  openKvStore,
  type ReplicaMember,
  type WatchHub,
} from "@conclave/core";

/** What every service of one Conclave member shares. */
export interface ServerContext {
  store: KvStore;
  kv: KvApplier;
  lessor: Lessor;
  hub: WatchHub;
  /** Users, roles, permissions and tokens (etcd's auth store). */
  auth: AuthStore;
  /** Raised alarms (NOSPACE), persisted (etcd's alarm store). */
  alarms: AlarmStore;
  /** `--quota-backend-bytes`: whether a write still fits. */
  quota: BackendQuota;
  /** This member's name (`--name`). */
  name: string;
  /** 64-bit member ID, stable across restarts (kept in the data dir). */
  memberId: bigint;
  /** 64-bit cluster ID, stable across restarts. */
  clusterId: bigint;
  /** URLs clients are told to use (`--advertise-client-urls`). */
  clientUrls: string[];
  /** `--max-txn-ops`, default 128 (`defaultMaxTxnOps`). */
  maxTxnOps: number;
  /** `--max-request-bytes`, default 1.5 MiB (`defaultMaxRequestBytes`). */
  maxRequestBytes: number;
  /** Term reported in headers; a single member that never lost leadership stays in term 1. */
  raftTerm: bigint;
  /** Aborted when the context closes: background loops of services stop on it. */
  lifetime: AbortSignal;
  /** Logs an operational event (snapshot progress); see ServerContextOptions.log. */
  log: OperationLog;
  /**
   * The other members, when there are any: a replica over PostgreSQL sees
   * every live replica and the one running the cluster duties (its "leader").
   * Undefined for the embedded mode's single member, which leads itself.
   */
  cluster?: {
    members(): Promise<ReplicaMember[]>;
    /** The member ID running the cluster duties, 0 when none is known. */
    leader(): bigint;
    /** Whether this member runs them. */
    isLeader(): boolean;
    /** Told when this member gains or loses them. Returns unsubscribe. */
    onDuties(listener: (held: boolean) => void): () => void;
  };
}

export interface ServerContextOptions {
  /** Data directory; ":memory:" keeps everything in memory (not durable). */
  dataDir: string;
  /** Where the store's write-ahead log lives (`--wal-dir`); default `dataDir`. */
  walDir?: string;
  /** `--backend-batch-interval` / `--backend-batch-limit` (createLmdbBackend's `batch`). */
  backendBatch?: LmdbBatchOptions;
  /**
   * The member and cluster IDs a new data dir gets: etcd's, derived from
   * its bootstrap flags (etcdIdsOf), so a server started as an etcd would be
   * gets that etcd's IDs. Random when absent. A data dir keeps the IDs it
   * was created with, as etcd's does.
   */
  initialIds?: { memberId: bigint; clusterId: bigint };
  name?: string;
  clientUrls?: string[];
  maxTxnOps?: number;
  maxRequestBytes?: number;
  /** Told about each lease revoked because it expired (for logs). */
  onLeaseExpired?: (id: bigint, keys: number) => void;
  /** `--auth-token-ttl`: seconds an unused simple token stays valid. Default 300. */
  authTokenTtl?: number;
  /** `--bcrypt-cost`: cost of the bcrypt hash kept for etcd beside each password. Default 10. */
  bcryptCost?: number;
  /**
   * `--auth-token jwt,…`: the JWT provider (core's `createJwtTokens`, built
   * by the caller so a bad key stops the start before storage is opened).
   * Default: simple tokens.
   */
  jwtTokens?: JwtTokens;
  /** `--quota-backend-bytes`: 0 (default) is etcd's 2 GiB, negative turns the quota off. */
  quotaBackendBytes?: number;
  /**
   * Where long operations (snapshots) report progress, one line per step.
   * Default: nowhere. apps/server passes its logger's `info`.
   */
  log?: OperationLog;
}

/** An info-level log line: structured fields and a message (pino's argument order). */
export type OperationLog = (fields: Record<string, unknown>, message: string) => void;

const idsKey = new TextEncoder().encode("memberIds");

/** Reads or creates the member and cluster IDs, once per data dir like etcd's. */
async function loadIds(
  backend: Backend,
  initial: { memberId: bigint; clusterId: bigint } | undefined,
): Promise<{ memberId: bigint; clusterId: bigint }> {
  const stored = backend.get("meta", idsKey);
  if (stored !== undefined && stored.length === 16) {
    const v = new DataView(stored.buffer, stored.byteOffset, 16);
    return { memberId: v.getBigUint64(0), clusterId: v.getBigUint64(8) };
  }
  const raw = randomBytes(16);
  const v = new DataView(raw.buffer, raw.byteOffset, 16);
  // Keep random IDs non-zero, as etcd's are.
  const memberId = initial?.memberId ?? v.getBigUint64(0) | 1n;
  const clusterId = initial?.clusterId ?? v.getBigUint64(8) | 1n;
  v.setBigUint64(0, memberId);
  v.setBigUint64(8, clusterId);
  await backend.commit([{ bucket: "meta", key: idsKey, value: new Uint8Array(raw) }]);
  return { memberId, clusterId };
}

/**
 * Opens storage and builds the shared context: the composition root of the
 * core. The core's parts start nothing when constructed; this starts their
 * background duties — the lessor's expiry check, the watch hub's
 * subscription to the store and its catch-up timer, the token sweep — and
 * {@link closeServerContext} stops them before the store closes. Duties of
 * the services (the LeaderElection expiry) are started by whoever serves
 * them (apps/server's main), after this, and closed before it.
 */
export async function openServerContext(options: ServerContextOptions): Promise<ServerContext> {
  const backend =
    options.dataDir === ":memory:"
      ? createMemoryBackend()
      : createLmdbBackend({
          dir: options.dataDir,
          ...(options.walDir !== undefined && { logDir: options.walDir }),
          ...(options.backendBatch !== undefined && { batch: options.backendBatch }),
        });
  return assembleServerContext(backend, await loadIds(backend, options.initialIds), options);
}

/**
 * Builds the context over an open backend (the embedded mode's, or a
 * replica's local copy) with the given IDs; see {@link openServerContext}.
 * `expireLocally: false` leaves lease expiry to someone else (a replica's
 * duties, through the shared log).
 */
export function assembleServerContext(
  backend: Backend,
  ids: { memberId: bigint; clusterId: bigint },
  options: Omit<ServerContextOptions, "dataDir">,
  lessorOptions: { expireLocally?: boolean } = {},
): ServerContext {
  // The lessor loads first so keys restored by the store re-attach to their leases.
  const lessor = createLessor({
    backend,
    ...lessorOptions,
    ...(options.onLeaseExpired && { onExpired: options.onLeaseExpired }),
  });
  const store = openKvStore({ backend, leases: lessor });
  lessor.start(store);
  const hub = createWatchHub({ store });
  hub.start();
  const lifetime = new AbortController();
  lifetimes.set(store, { lifetime, closers: [] });
  const auth = createAuthStore({
    store,
    ...(options.authTokenTtl !== undefined && { tokenTtlSeconds: options.authTokenTtl }),
    ...(options.bcryptCost !== undefined && { bcryptCost: options.bcryptCost }),
    ...(options.jwtTokens !== undefined && { tokens: options.jwtTokens }),
  });
  auth.start();
  // Alarm changes go through the store's write path, ordered with KV writes.
  const alarms = createAlarmStore({
    backend,
    commit: (ops) =>
      store.write((txn) => {
        for (const op of ops) txn.stage(op);
      }).durable,
  });
  return {
    alarms,
    quota: createBackendQuota(backend, options.quotaBackendBytes ?? 0),
    lifetime: lifetime.signal,
    store,
    lessor,
    hub,
    kv: createKvApplier({ store, leases: lessor }),
    auth,
    name: options.name ?? defaultMemberName,
    ...ids,
    clientUrls: options.clientUrls ?? [defaultListenClientUrl],
    maxTxnOps: options.maxTxnOps ?? defaultMaxTxnOps,
    maxRequestBytes: options.maxRequestBytes ?? defaultMaxRequestBytes,
    raftTerm: 1n,
    log: options.log ?? (() => undefined),
  };
}

/** Runs `close` when the context closes, before its store (a replica's machinery). */
export function onServerContextClose(ctx: ServerContext, close: () => Promise<void>): void {
  lifetimes.get(ctx.store)?.closers.push(close);
}

const lifetimes = new WeakMap<
  KvStore,
  { lifetime: AbortController; closers: Array<() => Promise<void>> }
>();

export async function closeServerContext(ctx: ServerContext): Promise<void> {
  const life = lifetimes.get(ctx.store);
  life?.lifetime.abort();
  for (const close of life?.closers.splice(0).reverse() ?? []) await close();
  ctx.hub.close();
  ctx.auth.close();
  await ctx.lessor.close();
  await ctx.store.close();
  // The store does not close its backend (see KvStore.close).
  await ctx.store.backend.close();
}
