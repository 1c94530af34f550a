import type { DescService } from "@bufbuild/protobuf";
import {
  Auth,
  Cluster,
  conclaveWatch,
  Election,
  IdentityService,
  KV,
  LeaderElectionService,
  Lease,
  LeaseService,
  Lock,
  Maintenance,
  Watch,
} from "@conclave/proto";
import type { ConnectRouter } from "@connectrpc/connect";
import { createAuthService } from "./auth-service.js";
import { createClusterService } from "./cluster-service.js";
import { createConclaveLeaseService } from "./conclave-lease-service.js";
import { createElectionService } from "./election-service.js";
import { createIdentityService } from "./identity-service.js";
import { createKvService } from "./kv-service.js";
import { createLeaderElectionService } from "./leader-election/leader-election-service.js";
import { createLeaseService } from "./lease-service.js";
import { createLocalClient } from "./local-client.js";
import { createLockService } from "./lock-service.js";
import { createMaintenanceService } from "./maintenance-service.js";
import type { ServerContext } from "./server-context.js";
import { createWatchService } from "./watch-service.js";
import { createWatchStreamService } from "./watch-stream-service.js";
import { withAuthPolicy } from "./with-auth-policy.js";

/**
 * Registers every service of the etcd API and of conclave.v1 on a Connect
 * router. Methods without an implementation yet answer Unimplemented, so
 * clients see the whole API surface and a clear status for what is missing.
 *
 * Every service is registered through the auth layer ({@link withAuthPolicy}),
 * which applies the one policy table (auth-policy.ts) around its methods.
 */
export function createRoutes(ctx: ServerContext): (router: ConnectRouter) => void {
  // Lock and Election run etcd's recipes through an in-process client.
  const local = createLocalClient(ctx);
  const leaderElection = createLeaderElectionService(ctx, local);
  const auth = <T extends object>(service: DescService, impl: T) =>
    withAuthPolicy(ctx, service, impl);
  return (router) => {
    router.service(KV, auth(KV, createKvService(ctx)));
    router.service(Maintenance, auth(Maintenance, createMaintenanceService(ctx)));
    router.service(Cluster, auth(Cluster, createClusterService(ctx)));
    router.service(Watch, auth(Watch, createWatchService(ctx)));
    router.service(Lease, auth(Lease, createLeaseService(ctx)));
    router.service(Auth, auth(Auth, createAuthService(ctx)));
    router.service(Lock, auth(Lock, createLockService(ctx, local)));
    router.service(Election, auth(Election, createElectionService(ctx, local)));
    router.service(LeaderElectionService, auth(LeaderElectionService, leaderElection));
    // Browser-friendly forms of Watch and LeaseKeepAlive (no bidi streams).
    router.service(
      conclaveWatch.WatchService,
      auth(conclaveWatch.WatchService, createWatchStreamService(ctx)),
    );
    router.service(LeaseService, auth(LeaseService, createConclaveLeaseService(ctx)));
    // Whom a request acts as (a browser cannot read its client certificate's CN).
    router.service(IdentityService, auth(IdentityService, createIdentityService(ctx)));
  };
}
