// Helpers of the replica-mode wire tests: N real `conclave --storage
// postgres://…` processes over one real PostgreSQL (testkit's startPostgres).

import { Cluster, KV, Lease, Maintenance, Watch } from "@conclave/proto";
import { type PostgresCluster, type RunningServer, startConclave } from "@conclave/testkit";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

export interface ReplicaClients {
  kv: Client<typeof KV>;
  watch: Client<typeof Watch>;
  lease: Client<typeof Lease>;
  cluster: Client<typeof Cluster>;
  maintenance: Client<typeof Maintenance>;
}

/** gRPC (h2c) clients of one replica, as clientv3 would talk to it. */
export function replicaClients(server: RunningServer): ReplicaClients {
  const transport = createGrpcTransport({ baseUrl: server.url });
  return {
    kv: createClient(KV, transport),
    watch: createClient(Watch, transport),
    lease: createClient(Lease, transport),
    cluster: createClient(Cluster, transport),
    maintenance: createClient(Maintenance, transport),
  };
}

/** Starts `n` replicas over `databaseUrl` (one at a time: the first creates the schema). */
export async function startReplicas(
  n: number,
  databaseUrl: string,
  args: string[] = [],
): Promise<RunningServer[]> {
  const out: RunningServer[] = [];
  for (let i = 0; i < n; i++) out.push(await startReplica(databaseUrl, i, args));
  return out;
}

export function startReplica(
  databaseUrl: string,
  i: number,
  args: string[] = [],
): Promise<RunningServer> {
  return startConclave({ args: ["--name", `replica-${i}`, "--storage", databaseUrl, ...args] });
}

/** A KV client that sends each call to the next replica in turn. */
export function roundRobin(clients: ReadonlyArray<Client<typeof KV>>): Client<typeof KV> {
  let next = 0;
  return new Proxy({} as Client<typeof KV>, {
    get(_, method: string) {
      const c = clients[next++ % clients.length] as unknown as Record<string, unknown>;
      const fn = c[method] as (...a: unknown[]) => unknown;
      return (...a: unknown[]) => fn.apply(c, a);
    },
  });
}

/**
 * `client` with every Range linearizable. A serializable Range is the
 * replica's own copy at once (as from an etcd follower), so sent to another
 * replica than the write before it, it may lag that write by the commit's
 * notification — which a single etcd member, the differential's reference,
 * never does. The answers compared are then the same ones.
 */
export function linearizableReads(client: Client<typeof KV>): Client<typeof KV> {
  return new Proxy(client, {
    get(target, method: string) {
      if (method !== "range") return Reflect.get(target, method);
      return (req: { serializable?: boolean }, ...rest: unknown[]) =>
        (target.range as (...a: unknown[]) => unknown)({ ...req, serializable: false }, ...rest);
    },
  });
}

/** The member ID a replica reports as its leader (the holder of the cluster duties). */
export async function leaderOf(c: ReplicaClients): Promise<bigint> {
  return (await c.maintenance.status({})).leader;
}

/** The replica's own member ID. */
export async function memberIdOf(c: ReplicaClients): Promise<bigint> {
  return (await c.maintenance.status({})).header?.memberId ?? 0n;
}

/** `list[i]`, which the test knows is there (fails loudly if not). */
export function nth<T>(list: ReadonlyArray<T | undefined>, i: number): T {
  const v = list[i];
  if (v === undefined) throw new Error(`no element ${i} of ${list.length}`);
  return v;
}

/** The revision in a response's header (fails loudly without a header). */
export function revisionOf(res: { header?: { revision: bigint } | undefined }): bigint {
  if (res.header === undefined) throw new Error("a response without a header");
  return res.header.revision;
}

/** Resolves when `check` returns true, polling every 100 ms, or rejects after `ms` with the last error `check` threw. */
export async function eventually(
  what: string,
  check: () => Promise<boolean>,
  ms: number,
): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    const ok = await check().catch((err: unknown) => {
      last = err;
      return false;
    });
    if (ok) return;
    if (Date.now() > deadline) {
      const why = last === undefined ? "" : ` (last error: ${String(last)})`;
      throw new Error(`not within ${ms} ms: ${what}${why}`, { cause: last });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export type { PostgresCluster };
