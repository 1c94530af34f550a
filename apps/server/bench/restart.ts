// Restart benchmark (`node --import tsx apps/server/bench/restart.ts --dir D --keys 1000000`):
// fills the data dir `--dir` once with `--keys` keys (10 B key, 32 B value, Txns of 128 puts as
// memory.ts loads them, written by the MVCC store in-process, which is much faster than over gRPC)
// unless it already holds a store, then restarts a server on it `--runs` times and reports for each
// start the wall and CPU seconds (user + system of all threads, from /proc/<pid>/stat) from spawn to
// the first answered Range, and the RSS then. `--bundle a.mjs,b.mjs` alternates builds run by run
// (paired A/B on a shared machine); `--stop kill` ends each run with SIGKILL instead of SIGTERM.
// `--dir` omitted: a fresh empty store each run (what Node and the bundle alone cost to start).

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { createLmdbBackend, openKvStore } from "@conclave/core";
import { KV, RangeRequestSchema } from "@conclave/proto";
import { freePort } from "@conclave/testkit";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

const { values: args } = parseArgs({
  options: {
    dir: { type: "string" },
    keys: { type: "string", default: "1000000" },
    runs: { type: "string", default: "3" },
    stop: { type: "string", default: "term" },
    bundle: { type: "string", default: join(repoRoot, "apps", "server", "dist", "conclave.mjs") },
  },
});
const bundles = (args.bundle as string).split(",");
const runs = Number(args.runs);

const enc = new TextEncoder();
const key = (i: number) => enc.encode(`k${String(i).padStart(9, "0")}`);

async function fill(dir: string, keys: number): Promise<void> {
  const backend = createLmdbBackend({ dir });
  const store = openKvStore({ backend });
  const value = new Uint8Array(32).fill(118);
  for (let i = 0; i < keys; i += 128 * 64) {
    let last: Promise<void> = Promise.resolve();
    for (let j = i; j < Math.min(keys, i + 128 * 64); j += 128) {
      last = store.write((t) => {
        for (let k = j; k < Math.min(keys, j + 128); k++) t.put(key(k), value, 0n);
      }).durable;
    }
    await last;
  }
  await store.close();
  await backend.close();
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m === null ? Number.NaN : Math.round(Number(m[1]) / 1024);
}

async function waitReady(url: string, proc: ChildProcess): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}`);
    const session = new Http2SessionManager(url);
    const kv = createClient(KV, createGrpcTransport({ baseUrl: url, sessionManager: session }));
    try {
      await kv.range(create(RangeRequestSchema, { key: key(0) }), { timeoutMs: 2000 });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 10));
    } finally {
      session.abort();
    }
  }
}

async function startOnce(bundle: string, dir: string) {
  const url = `http://127.0.0.1:${await freePort()}`;
  const t0 = performance.now();
  const proc = spawn(
    process.execPath,
    [bundle, "--data-dir", dir, "--listen-client-urls", url, "--log-level", "warn"],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  await waitReady(url, proc);
  const pid = proc.pid ?? 0;
  const result = {
    wallSeconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
    cpuSeconds: cpuSeconds(pid),
    rssMiB: rssMiB(pid),
  };
  proc.kill(args.stop === "kill" ? "SIGKILL" : "SIGTERM");
  await exited;
  return result;
}

const dir = args.dir;
if (dir !== undefined && !existsSync(join(dir, "conclave.mdb"))) {
  const t0 = performance.now();
  await fill(dir, Number(args.keys));
  console.error(`filled ${args.keys} keys in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
for (let i = 0; i < runs; i++) {
  for (const bundle of bundles) {
    const runDir = dir ?? mkdtempSync(join(tmpdir(), "restart-bench-"));
    try {
      const r = await startOnce(bundle, runDir);
      const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
      console.log(JSON.stringify({ bundle, ...r, load }));
    } finally {
      if (dir === undefined) rmSync(runDir, { recursive: true, force: true });
    }
  }
}
