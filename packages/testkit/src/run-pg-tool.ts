import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from "node:child_process";
import { join } from "node:path";
import { postgresBinDir } from "./postgres-bin.js";

/** Whether this process is root: PostgreSQL's server tools refuse to run as root. */
export const isRoot = process.getuid?.() === 0;

let owner: { uid: number; gid: number } | undefined;

/**
 * Who owns the clusters' files: the `postgres` user (Debian's package creates
 * it) when we are root, else ourselves.
 */
export function clusterOwner(): { uid: number; gid: number } {
  if (owner) return owner;
  if (!isRoot) {
    owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    return owner;
  }
  try {
    const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"]).toString().trim());
    owner = { uid: id("-u"), gid: id("-g") };
    return owner;
  } catch {
    throw new Error(
      "running as root, and PostgreSQL refuses root, but there is no `postgres` user to run it as (Debian's postgresql package creates it)",
    );
  }
}

export interface PgToolOptions {
  /** Run as the `postgres` user when we are root (the server tools); default false (clients). */
  asOwner?: boolean;
  /** Written to the tool's stdin; default none. */
  input?: string;
  /** Default the current directory: pass one the `postgres` user can enter. */
  cwd?: string;
}

/**
 * Spawns a binary of the newest installed PostgreSQL, as the `postgres` user
 * with `asOwner` when we are root. PG* variables of our environment are
 * dropped (they would redirect the tools), and messages are in English
 * (LC_ALL=C) so errors and logs can be matched.
 */
export function spawnPgTool(
  tool: string,
  args: string[],
  options: Pick<PgToolOptions, "asOwner" | "cwd"> & Pick<SpawnOptions, "stdio" | "detached">,
): ChildProcess {
  const bin = join(postgresBinDir(), tool);
  const env: NodeJS.ProcessEnv = { LC_ALL: "C" };
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("PG") && k !== "LC_ALL") env[k] = v;
  }
  // setpriv execs the tool itself (no PAM session, no process in between):
  // the pid we get is the tool's, e.g. the postmaster's.
  if (options.asOwner && isRoot) {
    const { uid, gid } = clusterOwner();
    const argv = [`--reuid=${uid}`, `--regid=${gid}`, "--init-groups", "--", bin, ...args];
    return spawn("setpriv", argv, { ...options, env });
  }
  return spawn(bin, args, { ...options, env });
}

/** Runs a PostgreSQL binary (spawnPgTool) and resolves its stdout; rejects with its exit code and stderr. */
export function runPgTool(tool: string, args: string[], options: PgToolOptions = {}) {
  return new Promise<string>((resolve, reject) => {
    const proc = spawnPgTool(tool, args, {
      asOwner: options.asOwner,
      cwd: options.cwd,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    proc.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    proc.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    proc.once("error", reject);
    proc.once("close", (code, signal) => {
      if (code === 0) resolve(out);
      else {
        const how = signal ?? `exit ${code}`;
        reject(
          new Error(`${tool} ${args.join(" ")} failed (${how}):\n${err.trim() || out.trim()}`),
        );
      }
    });
    if (options.input !== undefined) proc.stdin?.end(options.input);
  });
}
