// The bridge from `npm run bench` to the Go load generator in ./go (built on
// etcd's own clientv3): installs the toolchain if missing, builds the binary
// when its source changed, runs one workload and turns the program's JSON line
// into the RunResult the Node workloads return. Go because a Node client
// costs ~500 µs of CPU per call and so became the limit of every comparison.

import { execFile, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { aptInstall } from "./apt-install.js";
import type { Measure, RunResult } from "./coord.js";

const srcDir = join(dirname(fileURLToPath(import.meta.url)), "go");
/** Gitignored (go/.gitignore): the binary, its stamp and the first GOPATH entry. */
const binDir = join(srcDir, "bin");
const binPath = join(binDir, "gobench");
const stampPath = join(binDir, "gobench.stamp");
/** Where Debian's golang-*-dev packages put their sources (GOPATH layout). */
const debianGopath = "/usr/share/gocode";
const clientv3Src = join(debianGopath, "src/go.etcd.io/etcd/clientv3/client.go");

/** The workloads the Go program implements (its -workload values). */
export const goPrograms = [
  "put",
  "range",
  "txn-put",
  "keepalive-once",
  "keepalive-stream",
  "watch",
  "watch-create",
  "watch-cross",
  "lock",
  "election",
  "churn",
] as const;
export type GoProgram = (typeof goPrograms)[number];

/**
 * GOPATH mode, offline: Debian ships clientv3 3.4 and all its dependencies as
 * GOPATH sources, not as modules, and there is no module proxy to fall back
 * on. GOFLAGS is cleared so a user's -mod=... cannot break the build.
 */
function goEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GO111MODULE: "off",
    GOPATH: `${join(binDir, "gopath")}:${debianGopath}`,
    GOFLAGS: "",
    GOPROXY: "off",
    GOTOOLCHAIN: "local",
  };
}

function haveGo(): boolean {
  return spawnSync("go", ["version"], { stdio: "ignore" }).status === 0;
}

/**
 * Installs golang-go and golang-etcd-server-dev with apt when either is
 * missing, the way scripts/test.sh installs etcd: the bench must work on a
 * fresh machine.
 */
function ensureToolchain(): void {
  if (haveGo() && existsSync(clientv3Src)) return;
  aptInstall(["golang-go", "golang-etcd-server-dev"]);
  if (!haveGo() || !existsSync(clientv3Src)) {
    throw new Error(`go or ${clientv3Src} still missing after apt-get install`);
  }
}

/** Hash of every Go source file and the compiler version: the build's identity. */
function sourceStamp(): string {
  const h = createHash("sha256");
  for (const f of readdirSync(srcDir)
    .filter((n) => n.endsWith(".go"))
    .sort()) {
    h.update(f)
      .update("\0")
      .update(readFileSync(join(srcDir, f)))
      .update("\0");
  }
  h.update(spawnSync("go", ["version"]).stdout ?? "");
  return h.digest("hex");
}

/** Returns the path of an up-to-date gobench binary, installing Go and building as needed. */
export function ensureGoBench(): string {
  ensureToolchain();
  const stamp = sourceStamp();
  if (existsSync(binPath) && existsSync(stampPath) && readFileSync(stampPath, "utf8") === stamp) {
    return binPath;
  }
  mkdirSync(binDir, { recursive: true });
  process.stderr.write("bench: building the Go load generator (apps/server/bench/go)\n");
  const tmp = `${binPath}.tmp`;
  const r = spawnSync("go", ["build", "-o", tmp, "."], {
    cwd: srcDir,
    env: goEnv(),
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (r.status !== 0) throw new Error(`go build in ${srcDir} failed (${r.status})`);
  renameSync(tmp, binPath);
  writeFileSync(stampPath, stamp);
  return binPath;
}

// ---- the program's output -----------------------------------------------------

interface GoMeasure {
  name: string;
  unit: string;
  rate: number;
  count: number;
  samples?: number[];
}

interface GoResult {
  type: "result";
  workload: string;
  params: string;
  ops: number;
  errors: number;
  errorKinds: Record<string, number>;
  clientCpuMs: number;
  serverCpuMs?: number;
  measures: GoMeasure[];
  notes: string[];
}

function isGoResult(x: unknown): x is GoResult {
  if (typeof x !== "object" || x === null) return false;
  const r = x as Partial<GoResult>;
  return (
    r.type === "result" &&
    typeof r.workload === "string" &&
    typeof r.ops === "number" &&
    typeof r.errors === "number" &&
    Array.isArray(r.measures) &&
    r.measures.every(
      (m: Partial<GoMeasure>) => typeof m.name === "string" && typeof m.rate === "number",
    )
  );
}

/**
 * The RunResult in the program's stdout: its last line that starts with "{".
 * Samples must be present (run with -samples): rounds are merged sample by
 * sample, percentiles of percentiles would mean nothing. A rate the program
 * could not compute arrives as -1 (JSON has no NaN).
 */
export function parseGoOutput(stdout: string): RunResult {
  const line = stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .at(-1);
  if (line === undefined) throw new Error("gobench printed no JSON result line");
  const raw: unknown = JSON.parse(line);
  if (!isGoResult(raw))
    throw new Error(`gobench result line has the wrong shape: ${line.slice(0, 200)}`);
  const measures: Measure[] = raw.measures.map((m) => {
    if (m.samples === undefined && m.count > 0) {
      throw new Error(
        `gobench measure ${JSON.stringify(m.name)} has no samples (run with -samples)`,
      );
    }
    return {
      name: m.name,
      unit: m.unit,
      rate: m.rate < 0 ? Number.NaN : m.rate,
      latenciesMs: Float64Array.from(m.samples ?? []).sort(),
    };
  });
  return {
    workload: raw.workload,
    params: raw.params,
    ops: raw.ops,
    errors: raw.errors,
    errorKinds: new Map(Object.entries(raw.errorKinds ?? {})),
    measures,
    clientCpuMs: raw.clientCpuMs,
    ...(typeof raw.serverCpuMs === "number" && { serverCpuMs: raw.serverCpuMs }),
    notes: raw.notes ?? [],
  };
}

/** Runs the program once; flags are gobench's own (see `gobench -h`). */
export function runGoBench(
  bin: string,
  program: GoProgram,
  endpoint: string,
  flags: Record<string, string | number>,
): Promise<RunResult> {
  const args = [
    `-endpoint=${endpoint}`,
    `-workload=${program}`,
    "-samples",
    ...Object.entries(flags).map(([k, v]) => `-${k}=${v}`),
  ];
  return new Promise((resolve, reject) => {
    // A watch fan-out run carries 200k samples: a few MB of JSON.
    execFile(bin, args, { maxBuffer: 512 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`gobench ${args.join(" ")}: ${err.message}\n${stderr.slice(-4000)}`));
        return;
      }
      try {
        resolve(parseGoOutput(stdout));
      } catch (e) {
        reject(e);
      }
    });
  });
}
