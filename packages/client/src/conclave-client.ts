import { Auth, Cluster, Election, KV, Lease, Lock, Maintenance, Watch } from "@conclave/proto";
import { type Client, createClient, type Transport } from "@connectrpc/connect";

/**
 * Typed clients for every etcd service Conclave serves, over one Connect
 * transport: `createGrpcTransport` (connect-node, h2c) in Node, or
 * `createConnectTransport` / `createGrpcWebTransport` (connect-web) in
 * browsers, where only unary and server-streaming methods work.
 *
 * Higher-level helpers (automatic keep-alive, resuming watches, lock and
 * election recipes) build on these.
 */
export interface ConclaveClient {
  kv: Client<typeof KV>;
  watch: Client<typeof Watch>;
  lease: Client<typeof Lease>;
  cluster: Client<typeof Cluster>;
  maintenance: Client<typeof Maintenance>;
  auth: Client<typeof Auth>;
  lock: Client<typeof Lock>;
  election: Client<typeof Election>;
}

export function createConclaveClient(transport: Transport): ConclaveClient {
  return {
    kv: createClient(KV, transport),
    watch: createClient(Watch, transport),
    lease: createClient(Lease, transport),
    cluster: createClient(Cluster, transport),
    maintenance: createClient(Maintenance, transport),
    auth: createClient(Auth, transport),
    lock: createClient(Lock, transport),
    election: createClient(Election, transport),
  };
}
