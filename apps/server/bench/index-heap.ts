// The MVCC store alone, without the server (`node --expose-gc --import tsx
// apps/server/bench/index-heap.ts --keys 1000000`): fills an LMDB data dir with `--keys` puts
// (10 B key, 32 B value, one revision each; `--updates` more puts over the first keys), then
// reopens it in a child process and reports how long the store takes to open (the index
// rebuild; wall and CPU time) and how much V8 heap the open store holds after a full GC, beside the empty-process
// baseline. `--snapshot` also writes a heap snapshot of the open store for DevTools.

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getHeapStatistics, writeHeapSnapshot } from "node:v8";
import { createLmdbBackend, openKvStore } from "@conclave/core";

const { values: args } = parseArgs({
  options: {
    keys: { type: "string", default: "100000" },
    updates: { type: "string", default: "0" },
    dir: { type: "string" },
    snapshot: { type: "boolean", default: false },
  },
});

const gc = (globalThis as { gc?: () => void }).gc;
function heapMiB(): number {
  gc?.();
  gc?.();
  return getHeapStatistics().used_heap_size / 2 ** 20;
}

const enc = new TextEncoder();
const key = (i: number) => enc.encode(`k${String(i).padStart(9, "0")}`);

async function fill(dir: string, keys: number, updates: number): Promise<void> {
  const backend = createLmdbBackend({ dir });
  const store = openKvStore({ backend });
  const value = new Uint8Array(32).fill(118);
  const total = keys + updates;
  for (let i = 0; i < total; i += 5000) {
    let last: Promise<void> = Promise.resolve();
    for (let j = i; j < Math.min(total, i + 5000); j++) {
      last = store.write((t) => t.put(key(j % keys), value, 0n)).durable;
    }
    await last;
  }
  await store.close();
  await backend.close();
}

async function reopen(dir: string): Promise<void> {
  const before = heapMiB();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const backend = createLmdbBackend({ dir });
  const store = openKvStore({ backend });
  const openMs = performance.now() - t0;
  // CPU time too: on a shared, overloaded machine wall time mostly measures the neighbours.
  const cpu = process.cpuUsage(cpu0);
  const after = heapMiB();
  if (args.snapshot) console.error(`snapshot: ${writeHeapSnapshot()}`);
  console.log(
    JSON.stringify({
      keys: store.keyCount(),
      rev: store.currentRev(),
      openMs: Math.round(openMs),
      openCpuMs: Math.round((cpu.user + cpu.system) / 1000),
      heapMiB: Number((after - before).toFixed(1)),
      bytesPerKey: Math.round(((after - before) * 2 ** 20) / store.keyCount()),
      rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
    }),
  );
  await store.close();
  await backend.close();
}

if (args.dir !== undefined) {
  await reopen(args.dir);
} else {
  const dir = mkdtempSync(`${tmpdir()}/index-heap-`);
  try {
    const t0 = performance.now();
    await fill(dir, Number(args.keys), Number(args.updates));
    console.error(`filled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const self = fileURLToPath(import.meta.url);
    const flags = ["--expose-gc", "--import", "tsx", self, "--dir", dir];
    if (args.snapshot) flags.push("--snapshot");
    for (let i = 0; i < 2; i++) {
      process.stdout.write(execFileSync(process.execPath, flags, { encoding: "utf8" }));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
