import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { MvccStats } from "@conclave/core";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { callContextKey } from "./call-context.js";
import { etcdApiVersion } from "./maintenance-service.js";
import { observeResponse } from "./observe-stream.js";
import { createSeriesHistogram, type HistogramSeries } from "./series-histogram.js";
import type { ServerContext } from "./server-context.js";

/**
 * Bytes of the protobuf messages gRPC clients sent and were sent, without
 * gRPC's 5-byte envelope headers: what etcd's gRPC codec counts for
 * `etcd_network_client_grpc_{received,sent}_bytes_total`. The transports
 * add to it where they have the bytes (plain numbers, no per-call cost).
 */
export interface ClientTraffic {
  receivedBytes: number;
  sentBytes: number;
}

/**
 * Prometheus metrics under etcd's names where the meaning is the same, so
 * existing etcd dashboards and alerts work (docs/metrics.md lists them):
 * go-grpc-prometheus's `grpc_server_*` per RPC and code, etcd's mvcc, disk,
 * network, lease and server series, and the process's. Gauges and counters
 * of the store are read from it when scraped, never maintained here on hot
 * paths.
 */
export interface Metrics {
  registry: Registry;
  /**
   * Counts and times every RPC, and records its final code as the call
   * context's `outcome`; put it before the error interceptor so it sees
   * final codes.
   */
  interceptor: Interceptor;
  /** Where the transports count message bytes; exported when scraped. */
  traffic: ClientTraffic;
}

/**
 * etcd's buckets for its disk latency histograms (`ExponentialBuckets(0.001,
 * 2, 14)`: 1 ms to about 8 s), so dashboards' quantiles compare.
 */
export const etcdDiskBuckets: readonly number[] = Array.from(
  { length: 14 },
  (_, i) => 0.001 * 2 ** i,
);

/** The buckets of `grpc_server_handling_seconds`. */
const rpcSecondsBuckets: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** The cluster version etcd reports beside its server version: major.minor. */
const clusterVersion = etcdApiVersion.split(".").slice(0, 2).join(".");

const grpcType: Record<string, string> = {
  unary: "unary",
  server_streaming: "server_stream",
  client_streaming: "client_stream",
  bidi_streaming: "bidi_stream",
};

/** One RPC's counts between scrapes (see createMetrics). */
interface RpcSeries {
  readonly labels: Readonly<Record<"grpc_method" | "grpc_service" | "grpc_type", string>>;
  started: number;
  readonly outcomes: Map<string, OutcomeSeries>;
  readonly seconds: HistogramSeries;
}

interface OutcomeSeries {
  readonly labels: Readonly<Record<string, string>>;
  count: number;
}

function codeName(err: unknown): string {
  const code = err instanceof ConnectError ? err.code : Code.Unknown;
  return Code[code] ?? "Unknown";
}

