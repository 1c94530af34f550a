import { execFileSync, spawn } from "node:child_process";
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
 * (e.g. TLS flags with "https"). With `snapshot`, the data dir is first
 * built from that snapshot file by `etcdctl snapshot restore` (with this
 * member's name and peer URL, as etcd requires), so etcd serves its data.
 */
export async function startEtcd(options: EtcdStartOptions = {}): Promise<RunningServer> {
  const bin = requireTool("etcd");
  return withFreshPorts(async () => spawnEtcd(bin, options, await freePort(), await freePort()));
}

export interface EtcdStartOptions extends Pick<StartOptions, "scheme" | "args"> {
  /** A snapshot file (`etcdctl snapshot save`'s) to restore into the data dir first. */
  snapshot?: string;
}

async function spawnEtcd(
  bin: string,
  options: EtcdStartOptions,
  port: number,
  peerPort: number,
): Promise<RunningServer> {
  let dataDir = mkdtempSync(join(tmpdir(), "etcd-ref-"));
  const url = `${options.scheme ?? "http"}://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  if (options.snapshot !== undefined) {
    // etcdctl refuses an existing data dir: restore into a fresh one inside.
    dataDir = join(dataDir, "restored");
    execFileSync(
      requireTool("etcdctl"),
      [
        "snapshot",
        "restore",
        options.snapshot,
        "--name",
        "ref",
        "--data-dir",
        dataDir,
        "--initial-cluster",
        `ref=${peer}`,
        "--initial-advertise-peer-urls",
        peer,
      ],
      { stdio: "pipe", env: { ...process.env, ETCDCTL_API: "3" } },
    );
  }
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
  const tempDir = options.snapshot !== undefined ? join(dataDir, "..") : dataDir;
  return running(proc, url, port, dataDir, () => rmSync(tempDir, { recursive: true, force: true }));
}
