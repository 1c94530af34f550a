// etcdctl as a long-running child process (watch, lock, elect), for tests
// that read its output while it runs or write to its stdin (watch -i).
import { type ChildProcess, spawn } from "node:child_process";
import { requireTool } from "@conclave/testkit";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface EtcdctlProcess {
  proc: ChildProcess;
  /** Wall-clock ms when it was spawned. */
  spawnedAt: number;
  stdout(): string;
  stderr(): string;
  /** Writes to its stdin (for `watch -i`). */
  write(s: string): void;
  /** Resolves once stdout matches; throws with the output after timeoutMs (default 5 s). */
  waitFor(pattern: string | RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (null when killed by a signal); throws after timeoutMs. */
  exit(timeoutMs?: number): Promise<number | null>;
  signal(sig: NodeJS.Signals): void;
  /** SIGKILL (unless it already ended) and wait for the exit. */
  kill(): Promise<void>;
}

const running = new Set<EtcdctlProcess>();

/** Starts `etcdctl --endpoints=<endpoint> ...args` (API v3) with piped stdio. */
export function spawnEtcdctl(endpoint: string, args: string[]): EtcdctlProcess {
  const proc = spawn(requireTool("etcdctl"), [`--endpoints=${endpoint}`, ...args], {
    env: { ...process.env, ETCDCTL_API: "3" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const spawnedAt = Date.now();
  let out = "";
  let err = "";
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  // A child that exits while we write to its stdin must not crash the test run.
  proc.stdin?.on("error", () => {});
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  const describe = () =>
    `etcdctl ${args.join(" ")}\nstdout: ${JSON.stringify(out)}\nstderr: ${err}`;
  const child: EtcdctlProcess = {
    proc,
    spawnedAt,
    stdout: () => out,
    stderr: () => err,
    write: (s) => proc.stdin?.write(s),
    async waitFor(pattern, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      const hit = () => (typeof pattern === "string" ? out.includes(pattern) : pattern.test(out));
      while (!hit()) {
        if (Date.now() > deadline) {
          throw new Error(
            `no ${JSON.stringify(String(pattern))} within ${timeoutMs} ms: ${describe()}`,
          );
        }
        await sleep(20);
      }
    },
    async exit(timeoutMs = 10_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<"timeout">((r) => {
        timer = setTimeout(() => r("timeout"), timeoutMs);
      });
      const r = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (r === "timeout") throw new Error(`still running after ${timeoutMs} ms: ${describe()}`);
      running.delete(child);
      return r;
    },
    signal(sig) {
      proc.kill(sig);
    },
    async kill() {
      running.delete(child);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
  };
  running.add(child);
  return child;
}

/** Kills every etcdctl this process started and has not seen end (for `after` hooks). */
export async function killAllEtcdctl(): Promise<void> {
  for (const c of [...running]) await c.kill();
}
