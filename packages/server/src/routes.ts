import {
  Auth,
  Cluster,
  conclaveWatch,
  Election,
  KV,
  LeaderElectionService,
  Lease,
  LeaseService,
  Lock,
  Maintenance,
  Watch,
} from "@conclave/proto";
import type { ConnectRouter } from "@connectrpc/connect";
import { guardMaintenance } from "./auth-guard.js";
import { createAuthService } from "./auth-service.js";
import { createClusterService } from "./cluster-service.js";
import { createConclaveLeaseService } from "./conclave-lease-service.js";
import { createElectionService } from "./election-service.js";
import { createKvService } from "./kv-service.js";
import { createLeaderElectionService } from "./leader-election/leader-election-service.js";
import { createLeaseService } from "./lease-service.js";
import { createLocalClient } from "./local-client.js";
import { createLockService } from "./lock-service.js";
import { createMaintenanceService } from "./maintenance-service.js";
import type { ServerContext } from "./server-context.js";
import { createWatchService } from "./watch-service.js";
import { createWatchStreamService } from "./watch-stream-service.js";

/**
 * Registers every service of the etcd API and of conclave.v1 on a Connect
 * router. Methods without an implementation yet answer Unimplemented, so
 * clients see the whole API surface and a clear status for what is missing.
 */
export function createRoutes(ctx: ServerContext): (router: ConnectRouter) => void {
  // Lock and Election run etcd's recipes through an in-process client.
  const local = createLocalClient(ctx);
  const leaderElection = createLeaderElectionService(ctx, local);
  return (router) => {
    router.service(KV, createKvService(ctx));
    router.service(Maintenance, guardMaintenance(ctx, createMaintenanceService(ctx)));
    router.service(Cluster, createClusterService(ctx));
    router.service(Watch, createWatchService(ctx));
    router.service(Lease, createLeaseService(ctx));
    router.service(Auth, createAuthService(ctx));
    router.service(Lock, createLockService(ctx, local));
    router.service(Election, createElectionService(ctx, local));
    router.service(LeaderElectionService, leaderElection);
    // Browser-friendly forms of Watch and LeaseKeepAlive (no bidi streams).
    router.service(conclaveWatch.WatchService, createWatchStreamService(ctx));
    router.service(LeaseService, createConclaveLeaseService(ctx));
  };
}
