import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { serverBundle } from "./start-conclave.js";

/** What a finished `conclave` command printed, and how it ended. */
export interface ConclaveRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `conclave` CLI (the bundle `startConclave` runs) with `args`
 * to its end — for one-shot commands such as `conclave migrate` — and
 * resolves with its exit code and output. Rejects only when it cannot start
 * or outlives `timeoutMs` (default 60 s; it is killed then).
 */
export async function runConclave(
  args: readonly string[],
  options: { timeoutMs?: number } = {},
): Promise<ConclaveRun> {
  if (!existsSync(serverBundle)) {
    throw new Error(`${serverBundle} is missing: run \`npm run build -w @conclave/server-app\``);
  }
  const proc = spawn(process.execPath, ["--enable-source-maps", serverBundle, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  proc.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(
        new Error(`conclave ${args.join(" ")} still running after ${timeoutMs} ms:\n${stderr}`),
      );
    }, timeoutMs);
    proc.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
