// Memory and restart benchmark (`node --import tsx apps/server/bench/memory.ts`): starts one
// server (the Conclave bundle or etcd 3.4) on a temp data dir, loads `--keys` keys (10 B key,
// 32 B value) through Txn batches of 128 puts, then measures its RSS, the time a kill -9 and a
// graceful restart take until a Range answers, the RSS after restart, and the RSS that
// `--leases` leases and `--watchers` watchers add. Only gRPC: the same numbers for both servers.
// With `--maintenance`, before the restarts: every key is written once more and history compacted,
// then a Snapshot is streamed (time, bytes) and a Defragment timed (file size before and after).

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import {
  KV,
  Lease,
  LeaseGrantRequestSchema,
  Maintenance,
  RangeRequestSchema,
  RequestOpSchema,
  TxnRequestSchema,
  Watch,
  type WatchRequest,
  WatchRequestSchema,
} from "@conclave/proto";
import { freePort, requireTool } from "@conclave/testkit";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { procCpuMs } from "./proc-cpu.js";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

const { values: args } = parseArgs({
  options: {
    server: { type: "string", default: "conclave" },
    keys: { type: "string", default: "100000" },
    leases: { type: "string", default: "10000" },
    watchers: { type: "string", default: "10000" },
    concurrency: { type: "string", default: "8" },
    maintenance: { type: "boolean", default: false },
    /**
     * Seconds to leave the server quiet after the lease step before sampling
     * it again (`leasesLaterMiB`; default 0: not measured). V8 gives back the
     * young generation a burst grew only when its memory reducer runs, which
     * took 30 to over 60 s of quiet here, long after the step's own samples
     * (2 s).
     */
    later: { type: "string", default: "0" },
    /** Another build of the server (e.g. a copy of dist taken before a change). */
    bundle: { type: "string", default: join(repoRoot, "apps", "server", "dist", "conclave.mjs") },
  },
});
const server = args.server as "conclave" | "etcd";
const keyCount = Number(args.keys);
const leaseCount = Number(args.leases);
const watcherCount = Number(args.watchers);
const concurrency = Number(args.concurrency);
const bundle = args.bundle as string;

interface Proc {
  proc: ChildProcess;
  exited: Promise<void>;
}

function launch(dataDir: string, port: number, peerPort: number): Proc {
  const url = `http://127.0.0.1:${port}`;
  const proc =
    server === "conclave"
      ? spawn(
          process.execPath,
          [bundle, "--data-dir", dataDir, "--listen-client-urls", url, "--log-level", "warn"],
          { stdio: ["ignore", "ignore", "inherit"] },
        )
      : spawn(
          requireTool("etcd"),
          [
            "--name=ref",
            `--data-dir=${dataDir}`,
            `--listen-client-urls=${url}`,
            `--advertise-client-urls=${url}`,
            `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
            `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
            `--initial-cluster=ref=http://127.0.0.1:${peerPort}`,
            "--log-level=error",
            "--logger=zap",
          ],
          { stdio: ["ignore", "ignore", "inherit"] },
        );
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  return { proc, exited };
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m === null ? Number.NaN : Number(m[1]) / 1024;
}

/**
 * CPU seconds (user + system, all threads) the process has used: on a shared,
 * overloaded machine a restart's wall time mostly measures the neighbours.
 */
function cpuSeconds(pid: number): number {
  return procCpuMs(pid) / 1000;
}

interface Conn {
  kv: Client<typeof KV>;
  lease: Client<typeof Lease>;
  watch: Client<typeof Watch>;
  maintenance: Client<typeof Maintenance>;
  session: Http2SessionManager;
}

function connect(url: string): Conn {
  const session = new Http2SessionManager(url);
  const transport = createGrpcTransport({ baseUrl: url, sessionManager: session });
  return {
    kv: createClient(KV, transport),
    lease: createClient(Lease, transport),
    watch: createClient(Watch, transport),
    maintenance: createClient(Maintenance, transport),
    session,
  };
}

