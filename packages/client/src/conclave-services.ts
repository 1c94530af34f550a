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
import { type Client, createClient, type Transport } from "@connectrpc/connect";

/**
 * Typed Connect clients for every service Conclave serves, over one
 * transport: `createGrpcTransport` (connect-node, h2c) in Node, or
 * `createConnectTransport` / `createGrpcWebTransport` (connect-web) in
 * browsers, where only unary and server-streaming methods work — so there,
 * use `watchStream` rather than `watch`, and `keepAlive` rather than
 * `lease.leaseKeepAlive`.
 *
 * `createConclaveClient` builds the higher-level helpers on these.
 */
export interface ConclaveServices {
  kv: Client<typeof KV>;
  /** etcd's bidi Watch (not in browsers). */
  watch: Client<typeof Watch>;
  lease: Client<typeof Lease>;
  cluster: Client<typeof Cluster>;
  maintenance: Client<typeof Maintenance>;
  auth: Client<typeof Auth>;
  lock: Client<typeof Lock>;
  election: Client<typeof Election>;
  /** conclave.v1.WatchService: one watcher per server stream (works everywhere). */
  watchStream: Client<typeof conclaveWatch.WatchService>;
  /** conclave.v1.LeaseService: unary KeepAliveOnce (works everywhere). */
  keepAlive: Client<typeof LeaseService>;
  /** conclave.v1.LeaderElectionService. */
  leaderElection: Client<typeof LeaderElectionService>;
  /** conclave.v1.IdentityService: whom the server takes these credentials for (WhoAmI). */
  identity: Client<typeof IdentityService>;
}

/**
 * The typed Connect client of every service over `transport`.
 *
 * @example
 * ```ts
 * const services = createConclaveServices(createConnectTransport({ baseUrl }));
 * const status = await services.maintenance.status({});
 * ```
 */
export function createConclaveServices(transport: Transport): ConclaveServices {
  return {
    kv: createClient(KV, transport),
    watch: createClient(Watch, transport),
    lease: createClient(Lease, transport),
    cluster: createClient(Cluster, transport),
    maintenance: createClient(Maintenance, transport),
    auth: createClient(Auth, transport),
    lock: createClient(Lock, transport),
    election: createClient(Election, transport),
    watchStream: createClient(conclaveWatch.WatchService, transport),
    keepAlive: createClient(LeaseService, transport),
    leaderElection: createClient(LeaderElectionService, transport),
    identity: createClient(IdentityService, transport),
  };
}
