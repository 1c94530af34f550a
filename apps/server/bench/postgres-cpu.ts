// The CPU a PostgreSQL cluster (testkit's startPostgres) spends for one
// database: what `--replicas` adds to the replicas' own CPU, since in replica
// mode every write and every linearizable read is also work in PostgreSQL.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parentPid, procCpuMs } from "./proc-cpu.js";

/** CPU so far (ms) of each counted process, by pid. */
export type CpuSnapshot = Map<number, number>;

/**
 * A backend retitles itself `postgres: <cluster_name>: <user> <database>
 * <host>(<port>) <state>` (or `[local]` for the Unix socket); the server's
 * own processes (checkpointer, background writer, walwriter, autovacuum
 * launcher, …) have no user, database and client address.
 */
const backendTitle = /^postgres: [^:]+: (\S+) (\S+) (\S+\(\d+\)|\[local\])/;

/**
 * The counted processes of the cluster in `dataDir` and their CPU so far:
 * the postmaster (postmaster.pid's first line), its non-backend children
 * (shared work: WAL writer, checkpointer, background writer, autovacuum) and
 * the backends connected to `database`. Backends of other databases are
 * left out: they belong to the other targets of the run, which are idle
 * meanwhile. Empty if the cluster or /proc cannot be read.
 */
export function postgresCpuSnapshot(dataDir: string, database: string): CpuSnapshot {
  const out: CpuSnapshot = new Map();
  let postmaster: number;
  try {
    postmaster = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  } catch {
    return out;
  }
  out.set(postmaster, procCpuMs(postmaster));
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (parentPid(pid) !== postmaster) continue;
    let title: string;
    try {
      title = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
    } catch {
      continue;
    }
    const backend = backendTitle.exec(title);
    if (backend !== null && backend[2] !== database) continue;
    const cpu = procCpuMs(pid);
    if (!Number.isNaN(cpu)) out.set(pid, cpu);
  }
  return out;
}

/**
 * CPU (ms) spent between two snapshots by the processes of `after`; one that
 * started in between counts from zero. One that exited in between is lost
 * (its CPU went to the postmaster's reaped-children total, which also holds
 * other databases' backends): the replicas keep their pooled connections
 * open, so under load none exits. NaN if `after` is empty.
 */
export function postgresCpuBetween(before: CpuSnapshot, after: CpuSnapshot): number {
  if (after.size === 0) return Number.NaN;
  let sum = 0;
  for (const [pid, cpu] of after) sum += cpu - (before.get(pid) ?? 0);
  return sum;
}
