// `npm run bench -- --replicas 1,3`: the same workloads against a fresh etcd
// 3.4.23, a fresh embedded Conclave, and Conclave replicas over one fresh
// PostgreSQL (testkit's startPostgres), N replicas per entry of the list, each
// set on its own database. Rounds go through the targets in order, then in
// reverse (ABBA, as --compare does), and one table compares them; the server
// CPU of a replica set is that of all its replica processes plus what
// PostgreSQL spent for its database (postgres-cpu.ts). See BENCHMARKS.md,
// "Replicas over PostgreSQL".

import { rmSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import {
  type PostgresCluster,
  type RunningServer,
  startConclave,
  startEtcd,
  startPostgres,
} from "@conclave/testkit";
import type { RunResult } from "./coord.js";
import { loadAverage, toolVersion } from "./machine-info.js";
import {
  addRun,
  clientPerOpUs,
  cpuPerOpUs,
  emptyMerged,
  type Merged,
  measureStats,
  postgresPerOpUs,
} from "./merged-runs.js";
import { type CpuSnapshot, postgresCpuBetween, postgresCpuSnapshot } from "./postgres-cpu.js";
import { procCpuMs } from "./proc-cpu.js";
import { errorSummary, ms, rate, roundLines, table } from "./report-format.js";

/**
 * The workloads `--replicas` runs by default: the issue's put, range, watch
 * fan-out and keep-alive, and the cross-replica watch latency (on a single
 * endpoint: the same-server baseline at the same write rate).
 */
export const replicaCompareDefault = ["put", "range", "watch", "keepalive", "watch-cross"];

/**
 * The PostgreSQL settings the report prints (current_setting of each): what
 * a reader needs to judge the replicas' numbers, durability first.
 */
const reportedSettings = [
  "server_version",
  "fsync",
  "synchronous_commit",
  "wal_sync_method",
  "full_page_writes",
  "wal_level",
  "commit_delay",
  "shared_buffers",
  "wal_buffers",
  "max_wal_size",
  "checkpoint_timeout",
  "work_mem",
  "max_connections",
  "autovacuum",
];

export interface ReplicaComparePlan {
  workloads: string[];
  /** Rounds per workload and target (default 2 in bench.ts). */
  rounds: number;
  /** Replica counts, one replica set (and database) each. */
  replicas: number[];
  /** postgresql.conf overrides for startPostgres (none by default). */
  postgresSettings: Record<string, string>;
  /** Runs before any server starts (builds the Go client), so no server's CPU counts it. */
  prepare(): void;
  /** Runs one workload once against one or several (comma-joined) endpoints. */
  run(workload: string, endpoints: string): Promise<RunResult>;
}

/** One thing the workloads run against: etcd, embedded Conclave or a replica set. */
interface Target {
  name: string;
  servers: RunningServer[];
  /** The replica set's database in the shared PostgreSQL cluster. */
  database?: string;
}

/** The database of replica set `n` ("replicas_3"). */
const databaseOf = (n: number) => `replicas_${n}`;

/** Starts `n` replicas over `url`, one at a time: the first one creates the schema. */
async function startReplicas(n: number, url: string): Promise<RunningServer[]> {
  const out: RunningServer[] = [];
  for (let i = 0; i < n; i++) {
    out.push(await startConclave({ args: ["--name", `replica-${i}`, "--storage", url] }));
  }
  return out;
}

/** CPU so far (ms) of every process of the target's own, summed. */
function serversCpuMs(t: Target): number {
  return t.servers.reduce((sum, s) => sum + procCpuMs(s.proc.pid), 0);
}

export async function runReplicaCompare(plan: ReplicaComparePlan): Promise<number> {
  const targets: Target[] = [];
  let pg: PostgresCluster | undefined;
  const servers = () => targets.flatMap((t) => t.servers);
  const cleanup = async () => {
    for (const s of servers()) {
      await s.stop().catch(() => undefined);
      rmSync(s.dataDir, { recursive: true, force: true });
    }
    targets.length = 0;
    await pg?.close();
  };
  const onSignal = () => {
    for (const s of servers()) {
      s.proc.kill("SIGKILL");
      rmSync(s.dataDir, { recursive: true, force: true });
    }
    // startPostgres kills and removes the cluster when this process exits.
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  let failed = false;
  const started = performance.now();
  try {
    plan.prepare();
    targets.push({ name: "etcd", servers: [await startEtcd()] });
    targets.push({ name: "embedded", servers: [await startConclave()] });
    pg = await startPostgres({ settings: plan.postgresSettings });
    for (const n of plan.replicas) {
      const database = databaseOf(n);
      const url = await pg.createDatabase(database);
      targets.push({
        name: `${n} replica${n === 1 ? "" : "s"}`,
        servers: await startReplicas(n, url),
        database,
      });
    }
    const settings = await pg.psql(
      `SELECT name || '=' || current_setting(name) FROM pg_settings WHERE name IN (${reportedSettings
        .map((n) => `'${n}'`)
        .join(",")}) ORDER BY name`,
    );
    const loadBefore = loadAverage();
    process.stdout.write(
      `replicas: ${toolVersion("etcd")}; embedded Conclave; Conclave replicas (${plan.replicas.join(", ")}) ` +
        `over one PostgreSQL at 127.0.0.1:${pg.port}, one database per replica set\n` +
        `PostgreSQL settings: ${settings.split("\n").join(", ")}` +
        (Object.keys(plan.postgresSettings).length > 0
          ? ` (overridden: ${Object.entries(plan.postgresSettings)
              .map(([k, v]) => `${k}=${v}`)
              .join(", ")})`
          : " (startPostgres defaults, no overrides)") +
        "\n" +
        `${cpus().length} CPUs, ${Math.round(totalmem() / 1024 ** 3)} GiB; workloads ${plan.workloads.join(",")}, ` +
        `${plan.rounds} rounds per target, odd rounds in the order ${targets.map((t) => t.name).join(", ")}, ` +
        `even rounds reversed; client Go clientv3; load average ${loadBefore}\n` +
        "srv CPU counts the server process (etcd, embedded) or every replica process plus PostgreSQL's " +
        "postmaster, its background processes and the backends of the set's database (replicas); " +
        "'of which PG' is PostgreSQL's part\n\n",
    );

    const results = new Map<string, Merged>();
    for (const workload of plan.workloads) {
      for (let round = 0; round < plan.rounds; round++) {
        const order = round % 2 === 0 ? targets : [...targets].reverse();
        for (const t of order) {
          const dataDir = pg.dataDir;
          const pgSnap = (): CpuSnapshot | undefined =>
            t.database === undefined ? undefined : postgresCpuSnapshot(dataDir, t.database);
          const cpu0 = serversCpuMs(t);
          const pg0 = pgSnap();
          const t0 = performance.now();
          let r: RunResult;
          try {
            r = await plan.run(workload, t.servers.map((s) => s.url).join(","));
          } catch (err) {
            throw new Error(
              `${t.name} ${workload}: ${err instanceof Error ? err.message : String(err)}\n` +
                t.servers
                  .map((s, i) => `server ${i} output:\n${s.output().slice(-4000)}`)
                  .join("\n"),
            );
          }
          const pg1 = pgSnap();
          const pgCpu = pg0 === undefined || pg1 === undefined ? 0 : postgresCpuBetween(pg0, pg1);
          const serverCpu = serversCpuMs(t) - cpu0 + pgCpu;
          for (const [i, s] of t.servers.entries()) {
            if (s.proc.exitCode !== null) {
              throw new Error(
                `${t.name}: server ${i} exited (${s.proc.exitCode}) during ${workload}:\n${s.output().slice(-4000)}`,
              );
            }
          }
          const key = `${workload}/${t.name}`;
          const m = results.get(key) ?? emptyMerged();
          results.set(key, m);
          addRun(m, r, serverCpu, pgCpu);
          process.stdout.write(
            roundLines(round, workload, t.name, r, performance.now() - t0, {
              workload: 12,
              target: 10,
            }),
          );
        }
      }
    }

    const rows: string[][] = [];
    for (const workload of plan.workloads) {
      const merged = targets.map((t) => results.get(`${workload}/${t.name}`) ?? emptyMerged());
      for (const [j, m] of merged.entries()) {
        if (m.errors > 0) {
          failed = true;
          process.stderr.write(`${workload} ${targets[j]?.name}: ${errorSummary(m.errorKinds)}\n`);
        }
      }
      const etcdRate = (i: number) => {
        const e = merged[0];
        return e === undefined ? Number.NaN : measureStats(e, i).rate;
      };
      (merged[0]?.names ?? []).forEach((measure, i) => {
        const first = i === 0;
        for (const [j, m] of merged.entries()) {
          const s = measureStats(m, i);
          const vsEtcd = etcdRate(i);
          rows.push([
            first && j === 0 ? workload : "",
            j === 0 ? measure : "",
            targets[j]?.name ?? "",
            rate(s.rate, m.units[i]),
            vsEtcd > 0 && !Number.isNaN(s.rate) ? `${(s.rate / vsEtcd).toFixed(2)}x` : "-",
            ms(s.p50),
            ms(s.p99),
            ms(s.max),
            first ? String(m.errors) : "",
            first ? rate(cpuPerOpUs(m)) : "",
            first && targets[j]?.database !== undefined ? rate(postgresPerOpUs(m)) : "",
            first ? rate(clientPerOpUs(m)) : "",
          ]);
        }
      });
    }
    const params = plan.workloads
      .map((w) => `  ${w}: ${results.get(`${w}/etcd`)?.params ?? ""}`)
      .join("\n");
    process.stdout.write(
      `\nparams per run:\n${params}\n\n${table(
        [
          "workload",
          "measure",
          "server",
          "rate /s",
          "rate/etcd",
          "p50 ms",
          "p99 ms",
          "max ms",
          "errors",
          "srv CPU µs/op",
          "of which PG",
          "client CPU µs/op",
        ],
        rows,
        3,
      )}\n\nrate is the mean over rounds; latency percentiles are over all rounds' samples; CPU per op ` +
        "divides by each workload's operations (ops, watch deliveries, keep-alives, watch-cross " +
        `acknowledged puts). Wall time ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
        `load average (1/5/15 min) ${loadBefore} before, ${loadAverage()} after.\n`,
    );
  } finally {
    await cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  return failed ? 1 : 0;
}
