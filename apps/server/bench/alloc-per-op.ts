// Bytes the server allocates per operation of one Go generator workload,
// and where: V8's sampling heap profiler (heap-sampler.mjs) runs inside a
// fresh server from the bundle over the timed operations only, counting
// objects that die young too. Unlike CPU per operation it does not depend
// on what else the machine is doing (BENCHMARKS.md, "Allocation per Put").
//
//   npm run -s build -w @conclave/server-app
//   node --import tsx apps/server/bench/alloc-per-op.ts [--workload put] [--total 20000]
//     [--warmup 3000] [--bundle apps/server/dist/conclave.mjs] [--top 25] [--no-inlining]
//
// --no-inlining runs the server with `--no-turbo-inlining`, so each site is
// the function that allocates rather than the one it was inlined into.

import { type ChildProcess, execFileSync, fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort } from "@conclave/testkit";
import { ensureGoBench } from "./go-client.js";

const here = dirname(fileURLToPath(import.meta.url));

const { values: flags } = parseArgs({
  options: {
    workload: { type: "string", default: "put" },
    total: { type: "string", default: "20000" },
    warmup: { type: "string", default: "3000" },
    bundle: { type: "string", default: join(here, "../dist/conclave.mjs") },
    top: { type: "string", default: "25" },
    "no-inlining": { type: "boolean", default: false },
  },
});
const total = Number(flags.total);

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/** Self bytes per allocating function ("name file:line"), and their sum. */
function bySite(head: ProfileNode): { sites: Map<string, number>; bytes: number } {
  const sites = new Map<string, number>();
  let bytes = 0;
  const walk = (n: ProfileNode) => {
    if (n.selfSize > 0) {
      const f = n.callFrame;
      const where =
        f.url === "" ? "" : ` ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`;
      const site = `${f.functionName || "(anonymous)"}${where}`;
      sites.set(site, (sites.get(site) ?? 0) + n.selfSize);
      bytes += n.selfSize;
    }
    for (const c of n.children) walk(c);
  };
  walk(head);
  return { sites, bytes };
}

function request(child: ChildProcess, message: object, answer: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type?: string }) => {
      if (m?.type !== answer) return;
      child.off("message", onMessage);
      resolve();
    };
    child.on("message", onMessage);
    child.once("exit", (code) => reject(new Error(`server exited (${code})`)));
    child.send(message);
  });
}

async function waitHealthy(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} never became healthy`);
}

const gobench = ensureGoBench();
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const dir = mkdtempSync(join(tmpdir(), "conclave-alloc-"));
const server = fork(
  flags.bundle,
  ["--data-dir", join(dir, "data"), "--listen-client-urls", url, "--log-level", "warn"],
  {
    execArgv: [
      ...(flags["no-inlining"] ? ["--no-turbo-inlining"] : []),
      "--import",
      join(here, "heap-sampler.mjs"),
    ],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  },
);
try {
  await waitHealthy(url);
  const run = (n: string) =>
    execFileSync(
      gobench,
      [
        "--endpoint",
        `127.0.0.1:${port}`,
        "--workload",
        flags.workload,
        // lock and election count acquisitions; the others operations.
        "--total",
        n,
        "--acquisitions",
        n,
      ],
      {
        encoding: "utf8",
        maxBuffer: 256 * 1024 * 1024,
      },
    );
  run(flags.warmup);
  await request(server, { type: "start" }, "started");
  const summary = run(flags.total)
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("{"));
  const path = join(dir, "profile.heapprofile");
  await request(server, { type: "stop", path }, "stopped");
  const { sites, bytes } = bySite(JSON.parse(readFileSync(path, "utf8")).head as ProfileNode);
  for (const line of summary) console.log(line);
  console.log(
    `${flags.workload}: ${Math.round(bytes / total)} bytes allocated per operation (${total} operations)`,
  );
  const top = [...sites].sort((a, b) => b[1] - a[1]).slice(0, Number(flags.top));
  for (const [site, b] of top) console.log(`${String(Math.round(b / total)).padStart(8)}  ${site}`);
} finally {
  server.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}
