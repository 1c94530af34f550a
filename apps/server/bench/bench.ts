// `npm run bench`: a load generator for any etcd v3 endpoint (KV, Watch,
// Lease, v3lock, v3election), and a `--compare` mode that runs the same
// workloads against a fresh Conclave and a fresh etcd side by side. The
// workloads run by default through a Go program on etcd's clientv3 (./go,
// via go-client.ts), so the client is never the limit; `--client node` keeps
// the connect-node client (load.ts, coord.ts). `--replicas 1,3` runs them
// against etcd, embedded Conclave and Conclave replicas over PostgreSQL
// (replica-compare.ts). See usage() and BENCHMARKS.md.

import { rmSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { type RunningServer, startConclave, startEtcd } from "@conclave/testkit";
import {
  type CoordOptions,
  type RunResult,
  runElection,
  runKeepAlive,
  runLock,
  runWatch,
} from "./coord.js";
import { ensureGoBench, type GoProgram, runGoBench } from "./go-client.js";
import {
  type HttpDoorOptions,
  type HttpUnaryWorkload,
  type HttpWatchWorkload,
  httpUnaryWorkloads,
  httpWatchWorkloads,
  runHttpUnary,
  runHttpWatch,
  warmUpHttpUnary,
} from "./http-doors.js";
import { workloads as kvWorkloads, type LoadOptions, percentile, runLoad } from "./load.js";
import { loadAverage, toolVersion } from "./machine-info.js";
import {
  addRun,
  clientPerOpUs,
  cpuPerOpUs,
  emptyMerged,
  type Merged,
  measureStats,
} from "./merged-runs.js";
import { procCpuMs } from "./proc-cpu.js";
import {
  type ReplicaComparePlan,
  replicaCompareDefault,
  runReplicaCompare,
} from "./replica-compare.js";
import { errorSummary, meanOf, ms, rate, roundLines, table } from "./report-format.js";

const nodeWorkloads = [...kvWorkloads, "watch", "keepalive", "lock", "election"] as const;
/** Only the Go client has these (clientv3 calls without a Node twin). */
const goOnlyWorkloads = [
  "put-c1",
  "txn-put",
  "keepalive-once",
  "watch-create",
  "watch-cross",
] as const;
/** The HTTP/JSON doors (http-doors.ts): wrk and streaming HTTP clients, whatever --client says. */
const httpWorkloads = [...httpUnaryWorkloads, ...httpWatchWorkloads] as const;
const allWorkloads = [...nodeWorkloads, ...goOnlyWorkloads, ...httpWorkloads] as const;
type Workload = (typeof allWorkloads)[number];
/** The Go program behind each workload (mixed has none: it stays on Node). */
const goProgramOf: Partial<Record<Workload, GoProgram>> = {
  put: "put",
  "put-c1": "put",
  range: "range",
  "txn-put": "txn-put",
  watch: "watch",
  "watch-create": "watch-create",
  "watch-cross": "watch-cross",
  keepalive: "keepalive-stream",
  "keepalive-once": "keepalive-once",
  lock: "lock",
  election: "election",
};
const clients = ["go", "node"] as const;
type Client = (typeof clients)[number];
const compareDefault: Record<Client, Workload[]> = {
  node: ["put", "range", "watch", "keepalive", "lock", "election"],
  go: [
    "put-c1",
    "put",
    "range",
    "txn-put",
    "keepalive-once",
    "keepalive",
    "watch",
    "watch-create",
    "lock",
    "election",
    ...httpWorkloads,
  ],
};

function usage(): string {
  return `Usage:
  npm run bench -- [--endpoint URL] [options]     load one etcd v3 endpoint
  npm run bench -- --compare [options]            fresh Conclave vs fresh etcd, same client
  npm run bench -- --replicas 1,3 [options]       fresh etcd, embedded Conclave and Conclave
                                                  replicas over a fresh PostgreSQL, same client

General:
  --client go|node    go (default): the Go generator on etcd's clientv3 (apps/server/bench/go,
                      built on first use; installs golang-go golang-etcd-server-dev with apt if
                      missing) for every workload it covers, Node for mixed; node: the
                      connect-node client for all (no ${goOnlyWorkloads.join(", ")})
  --endpoint URLS     etcd v3 gRPC endpoint, h2c (default http://127.0.0.1:2379; loopback only);
                      go: a comma-separated list (replicas of one cluster) spreads the
                      connections round-robin over them, watch puts go to the first
  --workloads LIST    comma-separated, any of: ${allWorkloads.join(", ")}
                      (alias --workload; default put; with --compare and go:
                      ${compareDefault.go.join(",")};
                      with node: ${compareDefault.node.join(",")};
                      with --replicas: ${replicaCompareDefault.join(",")})
  --clients N         gRPC connections the load is spread over (default go 10, node 4)
  --timeout-ms N      per-request deadline, 0 for none (default 30000)
  --warmup N          untimed operations before each timed run (default 500; KV, keepalive, lock)
  --rounds N          --compare, --replicas: rounds per workload; odd rounds run the servers
                      in order (etcd first), even rounds in reverse (default 2)
  --help              print this

KV (put: Put; range: single-key Range, keys written first; mixed: 50/50):
  --concurrency N     requests in flight (default go 100, node 64)
  --total N           timed operations per run (default 20000; with --compare: 5000);
                      with go also keep-alives (keepalive, keepalive-once) and watch-create
  --total-c1 N        go: timed Puts of put-c1, one request on one connection (default 2000)
  --value-size N      bytes per value (default 256)
  --keys N            key space, keys picked uniformly at random (default 1000)

watch (fan-out: W watchers on S streams, P paced puts from another connection; with go one
stream per connection, S connections, and one watched key: --watch-keys is node-only):
  --watchers N        watchers (default 1000)
  --streams N         Watch streams the watchers are spread over (default 10)
  --events N          timed puts, each must reach every watcher once (default 200)
  --put-interval-ms N pause between put sends (default 5)
  --watch-keys N      0: all watchers watch one prefix; N: watcher i watches key i mod N
                      and put j writes key j mod N (default 0)

Replicas over PostgreSQL (go only; see BENCHMARKS.md, "Replicas over PostgreSQL"):
  --replicas LIST     e.g. 1,3: besides a fresh etcd and a fresh embedded Conclave, one
                      PostgreSQL (testkit's startPostgres) and per entry N replicas
                      (conclave --storage) on a fresh database of it
  --pg-settings LIST  postgresql.conf overrides, k=v,k=v (default none: fsync on,
                      synchronous_commit on, PostgreSQL's defaults otherwise; printed)

watch-cross (go only: put -> watcher across replicas; a paced open-loop writer on the first
endpoint, watchers on the others, on the first when there is only one):
  --cross-rate N      puts per second (default 1000)
  --cross-puts N      timed puts, after min(--warmup, N) untimed ones (default 5000)
  --cross-watchers N  watchers, one connection each (default 10)

HTTP/JSON doors (any --client; with --compare etcd runs each on its gateway, /v3/kv/range,
/v3/kv/put, /v3/watch, for the ratio): gw-range, gw-put (POST /v3/kv/...), connect-range,
connect-put (Connect JSON, POST /etcdserverpb.KV/...), grpc-web-range (gRPC-Web binary), driven by
wrk over HTTP/1.1 keep-alive (apt-get install wrk when missing); gw-watch (/v3/watch NDJSON) and
connect-watch (conclave.v1 Watch, Connect JSON): events/s delivered to streaming HTTP clients
while Puts are written over the gateway:
  --http-connections N  wrk connections (default 50)
  --http-threads N      wrk threads (default 2)
  --http-duration S     wrk seconds per run (default 8)
  --http-warmup S       untimed wrk seconds before each run, outside the CPU window (default 2)
  --watch-clients N     streaming HTTP watch clients, one connection each (default 100)
  --watch-events N      timed Puts, each must reach every client (default 1000)

Go-only: txn-put (Txn: compare mod revision, put; one key per client), keepalive-once
(clientv3 KeepAliveOnce: a LeaseKeepAlive stream per call), watch-create (a new Watch stream,
created, cancel), each with --concurrency clients on --clients connections.

keepalive with go: --concurrency leases, one long-lived LeaseKeepAlive stream each (spread over
--clients connections), ping-pong, --total keep-alives.
keepalive with node (K leases, one stream per connection, one keep-alive in flight per lease):
  --leases N          leases (default 100)
  --duration S        timed seconds (default 10; with --compare: 5)
  --keepalives N      also stop after N timed keep-alives, 0 for no limit (default 0)

lock (C contenders, own lease and connection each, loop Lock -> Unlock on one name; with go
clientv3's concurrency.Mutex, a KV + Watch recipe, not the v3lock service; election with go:
concurrency.Election, C candidates loop Campaign -> Resign, same two flags, at most 50 warm-up):
  --contenders N      (default 8)
  --acquisitions N    timed Lock calls in total (default 400)

election with node (v3election failover of leader A to the waiting candidate B):
  --failovers N       failovers by LeaseRevoke of A's lease (default 20)
  --election-ttl S    TTL of A's lease in the revoke failovers (default 5)
  --expiries N        failovers by expiry of A's TTL-2 lease, ~3 s each (default 5)
  --settle-ms N       how long B waits in line before A's lease goes (default 250; etcd syncs
                      a watch that starts in the past only every 100 ms)

Prints for each measure a rate, p50/p90/p99/max latency (ms) and errors (missing, duplicated or
wrong answers count as errors); --compare also prints server CPU per operation (from /proc) and
the ratio Conclave/etcd. With the Go client the server's CPU is read at the edges of the timed
phase, so warm-up and setup stay out of it; the Node client and the HTTP doors measure around
the whole run (the doors warm up before it).`;
}

class UsageError extends Error {}

function int(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

interface Config {
  compare: boolean;
  /** --replicas: replica counts to run over PostgreSQL; undefined without the flag. */
  replicas: number[] | undefined;
  /** --pg-settings. */
  postgresSettings: Record<string, string>;
  client: Client;
  /** Timed Puts of put-c1. */
  totalC1: number;
  cross: { rate: number; puts: number; watchers: number };
  /** One origin, or several joined by commas (go only). */
  endpoint: string;
  workloads: Workload[];
  rounds: number;
  load: Omit<LoadOptions, "endpoint" | "workload">;
  coord: Omit<CoordOptions, "endpoint">;
  http: HttpDoorOptions;
}

const intFlags = [
  "concurrency",
  "total",
  "total-c1",
  "value-size",
  "keys",
  "clients",
  "warmup",
  "timeout-ms",
  "rounds",
  "watchers",
  "streams",
  "events",
  "put-interval-ms",
  "watch-keys",
  "leases",
  "duration",
  "keepalives",
  "contenders",
  "acquisitions",
  "failovers",
  "election-ttl",
  "expiries",
  "settle-ms",
  "cross-rate",
  "cross-puts",
  "cross-watchers",
  "http-connections",
  "http-threads",
  "http-duration",
  "http-warmup",
  "watch-clients",
  "watch-events",
] as const;

function parseConfig(argv: string[]): Config | "help" {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      endpoint: { type: "string" },
      workload: { type: "string" },
      workloads: { type: "string" },
      compare: { type: "boolean" },
      replicas: { type: "string" },
      "pg-settings": { type: "string" },
      client: { type: "string" },
      help: { type: "boolean", short: "h" },
      ...Object.fromEntries(intFlags.map((f) => [f, { type: "string" as const }])),
    },
  });
  if (values.help) return "help";
  const v = values as Record<string, string | undefined>;
  const compare = values.compare ?? false;
  const replicas = values.replicas === undefined ? undefined : replicaCounts(values.replicas);
  if (compare && replicas !== undefined) {
    throw new UsageError("give --compare or --replicas, not both");
  }
  if ((compare || replicas !== undefined) && values.endpoint !== undefined) {
    throw new UsageError(
      "--compare and --replicas start their own servers; --endpoint does not apply",
    );
  }
  if (replicas === undefined && values["pg-settings"] !== undefined) {
    throw new UsageError("--pg-settings needs --replicas");
  }
  const endpoints = (values.endpoint ?? "http://127.0.0.1:2379").split(",").map(loopbackOrigin);
  if (values.workload !== undefined && values.workloads !== undefined) {
    throw new UsageError("give --workloads or --workload, not both");
  }
  const client = (values.client ?? "go") as Client;
  if (!clients.includes(client)) {
    throw new UsageError(`--client takes go or node, got ${JSON.stringify(values.client)}`);
  }
  if (client === "node" && replicas !== undefined) {
    throw new UsageError("--replicas needs the Go client (--client go)");
  }
  if (client === "node" && endpoints.length > 1) {
    throw new UsageError("several --endpoint URLs need the Go client (--client go)");
  }
  const listRaw = values.workloads ?? values.workload;
  const list =
    listRaw === undefined
      ? replicas !== undefined
        ? replicaCompareDefault
        : compare
          ? compareDefault[client]
          : ["put"]
      : listRaw.split(",");
  const wl: Workload[] = [];
  for (const raw of list) {
    const w = raw.trim();
    if (!(allWorkloads as readonly string[]).includes(w)) {
      throw new UsageError(
        `--workloads takes ${allWorkloads.join(", ")}; got ${JSON.stringify(w)}`,
      );
    }
    if (client === "node" && (goOnlyWorkloads as readonly string[]).includes(w)) {
      throw new UsageError(`${w} needs the Go client (--client go)`);
    }
    if (replicas !== undefined && goProgramOf[w as Workload] === undefined) {
      throw new UsageError(`${w} has no Go program; --replicas runs only Go workloads`);
    }
    if (!wl.includes(w as Workload)) wl.push(w as Workload);
  }
  const n = (name: (typeof intFlags)[number], fallback: number, min: number) =>
    int(name, v[name], fallback, min);
  const go = client === "go";
  const conns = n("clients", go ? 10 : 4, 1);
  const timeoutMs = n("timeout-ms", 30_000, 0);
  return {
    compare,
    replicas,
    postgresSettings: settingsList(values["pg-settings"]),
    client,
    totalC1: n("total-c1", 2000, 1),
    cross: {
      rate: n("cross-rate", 1000, 1),
      puts: n("cross-puts", 5000, 1),
      watchers: n("cross-watchers", 10, 1),
    },
    endpoint: endpoints.join(","),
    workloads: wl,
    rounds: n("rounds", 2, 1),
    load: {
      concurrency: n("concurrency", go ? 100 : 64, 1),
      total: n("total", compare || replicas !== undefined ? 5_000 : 20_000, 1),
      valueSize: n("value-size", 256, 0),
      keys: n("keys", 1000, 1),
      clients: conns,
      warmup: n("warmup", 500, 0),
      timeoutMs,
      keyPrefix: "bench/",
    },
    http: {
      connections: n("http-connections", 50, 1),
      threads: n("http-threads", 2, 1),
      durationS: n("http-duration", 8, 1),
      warmupS: n("http-warmup", 2, 0),
      watchClients: n("watch-clients", 100, 1),
      watchEvents: n("watch-events", 1000, 1),
    },
    coord: {
      timeoutMs,
      clients: conns,
      watch: {
        watchers: n("watchers", 1000, 1),
        streams: n("streams", 10, 1),
        events: n("events", 200, 1),
        intervalMs: n("put-interval-ms", 5, 0),
        keys: n("watch-keys", 0, 0),
      },
      keepalive: {
        leases: n("leases", 100, 1),
        durationS: n("duration", compare || replicas !== undefined ? 5 : 10, 1),
        total: n("keepalives", 0, 0),
      },
      lock: {
        contenders: n("contenders", 8, 1),
        acquisitions: n("acquisitions", 400, 1),
      },
      election: {
        failovers: n("failovers", 20, 0),
        ttl: n("election-ttl", 5, 2),
        expiries: n("expiries", 5, 0),
        settleMs: n("settle-ms", 250, 0),
      },
    },
  };
}

