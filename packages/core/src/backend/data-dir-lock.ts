import { linkSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The lock file's name inside a data dir. */
export const dataDirLockName = "conclave.lock";

/** A data dir another live process holds, or one this process cannot use: one line for the operator. */
export class DataDirError extends Error {
  override name = "DataDirError";
}

export interface DataDirLock {
  /** Removes the lock file (only if it is still ours). */
  release(): void;
}

/**
 * Takes `dir` for this process: LMDB lets several processes open one
 * environment, but each Conclave keeps its own index in memory, so two
 * servers on one data dir would overwrite each other's revisions. The lock
 * is a file holding the owner's PID, created atomically (written beside it,
 * then hard-linked into place, which fails if the name exists). A lock whose
 * process is gone (kill -9, a crash) is stale and taken over; a live owner
 * makes this throw `DataDirError` naming the dir and the PID, as etcd refuses
 * a data dir whose WAL another member has locked.
 */
export function lockDataDir(dir: string): DataDirLock {
  const path = join(dir, dataDirLockName);
  const mine = `${process.pid}\n`;
  const temp = join(dir, `.${dataDirLockName}.${process.pid}`);
  writeFileSync(temp, mine);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(temp, path);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw err;
      }
      const owner = Number.parseInt(readText(path), 10);
      if (Number.isInteger(owner) && owner !== process.pid && alive(owner)) {
        throw new DataDirError(
          `data dir ${dir} is in use by another conclave (pid ${owner}); stop it first (if pid ${owner} is not a conclave, remove ${path})`,
        );
      }
      rmSync(path, { force: true }); // stale: its process is gone
    }
  } catch (err) {
    if (err instanceof DataDirError) throw err;
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      throw new DataDirError(`data dir ${dir} is being locked by another process; try again`);
    }
    throw err;
  } finally {
    rmSync(temp, { force: true });
  }
  return {
    release() {
      if (readText(path) === mine) rmSync(path, { force: true });
    },
  };
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Whether a process with this PID exists (EPERM: it exists, owned by someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
