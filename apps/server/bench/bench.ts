// `npm run bench`: a KV load generator for any etcd v3 endpoint, and a
// `--compare` mode that runs the same workloads against a fresh Conclave and a
// fresh etcd side by side. See usage() and BENCHMARKS.md.

import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import {
  type RunningServer,
  startConclave,
  startEtcd,
} from "../../../packages/e2e/src/processes.js";
import {
  type LoadOptions,
  type LoadResult,
  percentile,
  runLoad,
  type Workload,
  workloads,
} from "./load.js";

function usage(): string {
  return `Usage:
  npm run bench -- [--endpoint URL] [options]     load one etcd v3 endpoint
  npm run bench -- --compare [options]            fresh Conclave vs fresh etcd, same client

Options:
  --endpoint URL      etcd v3 gRPC endpoint, h2c (default http://127.0.0.1:2379; loopback only)
  --workload LIST     put, range or mixed (50% put / 50% range); comma-separated for several
                      (default put; with --compare: put,range)
  --concurrency N     requests in flight (default 64)
  --total N           timed operations per run (default 20000; with --compare: 10000)
  --value-size N      bytes per value (default 256)
  --keys N            key space, keys picked uniformly at random (default 1000)
  --clients N         gRPC connections, concurrency spread over them (default 4)
  --warmup N          untimed operations before each timed run (default 500)
  --timeout-ms N      per-request deadline, 0 for none (default 30000)
  --rounds N          --compare only: rounds per workload; odd rounds run etcd first,
                      even rounds Conclave first (default 2)
  --help              print this

Range and mixed populate every key first (untimed). A range that finds no key counts as an error.
Prints ops/s, p50/p90/p99/max latency (ms) and errors; --compare also prints server CPU per
operation (from /proc) and the ratio Conclave/etcd.`;
}

function int(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

class UsageError extends Error {}

interface Config {
  compare: boolean;
  endpoint: string;
  workloads: Workload[];
  rounds: number;
  load: Omit<LoadOptions, "endpoint" | "workload">;
}

function parseConfig(argv: string[]): Config | "help" {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      endpoint: { type: "string" },
      workload: { type: "string" },
      concurrency: { type: "string" },
      total: { type: "string" },
      "value-size": { type: "string" },
      keys: { type: "string" },
      clients: { type: "string" },
      warmup: { type: "string" },
      "timeout-ms": { type: "string" },
      rounds: { type: "string" },
      compare: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return "help";
  const compare = values.compare ?? false;
  if (compare && values.endpoint !== undefined) {
    throw new UsageError("--compare starts its own servers; --endpoint does not apply");
  }
  const endpoint = values.endpoint ?? "http://127.0.0.1:2379";
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UsageError(`--endpoint ${JSON.stringify(endpoint)} is not a URL`);
  }
  if (url.protocol !== "http:") throw new UsageError("--endpoint must be http:// (h2c)");
  if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) {
    throw new UsageError("--endpoint must be a loopback address (127.0.0.1, localhost, [::1])");
  }
  const list = (values.workload ?? (compare ? "put,range" : "put")).split(",").map((s) => s.trim());
  const wl: Workload[] = [];
  for (const w of list) {
    if (!(workloads as readonly string[]).includes(w)) {
      throw new UsageError(`--workload must be put, range or mixed, got ${JSON.stringify(w)}`);
    }
    wl.push(w as Workload);
  }
  const keys = int("keys", values.keys, 1000, 1);
  return {
    compare,
    endpoint: url.origin,
    workloads: wl,
    rounds: int("rounds", values.rounds, 2, 1),
    load: {
      concurrency: int("concurrency", values.concurrency, 64, 1),
      total: int("total", values.total, compare ? 10_000 : 20_000, 1),
      valueSize: int("value-size", values["value-size"], 256, 0),
      keys,
      clients: int("clients", values.clients, 4, 1),
      warmup: int("warmup", values.warmup, 500, 0),
      timeoutMs: int("timeout-ms", values["timeout-ms"], 30_000, 0),
      keyPrefix: "bench/",
    },
  };
}

