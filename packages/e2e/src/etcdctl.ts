import { execFileSync } from "node:child_process";
import { requireTool } from "@conclave/testkit";

/** Runs etcdctl (API v3) against an endpoint, 20 s at most; returns stdout, stderr and the exit code. */
export function etcdctl(
  endpoint: string,
  args: string[],
  input?: string,
): { stdout: string; stderr: string; code: number } {
  const bin = requireTool("etcdctl");
  try {
    const stdout = execFileSync(bin, [`--endpoints=${endpoint}`, ...args], {
      env: { ...process.env, ETCDCTL_API: "3" },
      input: input ?? "",
      stdio: ["pipe", "pipe", "pipe"],
      timeout: 20_000,
    }).toString();
    return { stdout, stderr: "", code: 0 };
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer; status?: number };
    return {
      stdout: err.stdout?.toString() ?? "",
      stderr: err.stderr?.toString() ?? "",
      code: err.status ?? 1,
    };
  }
}

/**
 * Parses etcdctl's `-w json` output with every number as its decimal string,
 * so 64-bit member and cluster IDs survive.
 */
export function parseJson<T>(out: string): T {
  const quoted = out.replace(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g, (m) =>
    m.startsWith('"') ? m : `"${m}"`,
  );
  return JSON.parse(quoted) as T;
}