/** The origin of a loopback h2c URL (the only kind the bench drives). */
function loopbackOrigin(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new UsageError(`--endpoint ${JSON.stringify(raw)} is not a URL`);
  }
  if (url.protocol !== "http:") throw new UsageError("--endpoint must be http:// (h2c)");
  if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) {
    throw new UsageError("--endpoint must be a loopback address (127.0.0.1, localhost, [::1])");
  }
  return url.origin;
}

/** --replicas: distinct replica counts >= 1, in the order given. */
function replicaCounts(raw: string): number[] {
  const out: number[] = [];
  for (const part of raw.split(",")) {
    const n = int("replicas", part.trim(), 0, 1);
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

/** --pg-settings k=v,k=v (testkit checks the names). */
function settingsList(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === undefined) return out;
  for (const part of raw.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new UsageError(`--pg-settings takes k=v,k=v; got ${JSON.stringify(part)}`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** gobench flags for one workload, from the same options the Node client takes. */
function goFlags(cfg: Config, workload: Workload): Record<string, string | number> {
  const { load, coord } = cfg;
  const common = {
    timeout: `${load.timeoutMs > 0 ? load.timeoutMs : 3_600_000}ms`,
    warmup: load.warmup,
    "value-size": load.valueSize,
  };
  switch (workload) {
    case "put-c1":
      return { ...common, clients: 1, conns: 1, total: cfg.totalC1, keys: load.keys };
    case "watch":
      return {
        ...common,
        watchers: coord.watch.watchers,
        conns: coord.watch.streams,
        events: coord.watch.events,
        "put-interval": `${coord.watch.intervalMs}ms`,
      };
    case "watch-cross":
      return {
        ...common,
        watchers: cfg.cross.watchers,
        conns: cfg.cross.watchers,
        events: cfg.cross.puts,
        rate: cfg.cross.rate,
      };
    case "lock":
    case "election":
      return {
        ...common,
        contenders: coord.lock.contenders,
        acquisitions: coord.lock.acquisitions,
      };
    default:
      return {
        ...common,
        clients: load.concurrency,
        conns: Math.min(load.clients, load.concurrency),
        total: load.total,
        keys: load.keys,
      };
  }
}

/** The gobench binary, built once per process (only when the Go client is used). */
let goBin: string | undefined;

/** Runs one workload once against one endpoint. */
async function runWorkload(
  cfg: Config,
  workload: Workload,
  endpoint: string,
  server?: Server["name"],
  serverPid?: number,
): Promise<RunResult> {
  const etcd = server === "etcd";
  if ((httpUnaryWorkloads as readonly string[]).includes(workload)) {
    return runHttpUnary(workload as HttpUnaryWorkload, endpoint, etcd, cfg.http);
  }
  if ((httpWatchWorkloads as readonly string[]).includes(workload)) {
    return runHttpWatch(workload as HttpWatchWorkload, endpoint, etcd, cfg.http);
  }
  const program = cfg.client === "go" ? goProgramOf[workload] : undefined;
  if (program !== undefined) {
    goBin ??= ensureGoBench();
    // With the server's pid the program reads its CPU at the timed phase's
    // edges: the warm-up (a fresh Node server's JIT among it) stays out.
    const flags = goFlags(cfg, workload);
    const r = await runGoBench(
      goBin,
      program,
      endpoint,
      serverPid === undefined ? flags : { ...flags, "server-pids": serverPid },
    );
    return { ...r, workload };
  }
  if (endpoint.includes(","))
    throw new Error(`${workload} on several endpoints needs the Go client`);
  const coord: CoordOptions = { ...cfg.coord, endpoint };
  switch (workload) {
    case "watch":
      return runWatch(coord);
    case "keepalive":
      return runKeepAlive(coord, cfg.load.warmup);
    case "lock":
      // A fresh Node server runs its hand-over path unoptimized for the first
      // few hundred acquisitions; warm both servers up alike.
      return runLock(coord, cfg.load.warmup);
    case "election":
      return runElection(coord);
    case "put":
    case "range":
    case "mixed": {
      const r = await runLoad({ ...cfg.load, endpoint, workload });
      const what = { put: "Put", range: "Range", mixed: "Put/Range" }[workload];
      return {
        workload,
        params: `c=${r.concurrency} / ${r.clients} conns / ${cfg.load.total} ops`,
        ops: r.ok,
        errors: r.errors,
        errorKinds: r.errorKinds,
        measures: [
          {
            name: `${what} round trip`,
            rate: r.opsPerSec,
            unit: "ops",
            latenciesMs: r.latenciesMs,
          },
        ],
        clientCpuMs: r.clientCpuMs,
        notes: [],
      };
    }
    default:
      throw new Error(`${workload} needs the Go client (--client go)`);
  }
}

// ---- single endpoint ---------------------------------------------------------

async function runSingle(cfg: Config): Promise<number> {
  const rows: string[][] = [];
  const notes: string[] = [];
  let failed = false;
  for (const workload of cfg.workloads) {
    const r = await runWorkload(cfg, workload, cfg.endpoint);
    r.measures.forEach((m, i) => {
      const l = m.latenciesMs;
      rows.push([
        i === 0 ? workload : "",
        i === 0 ? r.params : "",
        m.name,
        rate(m.rate, m.unit),
        ms(meanOf(l)),
        ms(percentile(l, 50)),
        ms(percentile(l, 90)),
        ms(percentile(l, 99)),
        ms(percentile(l, 100)),
        String(l.length),
        i === 0 ? String(r.errors) : "",
      ]);
    });
    for (const n of r.notes) notes.push(`${workload}: ${n}`);
    if (r.errors > 0) {
      failed = true;
      process.stderr.write(`${workload}: ${errorSummary(r.errorKinds)}\n`);
    }
  }
  process.stdout.write(`endpoint ${cfg.endpoint}\n\n`);
  process.stdout.write(
    `${table(
      [
        "workload",
        "params",
        "measure",
        "rate /s",
        "mean ms",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "samples",
        "errors",
      ],
      rows,
      3,
    )}\n`,
  );
  if (notes.length > 0) process.stdout.write(`\n${notes.join("\n")}\n`);
  return failed ? 1 : 0;
}

// ---- compare -----------------------------------------------------------------

interface Server {
  name: "etcd" | "conclave";
  running: RunningServer;
}

async function runCompare(cfg: Config): Promise<number> {
  const servers: Server[] = [];
  const cleanup = async () => {
    for (const s of servers) {
      await s.running.stop().catch(() => undefined);
      rmSync(s.running.dataDir, { recursive: true, force: true });
    }
    servers.length = 0;
  };
  const onSignal = () => {
    for (const s of servers) {
      s.running.proc.kill("SIGKILL");
      rmSync(s.running.dataDir, { recursive: true, force: true });
    }
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  let failed = false;
  const started = performance.now();
  try {
    // Build before any server starts, so its CPU counters see only the load.
    if (cfg.client === "go" && cfg.workloads.some((w) => goProgramOf[w] !== undefined)) {
      goBin ??= ensureGoBench();
    }
    servers.push({ name: "etcd", running: await startEtcd() });
    servers.push({ name: "conclave", running: await startConclave() });
    const [etcd, conclave] = servers as [Server, Server];
    const load = loadAverage;
    const loadBefore = load();
    process.stdout.write(
      `compare: ${toolVersion("etcd")} at ${etcd.running.url} vs Conclave at ${conclave.running.url}\n` +
        `${cpus().length} CPUs, ${Math.round(totalmem() / 1024 ** 3)} GiB; workloads ${cfg.workloads.join(",")}, ` +
        `${cfg.rounds} rounds per server; client ${cfg.client === "go" ? "Go clientv3 (Node for mixed)" : "Node"}; ` +
        `load average ${loadBefore}\n\n`,
    );

    const results = new Map<string, Merged>();
    for (const workload of cfg.workloads) {
      for (let round = 0; round < cfg.rounds; round++) {
        const order = round % 2 === 0 ? [etcd, conclave] : [conclave, etcd];
        for (const s of order) {
          const pid = s.running.proc.pid;
          if ((httpUnaryWorkloads as readonly string[]).includes(workload)) {
            await warmUpHttpUnary(
              workload as HttpUnaryWorkload,
              s.running.url,
              s.name === "etcd",
              cfg.http,
            );
          }
          const cpu0 = procCpuMs(pid);
          const t0 = performance.now();
          let r: RunResult;
          try {
            r = await runWorkload(cfg, workload, s.running.url, s.name, pid);
          } catch (err) {
            throw new Error(
              `${s.name} ${workload}: ${err instanceof Error ? err.message : String(err)}\n` +
                `server output:\n${s.running.output().slice(-4000)}`,
            );
          }
          const serverCpu = r.serverCpuMs ?? procCpuMs(pid) - cpu0;
          if (s.running.proc.exitCode !== null) {
            throw new Error(
              `${s.name} exited (${s.running.proc.exitCode}) during ${workload}:\n${s.running.output().slice(-4000)}`,
            );
          }
          const key = `${workload}/${s.name}`;
          const m = results.get(key) ?? emptyMerged();
          results.set(key, m);
          addRun(m, r, serverCpu);
          process.stdout.write(
            roundLines(round, workload, s.name, r, performance.now() - t0, {
              workload: 14,
              target: 8,
            }),
          );
        }
      }
    }

    const rows: string[][] = [];
    const ratio = (a: number, b: number) =>
      b > 0 && a >= 0 && !Number.isNaN(a) ? `${(a / b).toFixed(2)}x` : "-";
    for (const workload of cfg.workloads) {
      const e = results.get(`${workload}/etcd`) ?? emptyMerged();
      const c = results.get(`${workload}/conclave`) ?? emptyMerged();
      for (const [name, m] of [
        ["etcd", e],
        ["conclave", c],
      ] as const) {
        if (m.errors > 0) {
          failed = true;
          process.stderr.write(`${workload} ${name}: ${errorSummary(m.errorKinds)}\n`);
        }
      }
      e.names.forEach((measure, i) => {
        const se = measureStats(e, i);
        const sc = measureStats(c, i);
        const first = i === 0;
        for (const [name, m, s] of [
          ["etcd", e, se],
          ["conclave", c, sc],
        ] as const) {
          rows.push([
            first ? workload : "",
            measure,
            name,
            rate(s.rate, m.units[i]),
            ms(s.mean),
            ms(s.p50),
            ms(s.p90),
            ms(s.p99),
            ms(s.max),
            first ? String(m.errors) : "",
            first ? rate(cpuPerOpUs(m)) : "",
            first ? rate(clientPerOpUs(m)) : "",
          ]);
        }
        rows.push([
          "",
          "",
          "conclave/etcd",
          ratio(sc.rate, se.rate),
          ratio(sc.mean, se.mean),
          ratio(sc.p50, se.p50),
          ratio(sc.p90, se.p90),
          ratio(sc.p99, se.p99),
          ratio(sc.max, se.max),
          "",
          first ? ratio(cpuPerOpUs(c), cpuPerOpUs(e)) : "",
          "",
        ]);
      });
    }
    const params = cfg.workloads
      .map((w) => `  ${w}: ${results.get(`${w}/etcd`)?.params ?? ""}`)
      .join("\n");
    process.stdout.write(
      `\nparams per run:\n${params}\n\n${table(
        [
          "workload",
          "measure",
          "server",
          "rate /s",
          "mean ms",
          "p50 ms",
          "p90 ms",
          "p99 ms",
          "max ms",
          "errors",
          "srv CPU µs/op",
          "client CPU µs/op",
        ],
        rows,
        3,
      )}\n\nrate is the mean over rounds; latency percentiles are over all rounds' samples; ` +
        `CPU per op divides by each workload's operations (ops, watch deliveries, keep-alives, ` +
        `lock acquisitions, failovers); with the Go client it is the timed phase's CPU only. Wall time ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
        `load average (1/5/15 min) ${loadBefore} before, ${load()} after.\n`,
    );
  } finally {
    await cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  return failed ? 1 : 0;
}

/** What replica-compare.ts needs of the configuration, and how to run a workload. */
function replicaPlan(cfg: Config, replicas: number[]): ReplicaComparePlan {
  return {
    workloads: cfg.workloads,
    rounds: cfg.rounds,
    replicas,
    postgresSettings: cfg.postgresSettings,
    prepare() {
      goBin ??= ensureGoBench();
    },
    run: (workload, endpoints) => runWorkload(cfg, workload as Workload, endpoints),
  };
}

async function main(): Promise<void> {
  let cfg: Config | "help";
  try {
    cfg = parseConfig(process.argv.slice(2));
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`bench: ${msg}\n\n${usage()}\n`);
    process.exit(2);
  }
  if (cfg === "help") {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  process.exitCode =
    cfg.replicas !== undefined
      ? await runReplicaCompare(replicaPlan(cfg, cfg.replicas))
      : cfg.compare
        ? await runCompare(cfg)
        : await runSingle(cfg);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
