import { existsSync, readdirSync, rmSync } from "node:fs";
import { createLmdbBackend } from "@conclave/core";
import { restoreEtcdSnapshot } from "@conclave/server";
import { createProgressLine, formatMiB } from "./progress-line.js";

export const snapshotUsage = `Usage: conclave snapshot restore <file> --data-dir <dir> [--skip-hash-check]

Builds a Conclave data dir from a snapshot in etcd's format: one saved by
\`etcdctl snapshot save\` from a real etcd 3.4, or from Conclave. Keys, history
since the last compaction, revisions, leases (restarted with their full TTL),
users (their passwords still work), roles and the auth state come along.
The data dir must not exist or be empty; start conclave on it afterwards.

  --data-dir <dir>      the data dir to create (required)
  --skip-hash-check     accept a file without the SHA-256 trailer (a copied db)`;

/** Progress line every this many bytes of keys and values. */
const progressEveryBytes = 16 * 1024 * 1024;

/**
 * `conclave snapshot restore <file> --data-dir <dir>`: the one-command
 * migration from etcd. Prints a progress line (rewritten in place on a
 * terminal), then a summary; returns the exit code. A failed restore
 * removes the data dir it started, so a retry starts clean.
 */
export async function runSnapshotCommand(args: readonly string[]): Promise<number> {
  const fail = (message: string, code = 1) => {
    process.stderr.write(`conclave snapshot: ${message}\n`);
    return code;
  };
  if (args[0] === "--help" || args[0] === "-h" || args.length === 0) {
    process.stdout.write(`${snapshotUsage}\n`);
    return args.length === 0 ? 2 : 0;
  }
  if (args[0] !== "restore") return fail(`unknown command "${args[0]}"\n\n${snapshotUsage}`, 2);
  let file: string | undefined;
  let dataDir: string | undefined;
  let skipHashCheck = false;
  for (let i = 1; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--skip-hash-check") skipHashCheck = true;
    else if (a === "--data-dir") dataDir = args[++i];
    else if (a.startsWith("--data-dir=")) dataDir = a.slice("--data-dir=".length);
    else if (a.startsWith("-")) return fail(`unknown flag ${a}\n\n${snapshotUsage}`, 2);
    else if (file === undefined) file = a;
    else return fail(`unexpected argument ${a}\n\n${snapshotUsage}`, 2);
  }
  if (file === undefined) return fail(`a snapshot file is required\n\n${snapshotUsage}`, 2);
  if (dataDir === undefined || dataDir === "") {
    return fail(`--data-dir is required\n\n${snapshotUsage}`, 2);
  }
  if (!existsSync(file)) return fail(`${file}: no such file`);
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    return fail(`data-dir "${dataDir}" exists and is not empty`);
  }

  const line = createProgressLine();
  const started = Date.now();
  const backend = createLmdbBackend({ dir: dataDir });
  try {
    const r = await restoreEtcdSnapshot(file, backend, {
      skipHashCheck,
      progressEveryBytes,
      onProgress: (p) =>
        line.update(`restoring ${file}: ${p.revisions} revisions, ${formatMiB(p.bytes)}`),
    });
    await backend.close();
    line.done(
      `restored ${file} into ${dataDir} in ${((Date.now() - started) / 1000).toFixed(1)} s: ` +
        `revision ${r.revision}, compacted at ${r.compactRevision}, ${r.revisions} revisions, ` +
        `${r.leases} leases, ${r.users} users, ${r.roles} roles, auth ${r.authEnabled ? "enabled" : "disabled"}`,
    );
    return 0;
  } catch (err) {
    await backend.close().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
    line.end();
    return fail(err instanceof Error ? err.message : String(err));
  }
}
