import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, withFreshPorts } from "./free-port.js";
import { requireTool } from "./require-tool.js";
import { type RunningServer, running } from "./running-server.js";
import type { StartOptions } from "./start-conclave.js";

/**
 * Starts a real etcd (Debian's etcd-server) on free ports with a temp data
 * dir, removed once it stopped. `scheme` and `args` as for `startConclave`
 * (e.g. TLS flags with "https").
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
