import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/**
 * The server as `npm start` runs it: apps/server's bundle (its `build`
 * script; this package's `test` script runs it first).
 */
const serverBundle = join(repoRoot, "apps", "server", "dist", "conclave.mjs");

/** Data dirs this process created; removed when it exits (restart tests reuse them until then). */
const createdDirs = new Set<string>();
process.once("exit", () => {
  for (const d of createdDirs) rmSync(d, { recursive: true, force: true });
});

/** A free TCP port on 127.0.0.1 (bind to 0, read it, release it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on the port, or rejects after timeoutMs. */
async function waitForPort(port: number, timeoutMs: number, proc: ChildProcess, log: () => string) {
  const { connect } = await import("node:net");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`process exited (${proc.exitCode}):\n${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, "127.0.0.1");
      c.once("connect", () => {
        c.destroy();
        resolve(true);
      });
      c.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port} after ${timeoutMs} ms:\n${log()}`);
}

export interface RunningServer {
  /** `http://127.0.0.1:port`, or `https://` with `scheme: "https"`. */
  url: string;
  /** `127.0.0.1:port`, for etcdctl's --endpoints. */
  endpoint: string;
  port: number;
  dataDir: string;
  proc: ChildProcess;
  /** Everything the process printed so far. */
  output(): string;
  /** SIGTERM and wait for exit (graceful shutdown). Returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

function track(proc: ChildProcess) {
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    proc.once("exit", (code) => resolve(code)),
  );
  return { output: () => out, exited };
}

/**
 * Waits until the spawned server listens on `port`, then wraps it; `afterExit`
 * runs once it was stopped or killed (e.g. to remove its data dir).
 */
async function running(
  proc: ChildProcess,
  url: string,
  port: number,
  dataDir: string,
  afterExit: () => void = () => {},
): Promise<RunningServer> {
  const t = track(proc);
  await waitForPort(port, 20_000, proc, t.output);
  const end = async (signal: NodeJS.Signals) => {
    if (proc.exitCode === null) proc.kill(signal);
    const code = await t.exited;
    afterExit();
    return code;
  };
  return {
    url,
    endpoint: `127.0.0.1:${port}`,
    port,
    dataDir,
    proc,
    output: t.output,
    stop: () => end("SIGTERM"),
    async kill() {
      await end("SIGKILL");
    },
  };
}

export interface StartOptions {
  /** Reuse a data dir (restart tests); default a fresh temp dir. */
  dataDir?: string;
  port?: number;
  /** Extra CLI flags. */
  args?: string[];
  /**
   * The scheme of the main URL: "https" needs `--cert-file` and `--key-file`
   * in `args`. Default "http".
   */
  scheme?: "http" | "https";
  /** More `--listen-client-urls` after the main one (e.g. a plaintext port beside TLS). */
  extraListenUrls?: string[];
}

/** Starts the real `conclave` CLI (apps/server) as a child process on a free port. */
export async function startConclave(options: StartOptions = {}): Promise<RunningServer> {
  if (!existsSync(serverBundle)) {
    throw new Error(`${serverBundle} is missing: run \`npm run build -w @conclave/server-app\``);
  }
  const port = options.port ?? (await freePort());
  let dataDir = options.dataDir;
  if (dataDir === undefined) {
    dataDir = mkdtempSync(join(tmpdir(), "conclave-e2e-"));
    createdDirs.add(dataDir);
  }
  const url = `${options.scheme ?? "http"}://127.0.0.1:${port}`;
  const proc = spawn(
    process.execPath,
    [
      "--enable-source-maps",
      serverBundle,
      "--data-dir",
      dataDir,
      "--listen-client-urls",
      [url, ...(options.extraListenUrls ?? [])].join(","),
      "--log-level",
      "warn",
      ...(options.args ?? []),
    ],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
  );
  return running(proc, url, port, dataDir);
}

/** Path of a binary on PATH, or throws: a missing tool fails the suite, never skips it. */
export function requireTool(name: string): string {
  try {
    return execFileSync("sh", ["-c", `command -v ${name}`])
      .toString()
      .trim();
  } catch {
    throw new Error(`${name} is not installed (scripts/test.sh installs it); this suite needs it`);
  }
}

/**
 * Starts a real etcd (Debian's etcd-server) on free ports with a temp data dir.
 * `scheme` and `args` as for `startConclave` (e.g. TLS flags with "https").
 */
export async function startEtcd(
  options: Pick<StartOptions, "scheme" | "args"> = {},
): Promise<RunningServer> {
  const bin = requireTool("etcd");
  const port = await freePort();
  const peerPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "etcd-ref-"));
  const url = `${options.scheme ?? "http"}://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const proc = spawn(
    bin,
    [
      "--name",
      "ref",
      "--data-dir",
      dataDir,
      "--listen-client-urls",
      url,
      "--advertise-client-urls",
      url,
      "--listen-peer-urls",
      peer,
      "--initial-advertise-peer-urls",
      peer,
      "--initial-cluster",
      `ref=${peer}`,
      "--log-level",
      "error",
      "--logger",
      "zap",
      ...(options.args ?? []),
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: "" } },
  );
  // A reference server's data is of no use once it stopped.
  return running(proc, url, port, dataDir, () => rmSync(dataDir, { recursive: true, force: true }));
}

/** Runs etcdctl (API v3) against an endpoint; returns stdout, stderr and the exit code. */
export function etcdctl(
  endpoint: string,
  args: string[],
  input?: string,
): { stdout: string; stderr: string; code: number } {
  const bin = requireTool("etcdctl");
  try {
    const stdout = execFileSync(bin, [`--endpoints=${endpoint}`, ...args], {
      env: { ...process.env, ETCDCTL_API: "3" },
      input: input ?? "",
      stdio: ["pipe", "pipe", "pipe"],
      timeout: 20_000,
    }).toString();
    return { stdout, stderr: "", code: 0 };
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer; status?: number };
    return {
      stdout: err.stdout?.toString() ?? "",
      stderr: err.stderr?.toString() ?? "",
      code: err.status ?? 1,
    };
  }
}
