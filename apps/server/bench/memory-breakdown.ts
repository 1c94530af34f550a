// Where a server's memory goes (`node --import tsx apps/server/bench/memory-breakdown.ts`):
// starts the Conclave bundle on an empty temp data dir, then grants `--leases` leases (TTL 3600)
// and opens `--watchers` watchers (100 per stream, one key each), as memory.ts does. At each step
// it reads /proc (VmRSS, RssAnon, RssFile) and the server's own /metrics (V8 heap used and
// committed per space, external memory) and the CPU seconds the step took; with `--snapshots <dir>` it has the server write a
// heap snapshot (SIGUSR2, after a full GC) to compare per constructor with
// `node apps/server/bench/heap-snapshot-diff.ts a b`.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import {
  KV,
  Lease,
  LeaseGrantRequestSchema,
  RangeRequestSchema,
  RequestOpSchema,
  TxnRequestSchema,
  Watch,
  type WatchRequest,
  WatchRequestSchema,
} from "@conclave/proto";
import { freePort } from "@conclave/testkit";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const { values: args } = parseArgs({
  options: {
    /** Keys loaded first (10 B key, 32 B value, Txns of 128 puts over 8 calls in flight). */
    keys: { type: "string", default: "0" },
    leases: { type: "string", default: "10000" },
    watchers: { type: "string", default: "10000" },
    snapshots: { type: "string" },
    /** Extra node flags for the server, space-separated. */
    "node-flags": { type: "string", default: "" },
    /** Where the server's stdout goes (e.g. --trace-gc lines): a file path. */
    "server-stdout": { type: "string" },
    bundle: { type: "string", default: join(repoRoot, "apps", "server", "dist", "conclave.mjs") },
  },
});
const keyCount = Number(args.keys);
const leaseCount = Number(args.leases);
const watcherCount = Number(args.watchers);
const snapshotDir = args.snapshots;

function procStatus(pid: number): Record<string, number> {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const out: Record<string, number> = {};
  for (const f of ["VmRSS", "RssAnon", "RssFile", "RssShmem"]) {
    const m = new RegExp(`${f}:\\s+(\\d+) kB`).exec(status);
    out[f] = m === null ? Number.NaN : Number(m[1]) / 1024;
  }
  return out;
}

/** CPU seconds (user + system) the process has used. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function heapMetrics(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m =
      /^(nodejs_heap_size_used_bytes|nodejs_heap_size_total_bytes|nodejs_external_memory_bytes|nodejs_heap_space_size_used_bytes|nodejs_heap_space_size_total_bytes)(\{space="(\w+)"\})? (\S+)$/.exec(
        line,
      );
    if (m === null) continue;
    const name = (m[1] as string)
      .replace("nodejs_", "")
      .replace("_bytes", "")
      .replace("heap_space_size_", "");
    out[m[3] === undefined ? name : `${name}.${m[3]}`] = Number(m[4]) / 2 ** 20;
  }
  return out;
}

let snapshotNo = 0;
async function snapshot(p: ChildProcess, label: string): Promise<void> {
  if (snapshotDir === undefined) return;
  const before = new Set(readdirSync(snapshotDir));
  p.kill("SIGUSR2");
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const made = readdirSync(snapshotDir).filter(
      (f) => !before.has(f) && f.endsWith(".heapsnapshot"),
    );
    const f = made[0];
    if (f === undefined) continue;
    // Written in one go once named; wait for its size to settle.
    let size = -1;
    for (;;) {
      const s = readFileSync(join(snapshotDir, f)).length;
      if (s === size && s > 0) break;
      size = s;
      await new Promise((r) => setTimeout(r, 500));
    }
    renameSync(join(snapshotDir, f), join(snapshotDir, `${++snapshotNo}-${label}.heapsnapshot`));
    return;
  }
}

async function settle(pid: number): Promise<Record<string, number>> {
  let best: Record<string, number> = { VmRSS: Number.POSITIVE_INFINITY };
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 400));
    const s = procStatus(pid);
    if ((s.VmRSS as number) < (best.VmRSS as number)) best = s;
  }
  return best;
}

const enc = new TextEncoder();
const key = (i: number) => enc.encode(`k${String(i).padStart(9, "0")}`);

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), "mem-breakdown-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const flags = (args["node-flags"] as string).split(" ").filter((f) => f !== "");
  if (snapshotDir !== undefined) flags.push("--heapsnapshot-signal=SIGUSR2");
  const proc = spawn(
    process.execPath,
    [
      ...flags,
      resolve(args.bundle as string),
      "--data-dir",
      dataDir,
      "--listen-client-urls",
      url,
      "--log-level",
      "warn",
    ],
    {
      stdio: [
        "ignore",
        args["server-stdout"] === undefined ? "ignore" : openSync(args["server-stdout"], "w"),
        "inherit",
      ],
      cwd: snapshotDir ?? dataDir,
    },
  );
  const pid = proc.pid ?? 0;
  const rows: Array<[string, Record<string, number>]> = [];
  let cpuBefore = 0;
  const step = async (label: string) => {
    const cpu = cpuSeconds(pid) - cpuBefore;
    const rss = await settle(pid);
    rows.push([label, { ...rss, cpuSeconds: cpu, ...(await heapMetrics(url)) }]);
    await snapshot(proc, label);
    cpuBefore = cpuSeconds(pid);
  };
  try {
    const session = new Http2SessionManager(url);
    const transport = createGrpcTransport({ baseUrl: url, sessionManager: session });
    const kv = createClient(KV, transport);
    const lease = createClient(Lease, transport);
    const watch = createClient(Watch, transport);
    for (let i = 0; ; i++) {
      try {
        await kv.range(create(RangeRequestSchema, { key: key(0) }), { timeoutMs: 2000 });
        break;
      } catch (err) {
        if (i > 500) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await step("empty");
    if (keyCount > 0) {
      const value = new Uint8Array(32).fill(118);
      let next = 0;
      const worker = async () => {
        while (next < keyCount) {
          const from = next;
          next = Math.min(keyCount, next + 128);
          const success = [];
          for (let i = from; i < next; i++) {
            success.push(
              create(RequestOpSchema, {
                request: { case: "requestPut", value: { key: key(i), value } },
              }),
            );
          }
          await kv.txn(create(TxnRequestSchema, { success }));
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      await step("keys");
    }
    for (let i = 0; i < leaseCount; i += 100) {
      const n = Math.min(100, leaseCount - i);
      await Promise.all(
        Array.from({ length: n }, () =>
          lease.leaseGrant(create(LeaseGrantRequestSchema, { TTL: 3600n })),
        ),
      );
    }
    await step("leases");
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
      const res = watch.watch(reqs(), { signal: ac.signal });
      await new Promise<void>((resolve) => {
        let created = 0;
        void (async () => {
          try {
            for await (const r of res) if (r.created && ++created === n) resolve();
          } catch {
            resolve();
          }
        })();
      });
    }
    await step("watchers");
    for (const ac of streams) ac.abort();
    session.abort();
  } finally {
    proc.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  }
  const keys = Object.keys(rows[0]?.[1] ?? {});
  console.log(`${"MiB".padEnd(36)}${rows.map(([l]) => l.padStart(10)).join("")}`);
  for (const k of keys) {
    console.log(
      `${k.padEnd(36)}${rows.map(([, r]) => (r[k] ?? Number.NaN).toFixed(1).padStart(10)).join("")}`,
    );
  }
  process.exit(0);
}

await main();