export function createMetrics(ctx: ServerContext): Metrics {
  const registry = new Registry();
  // process_* (CPU, resident and virtual memory, open and max fds, start
  // time) as Prometheus clients export them, and nodejs_* beside them.
  collectDefaultMetrics({ register: registry });
  // Sorted by name, as Prometheus's Go client prints them (etcd's output).
  const labels = ["grpc_method", "grpc_service", "grpc_type"] as const;
  // The two RPC counters are kept as plain numbers per method and code and
  // handed to prom-client when scraped, in the order each series was first
  // seen (the order prom-client prints them in when counted live): labelled
  // prom-client calls hash their labels into a string on every call, ~1 KB
  // of garbage per RPC for three of them.
  const rpcs = new Map<DescMethod, RpcSeries>();
  const outcomes: OutcomeSeries[] = [];
  new Counter({
    name: "grpc_server_started_total",
    help: "Total number of RPCs started on the server.",
    labelNames: labels,
    registers: [registry],
    collect() {
      this.reset();
      for (const r of rpcs.values()) this.inc(r.labels, r.started);
    },
  });
  new Counter({
    name: "grpc_server_handled_total",
    help: "Total number of RPCs completed on the server, regardless of success or failure.",
    labelNames: ["grpc_code", ...labels],
    registers: [registry],
    collect() {
      this.reset();
      for (const o of outcomes) this.inc(o.labels, o.count);
    },
  });
  const seriesOf = (service: DescService, method: DescMethod): RpcSeries => {
    let r = rpcs.get(method);
    if (r === undefined) {
      // prom-client prints labels in the order of this object's keys: by name.
      const l = {
        grpc_method: method.name,
        grpc_service: service.typeName,
        grpc_type: grpcType[method.methodKind] ?? method.methodKind,
      };
      r = { labels: l, started: 0, outcomes: new Map(), seconds: seconds.series(l) };
      rpcs.set(method, r);
    }
    return r;
  };
  const countOutcome = (r: RpcSeries, code: string) => {
    let o = r.outcomes.get(code);
    if (o === undefined) {
      o = { labels: { grpc_code: code, ...r.labels }, count: 0 };
      r.outcomes.set(code, o);
      outcomes.push(o);
    }
    o.count++;
  };
  const seconds = createSeriesHistogram({
    name: "grpc_server_handling_seconds",
    help: "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
    buckets: rpcSecondsBuckets,
    registry,
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
  /** A counter whose total lives elsewhere (the store, the lessor): read at each scrape. */
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
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
  // etcd 3.4 sets it once, from --quota-backend-bytes (NewBackendQuota).
  gauge(
    "etcd_server_quota_backend_bytes",
    "Current backend storage quota size in bytes.",
    () => ctx.quota.reportedBytes,
  );
  // Live keys, as etcd's keyIndex counts them: a delete lowers it.
  gauge("etcd_debugging_mvcc_keys_total", "Total number of keys.", () => ctx.store.keyCount());
  const storeCounter = (name: string, help: string, key: keyof MvccStats) =>
    counter(name, help, () => ctx.store.stats()[key]);
  storeCounter("etcd_mvcc_range_total", "Total number of ranges seen by this member.", "ranges");
  storeCounter("etcd_mvcc_put_total", "Total number of puts seen by this member.", "puts");
  storeCounter("etcd_mvcc_delete_total", "Total number of deletes seen by this member.", "deletes");
  storeCounter("etcd_mvcc_txn_total", "Total number of txns seen by this member.", "txns");

  // The backend times its log's batches (etcd's WAL fsync) and its store's
  // transactions (etcd's bbolt commit) apart.
  const diskHistogram = (name: string, help: string) =>
    new Histogram({ name, help, buckets: [...etcdDiskBuckets], registers: [registry] });
  const backendCommit = diskHistogram(
    "etcd_disk_backend_commit_duration_seconds",
    "The latency distributions of commit called by backend.",
  );
  const walFsync = diskHistogram(
    "etcd_disk_wal_fsync_duration_seconds",
    "The latency distributions of fsync called by WAL.",
  );
  ctx.store.backend.onCommitDuration((seconds, stage) => {
    (stage === "log" ? walFsync : backendCommit).observe(seconds);
  });

  const traffic: ClientTraffic = { receivedBytes: 0, sentBytes: 0 };
  const trafficCounter = (name: string, help: string, key: keyof ClientTraffic) =>
    counter(name, help, () => traffic[key]);
  trafficCounter(
    "etcd_network_client_grpc_received_bytes_total",
    "The total number of bytes received from grpc clients.",
    "receivedBytes",
  );
  trafficCounter(
    "etcd_network_client_grpc_sent_bytes_total",
    "The total number of bytes sent to grpc clients.",
    "sentBytes",
  );

  const versionGauge = (name: string, help: string, label: string, value: string) =>
    new Gauge({ name, help, labelNames: [label], registers: [registry] }).set(
      { [label]: value },
      1,
    );
  versionGauge(
    "etcd_server_version",
    "Which version is running. 1 for 'server_version' label with current version.",
    "server_version",
    etcdApiVersion,
  );
  versionGauge(
    "etcd_cluster_version",
    "Which version is running. 1 for 'cluster_version' label with current cluster version",
    "cluster_version",
    clusterVersion,
  );
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
  // etcd counts each change of leader its member sees, the first election
  // included (a fresh single member shows 1). The embedded server elected
  // itself once; a replica sees the duty holder change when its own duties
  // change and, for changes between other replicas, when scraped.
  let leaderSeen = 0n;
  let leaderChanges = 0;
  const seeLeader = () => {
    const leader = ctx.cluster === undefined ? ctx.memberId : ctx.cluster.leader();
    if (leader !== 0n && leader !== leaderSeen) {
      leaderSeen = leader;
      leaderChanges++;
    }
  };
  seeLeader();
  ctx.cluster?.onDuties(seeLeader);
  counter("etcd_server_leader_changes_seen_total", "The number of leader changes seen.", () => {
    seeLeader();
    return leaderChanges;
  });
  gauge("conclave_leases", "Number of live leases.", () => ctx.lessor.leases().length);
  const leaseCounter = (
    name: string,
    help: string,
    key: "granted" | "revoked" | "renewed" | "expired",
  ) => counter(name, help, () => ctx.lessor.stats()[key]);
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
    const r = seriesOf(req.service, req.method);
    r.started++;
    const t0 = performance.now();
    const done = (code: string) => {
      // The transport's call context learns the outcome (for its logs).
      const call = req.contextValues.get(callContextKey);
      if (call !== undefined) call.outcome = code;
      countOutcome(r, code);
      r.seconds.observe((performance.now() - t0) / 1000);
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
    return observeResponse(res, {
      // A stream that ends because its client went away (etcdctl watch
      // interrupted, a cancelled context) is Canceled, as etcd counts it.
      done: () =>
        done(
          (req.contextValues.get(callContextKey)?.aborted ?? req.signal.aborted)
            ? "Canceled"
            : "OK",
        ),
      error(err) {
        done(codeName(err));
        return err;
      },
    });
  };
  return { registry, interceptor, traffic };
}
