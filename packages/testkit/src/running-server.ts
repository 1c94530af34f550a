import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { connect } from "node:net";

/** Data dirs the start functions created; removed when this process exits (restart tests reuse them until then). */
const createdDirs = new Set<string>();

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

/** Removes `dir` when this process exits, after every server still running was killed. */
export function removeAtExit(dir: string): void {
  createdDirs.add(dir);
}

/** Resolves once something accepts TCP connections on the port, or rejects after timeoutMs. */
async function waitForPort(port: number, timeoutMs: number, proc: ChildProcess, log: () => string) {
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

/** A server process started by `startConclave` or `startEtcd`. */
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
 * Waits until the spawned server listens on `port` (20 s at most), then
 * wraps it; `afterExit` runs once it was stopped or killed (e.g. to remove
 * its data dir). A server that never listens is killed and the call rejects
 * with its output.
 */
export async function running(
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
