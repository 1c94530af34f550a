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

/** Ports freePort() handed out in this process: never handed out twice. */
const handedOut = new Set<number>();

/**
 * A free TCP port on 127.0.0.1 (bind to 0, read it, release it). Another
 * process (or an outgoing connection, which draws from the same range) can
 * still take it before the server binds it: the start functions retry then.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.unref();
      s.on("error", reject);
      s.listen(0, "127.0.0.1", () => {
        const addr = s.address();
        const port = typeof addr === "object" && addr !== null ? addr.port : 0;
        s.close(() => resolve(port));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/** Starts a server on fresh free ports, again (up to 3 times) if a port was taken meanwhile. */
async function withFreshPorts(start: () => Promise<RunningServer>): Promise<RunningServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      const taken = /EADDRINUSE|address already in use/.test(String(err));
      if (!taken || attempt === 3) throw err;
    }
  }
}

/**
 * Servers started here and not yet exited. They do not keep this process
 * alive (see track()) and are killed when it exits: a server a test lost
 * track of (one of two started together when the other failed to start)
 * can neither hold up the test run nor outlive it.
 */
const live = new Set<ChildProcess>();

// At exit: kill what still runs, then remove the data dirs.
process.once("exit", () => {
  for (const proc of live) proc.kill("SIGKILL");
  for (const d of createdDirs) rmSync(d, { recursive: true, force: true });
});

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
  live.add(proc);
  proc.once("exit", () => live.delete(proc));
  // Only waiting for its exit (stop/kill) holds the event loop for it.
  proc.unref();
  for (const pipe of [proc.stdout, proc.stderr]) (pipe as { unref?: () => void } | null)?.unref?.();
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
  try {
    await waitForPort(port, 20_000, proc, t.output);
  } catch (err) {
    proc.ref();
    if (proc.exitCode === null) proc.kill("SIGKILL");
    await t.exited;
    afterExit();
    throw err;
  }
  const end = async (signal: NodeJS.Signals) => {
    proc.ref();
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
  // A given port is the test's (a restart on the same port): no retry on another.
  if (options.port !== undefined) return spawnConclave(options, options.port);
  return withFreshPorts(async () => spawnConclave(options, await freePort()));
}

async function spawnConclave(options: StartOptions, port: number): Promise<RunningServer> {
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
  return withFreshPorts(async () => spawnEtcd(bin, options, await freePort(), await freePort()));
}

async function spawnEtcd(
  bin: string,
  options: Pick<StartOptions, "scheme" | "args">,
  port: number,
  peerPort: number,
): Promise<RunningServer> {
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
