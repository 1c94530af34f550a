// What the comparison reports say about the machine and the tools they ran
// on: benchmark numbers on a shared 2-core VM mean little without them.

import { execFileSync } from "node:child_process";
import { loadavg } from "node:os";

/** The first line of `<cmd> --version`, "?" if it cannot run. */
export function toolVersion(cmd: string): string {
  try {
    return execFileSync(cmd, ["--version"]).toString().split("\n")[0]?.trim() ?? "?";
  } catch {
    return "?";
  }
}

/** The 1/5/15-minute load averages, "a b c". */
export function loadAverage(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
}