// ---- formatting -------------------------------------------------------------

const ms = (x: number) => (Number.isNaN(x) ? "-" : x < 10 ? x.toFixed(2) : x.toFixed(1));
const rate = (x: number) => Math.round(x).toString();

/** A Markdown table; the first `textCols` columns are left-aligned, the rest right-aligned. */
function table(header: string[], rows: string[][], textCols = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i < textCols ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  const sep = `|${widths.map((w, i) => (i < textCols ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(header), sep, ...rows.map(line)].join("\n");
}

function errorSummary(kinds: Map<string, number>): string {
  return [...kinds].map(([k, n]) => `${n}x ${k}`).join("; ");
}

// ---- single endpoint ---------------------------------------------------------

async function runSingle(cfg: Config): Promise<number> {
  const rows: string[][] = [];
  let failed = false;
  for (const workload of cfg.workloads) {
    const r = await runLoad({ ...cfg.load, endpoint: cfg.endpoint, workload });
    const l = r.latenciesMs;
    rows.push([
      workload,
      String(r.concurrency),
      String(r.clients),
      rate(r.opsPerSec),
      ms(percentile(l, 50)),
      ms(percentile(l, 90)),
      ms(percentile(l, 99)),
      ms(percentile(l, 100)),
      String(r.errors),
    ]);
    if (r.errors > 0) {
      failed = true;
      process.stderr.write(`${workload}: ${errorSummary(r.errorKinds)}\n`);
    }
  }
  process.stdout.write(
    `endpoint ${cfg.endpoint}, total ${cfg.load.total}, value ${cfg.load.valueSize} B, keys ${cfg.load.keys}\n\n`,
  );
  process.stdout.write(
    `${table(["workload", "conc", "conns", "ops/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"], rows)}\n`,
  );
  return failed ? 1 : 0;
}

// ---- compare -----------------------------------------------------------------

/** User+system CPU of a process so far, in ms (Linux /proc; NaN elsewhere). */
function procCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // After "pid (comm) ", field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return Number.NaN;
  }
}

interface Server {
  name: "etcd" | "conclave";
  running: RunningServer;
}

interface Merged {
  opsPerSec: number[];
  latencies: Float64Array[];
  ok: number;
  errors: number;
  errorKinds: Map<string, number>;
  serverCpuMs: number;
  clientCpuMs: number;
}

function emptyMerged(): Merged {
  return {
    opsPerSec: [],
    latencies: [],
    ok: 0,
    errors: 0,
    errorKinds: new Map(),
    serverCpuMs: 0,
    clientCpuMs: 0,
  };
}

function sortedConcat(parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out.sort();
}

function toolVersion(cmd: string): string {
  try {
    return execFileSync(cmd, ["--version"]).toString().split("\n")[0]?.trim() ?? "?";
  } catch {
    return "?";
  }
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
    servers.push({ name: "etcd", running: await startEtcd() });
    servers.push({ name: "conclave", running: await startConclave() });
    const [etcd, conclave] = servers as [Server, Server];
    const load = () =>
      loadavg()
        .map((x) => x.toFixed(2))
        .join(" ");
    const loadBefore = load();
    process.stdout.write(
      `compare: ${toolVersion("etcd")} at ${etcd.running.url} vs Conclave at ${conclave.running.url}\n` +
        `${cpus().length} CPUs, ${Math.round(totalmem() / 1024 ** 3)} GiB; workloads ${cfg.workloads.join(",")}, ` +
        `concurrency ${cfg.load.concurrency} over ${Math.min(cfg.load.clients, cfg.load.concurrency)} conns, ` +
        `total ${cfg.load.total} x ${cfg.rounds} rounds per server, value ${cfg.load.valueSize} B, keys ${cfg.load.keys}\n\n`,
    );

    const results = new Map<string, Merged>();
    for (const workload of cfg.workloads) {
      for (let round = 0; round < cfg.rounds; round++) {
        const order = round % 2 === 0 ? [etcd, conclave] : [conclave, etcd];
        for (const s of order) {
          const pid = s.running.proc.pid;
          const cpu0 = procCpuMs(pid);
          let r: LoadResult;
          try {
            r = await runLoad({ ...cfg.load, endpoint: s.running.url, workload });
          } catch (err) {
            throw new Error(
              `${s.name} ${workload}: ${err instanceof Error ? err.message : String(err)}\n` +
                `server output:\n${s.running.output().slice(-4000)}`,
            );
          }
          const serverCpu = procCpuMs(pid) - cpu0;
          if (s.running.proc.exitCode !== null) {
            throw new Error(
              `${s.name} exited (${s.running.proc.exitCode}) during ${workload}:\n${s.running.output().slice(-4000)}`,
            );
          }
          const key = `${workload}/${s.name}`;
          const m = results.get(key) ?? emptyMerged();
          results.set(key, m);
          m.opsPerSec.push(r.opsPerSec);
          m.latencies.push(r.latenciesMs);
          m.ok += r.ok;
          m.errors += r.errors;
          for (const [k, n] of r.errorKinds) m.errorKinds.set(k, (m.errorKinds.get(k) ?? 0) + n);
          m.serverCpuMs += serverCpu;
          m.clientCpuMs += r.clientCpuMs;
          process.stdout.write(
            `  round ${round + 1} ${workload.padEnd(5)} ${s.name.padEnd(8)} ${rate(r.opsPerSec).padStart(7)} ops/s  ` +
              `p50 ${ms(percentile(r.latenciesMs, 50))}  p99 ${ms(percentile(r.latenciesMs, 99))}  ` +
              `max ${ms(percentile(r.latenciesMs, 100))} ms  errors ${r.errors}\n`,
          );
        }
      }
    }

    const rows: string[][] = [];
    for (const workload of cfg.workloads) {
      const stats = (name: string) => {
        const m = results.get(`${workload}/${name}`) ?? emptyMerged();
        const l = sortedConcat(m.latencies);
        return {
          m,
          ops: m.opsPerSec.reduce((a, b) => a + b, 0) / Math.max(1, m.opsPerSec.length),
          p50: percentile(l, 50),
          p90: percentile(l, 90),
          p99: percentile(l, 99),
          max: percentile(l, 100),
          cpuUsPerOp: (m.serverCpuMs * 1000) / Math.max(1, m.ok),
          clientUsPerOp: (m.clientCpuMs * 1000) / Math.max(1, m.ok),
        };
      };
      const e = stats("etcd");
      const c = stats("conclave");
      for (const [name, s] of [
        ["etcd", e],
        ["conclave", c],
      ] as const) {
        rows.push([
          workload,
          String(cfg.load.concurrency),
          name,
          rate(s.ops),
          ms(s.p50),
          ms(s.p90),
          ms(s.p99),
          ms(s.max),
          String(s.m.errors),
          Number.isNaN(s.cpuUsPerOp) ? "-" : Math.round(s.cpuUsPerOp).toString(),
          Math.round(s.clientUsPerOp).toString(),
        ]);
        if (s.m.errors > 0) {
          failed = true;
          process.stderr.write(`${workload} ${name}: ${errorSummary(s.m.errorKinds)}\n`);
        }
      }
      const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : "-");
      rows.push([
        workload,
        String(cfg.load.concurrency),
        "conclave/etcd",
        ratio(c.ops, e.ops),
        ratio(c.p50, e.p50),
        ratio(c.p90, e.p90),
        ratio(c.p99, e.p99),
        ratio(c.max, e.max),
        "",
        ratio(c.cpuUsPerOp, e.cpuUsPerOp),
        "",
      ]);
    }
    process.stdout.write(
      `\n${table(
        [
          "workload",
          "conc",
          "server",
          "ops/s",
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
      )}\n\nops/s is the mean over rounds; latency percentiles are over all rounds' operations. ` +
        `Wall time ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
        `load average (1/5/15 min) ${loadBefore} before, ${load()} after.\n`,
    );
  } finally {
    await cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  return failed ? 1 : 0;
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
  process.exitCode = cfg.compare ? await runCompare(cfg) : await runSingle(cfg);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