/** Time until a Range answers (the server restored its index and serves). */
async function waitReady(url: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = connect(url);
    try {
      await c.kv.range(create(RangeRequestSchema, { key: key(0) }), { timeoutMs: 2000 });
      c.session.abort();
      return;
    } catch (err) {
      c.session.abort();
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const enc = new TextEncoder();
const key = (i: number) => enc.encode(`k${String(i).padStart(9, "0")}`);
const value = new Uint8Array(32).fill(118);

async function loadKeys(c: Conn): Promise<void> {
  const batch = 128;
  let next = 0;
  const worker = async () => {
    while (next < keyCount) {
      const from = next;
      next = Math.min(keyCount, next + batch);
      const success = [];
      for (let i = from; i < next; i++) {
        success.push(
          create(RequestOpSchema, {
            request: { case: "requestPut", value: { key: key(i), value } },
          }),
        );
      }
      await c.kv.txn(create(TxnRequestSchema, { success }));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/**
 * Writes every key once more and compacts the first round away (half the
 * file is garbage then), streams a Snapshot and times a Defragment.
 */
async function maintenance(c: Conn, pid: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  await loadKeys(c);
  const { header } = await c.kv.range(create(RangeRequestSchema, { key: key(0) }));
  await c.kv.compact({ revision: header?.revision ?? 0n, physical: true });
  let t = performance.now();
  let cpu = cpuSeconds(pid);
  let bytes = 0;
  for await (const r of c.maintenance.snapshot({}, { timeoutMs: 600_000 })) bytes += r.blob.length;
  out.snapshotSeconds = (performance.now() - t) / 1000;
  out.snapshotCpuSeconds = cpuSeconds(pid) - cpu;
  out.snapshotMiB = bytes / 2 ** 20;
  out.dbBeforeDefragMiB = Number((await c.maintenance.status({})).dbSize) / 2 ** 20;
  t = performance.now();
  cpu = cpuSeconds(pid);
  await c.maintenance.defragment({}, { timeoutMs: 600_000 });
  out.defragSeconds = (performance.now() - t) / 1000;
  out.defragCpuSeconds = cpuSeconds(pid) - cpu;
  out.dbAfterDefragMiB = Number((await c.maintenance.status({})).dbSize) / 2 ** 20;
  return out;
}

async function settle(pid: number): Promise<number> {
  // Let a collector run after the burst; take the lower of a few samples.
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 400));
    best = Math.min(best, rssMiB(pid));
  }
  return best;
}

async function main() {
  if (server === "conclave") requireBundle();
  const dataDir = mkdtempSync(join(tmpdir(), `mem-${server}-`));
  const port = await freePort();
  const peerPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const out: Record<string, number | string> = { server, keys: keyCount };
  try {
    let p = launch(dataDir, port, peerPort);
    await waitReady(url);
    out.emptyRssMiB = await settle(p.proc.pid ?? 0);
    let c = connect(url);
    const t0 = performance.now();
    await loadKeys(c);
    out.loadSeconds = (performance.now() - t0) / 1000;
    out.loadedRssMiB = await settle(p.proc.pid ?? 0);
    if (args.maintenance) Object.assign(out, await maintenance(c, p.proc.pid ?? 0));
    c.session.abort();

    p.proc.kill("SIGKILL");
    await p.exited;
    let t1 = performance.now();
    p = launch(dataDir, port, peerPort);
    await waitReady(url);
    out.restartKill9Seconds = (performance.now() - t1) / 1000;
    out.restartKill9CpuSeconds = cpuSeconds(p.proc.pid ?? 0);
    out.restartedRssMiB = await settle(p.proc.pid ?? 0);

    p.proc.kill("SIGTERM");
    await p.exited;
    t1 = performance.now();
    p = launch(dataDir, port, peerPort);
    await waitReady(url);
    out.restartGracefulSeconds = (performance.now() - t1) / 1000;
    out.restartGracefulCpuSeconds = cpuSeconds(p.proc.pid ?? 0);
    const base = await settle(p.proc.pid ?? 0);
    out.restartedGracefulRssMiB = base;

    c = connect(url);
    for (let i = 0; i < leaseCount; i += 100) {
      const n = Math.min(100, leaseCount - i);
      await Promise.all(
        Array.from({ length: n }, () =>
          c.lease.leaseGrant(create(LeaseGrantRequestSchema, { TTL: 3600n })),
        ),
      );
    }
    const withLeases = await settle(p.proc.pid ?? 0);
    out.leasesMiB = withLeases - base;
    const laterS = Number(args.later);
    if (laterS > 0) {
      await new Promise((r) => setTimeout(r, laterS * 1000));
      out.leasesLaterMiB = (await settle(p.proc.pid ?? 0)) - base;
    }

    // Watchers: 100 per stream, each on its own key, created and confirmed.
    const streams: AbortController[] = [];
    const perStream = 100;
    for (let s = 0; s * perStream < watcherCount; s++) {
      const ac = new AbortController();
      streams.push(ac);
      const n = Math.min(perStream, watcherCount - s * perStream);
      const reqs = async function* (): AsyncGenerator<WatchRequest> {
        for (let i = 0; i < n; i++) {
          yield create(WatchRequestSchema, {
            requestUnion: { case: "createRequest", value: { key: key(s * perStream + i) } },
          });
        }
        await new Promise((r) => ac.signal.addEventListener("abort", r));
      };
      const res = c.watch.watch(reqs(), { signal: ac.signal });
      // Keep reading in the background (leaving the loop would cancel the stream).
      await new Promise<void>((resolve) => {
        let created = 0;
        void (async () => {
          try {
            for await (const r of res) {
              if (r.created && ++created === n) resolve();
            }
          } catch {
            resolve();
          }
        })();
      });
    }
    const withWatchers = await settle(p.proc.pid ?? 0);
    out.watchersMiB = withWatchers - withLeases;
    for (const ac of streams) ac.abort();
    c.session.abort();
    p.proc.kill("SIGKILL");
    await p.exited;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  for (const [k, v] of Object.entries(out)) {
    console.log(`${k.padEnd(24)} ${typeof v === "number" ? v.toFixed(2) : v}`);
  }
  console.log(JSON.stringify(out));
  process.exit(0);
}

function requireBundle() {
  try {
    readFileSync(bundle);
  } catch {
    throw new Error(`${bundle} is missing: npm run -s build -w @conclave/server-app`);
  }
}

await main();
