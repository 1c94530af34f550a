import { execFileSync } from "node:child_process";

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
