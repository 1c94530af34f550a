// CPU time of server processes from /proc, so `--compare` and `--replicas`
// can divide what a server spent by the operations it served. Linux only:
// elsewhere every figure is NaN and the tables print "-".

import { readFileSync } from "node:fs";

/** USER_HZ: the unit of /proc/<pid>/stat's times, 100 on every Linux. */
const ticksPerSecond = 100;

/**
 * The fields of /proc/<pid>/stat after "pid (comm) ", split at spaces:
 * index 0 is field 3 (state). comm may hold spaces and parentheses, so the
 * split starts after its last ")".
 */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** User+system CPU of a process (all its threads) so far, in ms; NaN if unreadable. */
export function procCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const f = statFields(pid);
  // utime is field 14 (index 11), stime field 15 (index 12).
  if (f === undefined) return Number.NaN;
  return ((Number(f[11]) + Number(f[12])) * 1000) / ticksPerSecond;
}

/** The parent pid of a process, undefined if it is gone. */
export function parentPid(pid: number): number | undefined {
  const f = statFields(pid);
  return f === undefined ? undefined : Number(f[1]);
}
