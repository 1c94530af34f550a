import { randomBytes } from "node:crypto";
import { createMemoryBackend, defaultLeaseGraceMs, type ReplicationStorage } from "@conclave/core";
import {
  assembleServerContext,
  onServerContextClose,
  type ServerContext,
  type ServerContextOptions,
} from "../server-context.js";
import { applyLogEntry } from "./apply-log-entry.js";
import { createReplicaDuties } from "./replica-duties.js";
import { createReplicaLog, type Divergence } from "./replica-log.js";
import { createReplicatedAlarms } from "./replicated-alarms.js";
import { createReplicatedAuth } from "./replicated-auth.js";
import { createReplicatedKv } from "./replicated-kv.js";
import { createReplicatedLessor } from "./replicated-lessor.js";
import { loadRestorePrefix } from "./restore-prefix.js";

export interface ReplicaContextOptions extends Omit<ServerContextOptions, "dataDir"> {
  /** The storage shared with the other replicas (`createPostgresStorage`). */
  storage: ReplicationStorage;
  /** Peer URLs shown in `member list` (replicas have no peer traffic; default none). */
  peerUrls?: string[];
  /** Lease grace on taking over the duties, in ms. Default `defaultLeaseGraceMs`. */
  leaseGraceMs?: number;
  /**
   * Called when the shared log turns out to be behind this replica (an
   * asynchronous failover lost entries it applied), after the replica stopped
   * serving and cancelled its watches as compacted. The CLI exits (status
   * 70) so that its supervisor starts a fresh replica, which rebuilds its copy
   * from what the database has.
   */
  onDiverged?: (detail: Divergence) => void;
}

/**
 * Opens a replica: one of N stateless Conclave processes that share one
 * PostgreSQL database and serve the same etcd API as one logical etcd.
 *
 * The replica's state is a local copy, in memory, built by applying the
 * shared log from its start (`applyLogEntry` over a context of its own), and
 * kept current by following the log. A log that starts with a restore prefix
 * (a migrated embedded store) is loaded first, as the state the rest applies
 * to. The context it returns has the same shape as the embedded mode's: the
 * store, watch hub and reads are the local copy's; the KV applier, lessor,
 * auth and alarm stores propose their changes to the log and answer with
 * their apply (`replicated-*.ts`). So every service, the Lock and Election
 * recipes and the LeaderElection API work unchanged, and watchers on any
 * replica see every write, in order, once, as the log reaches it.
 */
export async function openReplicaContext(options: ReplicaContextOptions): Promise<ServerContext> {
  const { storage } = options;
  await storage.start();
  const memberId = randomBytes(8).readBigUInt64BE(0) | 1n;
  // A log that starts from a restored state (`conclave migrate`): its records
  // go into the local copy before the store, lessor and auth store open on it.
  const backend = createMemoryBackend();
  const restored = await loadRestorePrefix(storage.log, backend);
  const local = assembleServerContext(
    backend,
    { memberId, clusterId: storage.cluster.clusterId() },
    options,
    { expireLocally: false },
  );
  const log = createReplicaLog({
    storage,
    memberId,
    apply: (entry) => applyLogEntry(local, entry),
    after: restored,
  });
  // Lost history is never served: the log refuses every request from then
  // on, and every watcher ends with etcd's compaction cancel (clients re-read,
  // as after a compaction) before the caller is told.
  log.onDiverged((d) => {
    local.hub.compactAll(local.store.currentRev() + 1);
    options.onDiverged?.(d);
  });
  await log.start();
  const duties = createReplicaDuties({
    storage,
    memberId,
    graceMs: options.leaseGraceMs ?? defaultLeaseGraceMs,
    ...(options.onLeaseExpired && {
      onExpired: (id: bigint) => options.onLeaseExpired?.(id, 0),
    }),
  });
  const ctx: ServerContext = {
    ...local,
    kv: createReplicatedKv(local.kv, log),
    lessor: createReplicatedLessor(local.lessor, log, storage.leases),
    auth: createReplicatedAuth(local.auth, log),
    alarms: createReplicatedAlarms(local.alarms, log),
    cluster: {
      members: () => storage.cluster.members(),
      leader: () => storage.cluster.dutyHolder(),
      isLeader: () => storage.cluster.holdsDuties(),
      onDuties: (listener) => storage.cluster.onDuties(listener),
    },
  };
  await storage.cluster.join({
    id: memberId,
    name: ctx.name,
    clientUrls: ctx.clientUrls,
    peerUrls: options.peerUrls ?? [],
  });
  duties.start();
  onServerContextClose(ctx, async () => {
    await duties.close();
    await log.close();
    await storage.close();
  });
  return ctx;
}
