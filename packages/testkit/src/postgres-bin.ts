import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** Where Debian's `postgresql-N` packages put their binaries (not on PATH: pg_wrapper is). */
const debianRoot = "/usr/lib/postgresql";

/**
 * The bin dir of the newest PostgreSQL installed under /usr/lib/postgresql
 * (Debian's layout, one dir per major version), else the dir of an `initdb`
 * on PATH; throws like requireTool when there is none: a missing PostgreSQL
 * fails the suite, never skips it.
 */
export function postgresBinDir(): string {
  const versions = existsSync(debianRoot)
    ? readdirSync(debianRoot)
        .filter((v) => /^\d+(\.\d+)?$/.test(v) && existsSync(join(debianRoot, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest !== undefined) return join(debianRoot, newest, "bin");
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir !== "" && existsSync(join(dir, "initdb"))) return dir;
  }
  throw new Error(
    `initdb is not installed (no ${debianRoot}/*/bin/initdb, none on PATH; scripts/test.sh installs Debian's postgresql); this suite needs it`,
  );
}
