import { spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, withFreshPorts } from "./free-port.js";
import { type RunningServer, removeAtExit, running } from "./running-server.js";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/**
 * The server as `npm start` runs it: apps/server's bundle (its `build`
 * script; e2e's `test` and the root `bench` scripts run it first).
 */
export const serverBundle = join(repoRoot, "apps", "server", "dist", "conclave.mjs");

export interface StartOptions {
  /** Reuse a data dir (restart tests); default a fresh temp dir, removed when this process exits. */
  dataDir?: string;
  /** Default a free port (retried on another if taken meanwhile). */
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

/** Starts the real `conclave` CLI (apps/server) as a child process on a free port, at log level warn. */
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
    removeAtExit(dataDir);
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
