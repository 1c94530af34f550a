import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { callContextKey } from "./call-context.js";
import type { ServerContext } from "./server-context.js";

/**
 * Prometheus metrics under etcd's names where the meaning is the same, so
 * existing etcd dashboards and alerts work: go-grpc-prometheus's
 * `grpc_server_*` per RPC and code, and etcd's mvcc, lease and server gauges.
 * Gauges are read from the store when scraped, never maintained on hot paths.
 */
export interface Metrics {
  registry: Registry;
  /**
   * Counts and times every RPC, and records its final code as the call
   * context's `outcome`; put it before the error interceptor so it sees
   * final codes.
   */
  interceptor: Interceptor;
}

const grpcType: Record<string, string> = {
  unary: "unary",
  server_streaming: "server_stream",
  client_streaming: "client_stream",
  bidi_streaming: "bidi_stream",
};

function codeName(err: unknown): string {
  const code = err instanceof ConnectError ? err.code : Code.Unknown;
  return Code[code] ?? "Unknown";
}

export function createMetrics(ctx: ServerContext): Metrics {
  const registry = new Registry();
  // Sorted by name, as Prometheus's Go client prints them (etcd's output).
  const labels = ["grpc_method", "grpc_service", "grpc_type"] as const;
  const started = new Counter({
    name: "grpc_server_started_total",
    help: "Total number of RPCs started on the server.",
    labelNames: labels,
    registers: [registry],
  });
  const handled = new Counter({
    name: "grpc_server_handled_total",
    help: "Total number of RPCs completed on the server, regardless of success or failure.",
    labelNames: ["grpc_code", ...labels],
    registers: [registry],
  });
  const seconds = new Histogram({
    name: "grpc_server_handling_seconds",
    help: "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
    labelNames: labels,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  gauge(
    "etcd_mvcc_db_total_size_in_bytes",
    "Total size of the underlying database physically allocated in bytes.",
    () => ctx.store.backend.sizeBytes(),
  );
  gauge(
    "etcd_debugging_mvcc_db_total_size_in_bytes",
    "Total size of the underlying database in bytes.",
    () => ctx.store.backend.sizeBytes(),
  );
  gauge(
    "etcd_mvcc_db_total_size_in_use_in_bytes",
    "Total size of the underlying database logically in use in bytes.",
    () => ctx.store.backend.sizeInUseBytes(),
  );
  gauge("etcd_debugging_mvcc_keys_total", "Total number of keys.", () => ctx.store.keyCount());
  gauge("etcd_debugging_mvcc_current_revision", "The current revision of store.", () =>
    ctx.store.currentRev(),
  );
  gauge(
    "etcd_debugging_mvcc_compact_revision",
    "The revision of the last compaction in store.",
    () => ctx.store.compactRev(),
  );
  gauge("etcd_debugging_mvcc_watcher_total", "Total number of watchers.", () =>
    ctx.hub.watcherCount(),
  );
  // Replicas: the leader is the replica running the cluster duties (as
  // `endpoint status` reports it); the embedded server leads itself.
  gauge(
    "etcd_server_has_leader",
    "Whether or not a leader exists. 1 is existence, 0 is not.",
    () => (ctx.cluster === undefined || ctx.cluster.leader() !== 0n ? 1 : 0),
  );
  gauge(
    "etcd_server_is_leader",
    "Whether or not this member is a leader. 1 if is, 0 otherwise.",
    () => (ctx.cluster === undefined || ctx.cluster.isLeader() ? 1 : 0),
  );
  gauge("conclave_leases", "Number of live leases.", () => ctx.lessor.leases().length);
  const leaseCounter = (
    name: string,
    help: string,
    key: "granted" | "revoked" | "renewed" | "expired",
  ) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(ctx.lessor.stats()[key]);
      },
    });
  leaseCounter(
    "etcd_debugging_lease_granted_total",
    "The total number of granted leases.",
    "granted",
  );
  leaseCounter(
    "etcd_debugging_lease_revoked_total",
    "The total number of revoked leases.",
    "revoked",
  );
  leaseCounter(
    "etcd_debugging_lease_renewed_total",
    "The number of renewed leases seen by the leader.",
    "renewed",
  );
  leaseCounter(
    "conclave_lease_expired_total",
    "The number of leases revoked because they expired.",
    "expired",
  );

  const interceptor: Interceptor = (next) => async (req) => {
    // prom-client prints labels in the order of this object's keys: by name.
    const l = {
      grpc_method: req.method.name,
      grpc_service: req.service.typeName,
      grpc_type: grpcType[req.method.methodKind] ?? req.method.methodKind,
    };
    started.inc(l);
    const t0 = performance.now();
    const done = (code: string) => {
      // The transport's call context learns the outcome (for its logs).
      const call = req.contextValues.get(callContextKey);
      if (call !== undefined) call.outcome = code;
      handled.inc({ grpc_code: code, ...l });
      seconds.observe(l, (performance.now() - t0) / 1000);
    };
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (err) {
      done(codeName(err));
      throw err;
    }
    if (!res.stream) {
      done("OK");
      return res;
    }
    const inner = res.message;
    async function* counted() {
      try {
        yield* inner;
        // A stream that ends because its client went away (etcdctl watch
        // interrupted, a cancelled context) is Canceled, as etcd counts it.
        done(req.signal.aborted ? "Canceled" : "OK");
      } catch (err) {
        done(codeName(err));
        throw err;
      }
    }
    return { ...res, message: counted() };
  };
  return { registry, interceptor };
}
