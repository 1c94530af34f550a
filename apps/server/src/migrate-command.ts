import { createPostgresStorage } from "@conclave/postgres";
import { type MigrateSummary, migrateEmbeddedStore } from "@conclave/server";
import { closestName } from "./closest-name.js";
import { FlagError, postgresUrlPattern } from "./flags.js";
import { createProgressLine, formatMiB } from "./progress-line.js";
import { redactUrl } from "./redact-url.js";

/** `conclave migrate`'s flags. */
export interface MigrateFlags {
  /** `--from`: the embedded store's data dir. */
  from: string;
  /** `--to`: the PostgreSQL database replicas will share (`--storage` of the replicas). */
  to: string;
  /** `--help`: print {@link migrateUsage} and exit; the others are then empty. */
  help: boolean;
}

const flagNames = ["from", "to", "help"] as const;

/** The text printed for `conclave migrate --help`. */
export function migrateUsage(): string {
  return [
    "Usage: conclave migrate --from <data-dir> --to <postgres-url>",
    "",
    "Moves an embedded store (the --data-dir of a stopped conclave) to a fresh",
    "PostgreSQL database with its whole history: replicas started with",
    "--storage <postgres-url> then answer as that server did (revisions, history,",
    "compaction, leases, users, roles, auth). Lease clocks restart at the",
    "migration, as etcd's do on restore; auth tokens are not kept.",
    "",
    "Refused, writing nothing: a directory without a store, a store a running",
    "server has open, a database whose log already has entries.",
    "",
    "Flags (--flag value and --flag=value both work):",
    "  --from <data-dir>",
    "      The data directory of the embedded store. Only read.",
    "  --to <postgres-url>",
    '      "postgres://user@host:port/db": the database the replicas will share.',
    "  --help",
    "      Print this help and exit.",
    "",
  ].join("\n");
}

/**
 * Parses `conclave migrate`'s arguments (after the word `migrate`), in the
 * server's flag syntax. No environment variables: a one-shot copy names its
 * source and target on the command line.
 *
 * @throws FlagError naming the offending flag.
 */
export function parseMigrateFlags(argv: readonly string[]): MigrateFlags {
  const values = new Map<string, string>();
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const match = /^--?([^=]+)(?:=(.*))?$/s.exec(arg);
    if (match === null || arg === "-") {
      throw new FlagError(`'${arg}' is not a valid flag (flags start with --)`);
    }
    const name = match[1] === "h" ? "help" : (match[1] ?? "");
    if (name === "help") {
      help = true;
      continue;
    }
    if (!(flagNames as readonly string[]).includes(name)) {
      const near = closestName(name, flagNames);
      throw new FlagError(
        `unknown flag: --${name}${near === undefined ? "" : ` (did you mean --${near}?)`}`,
      );
    }
    let value = match[2];
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined || value.startsWith("-")) {
        throw new FlagError(`flag needs an argument: --${name}`);
      }
      i++;
    }
    values.set(name, value);
  }
  if (help) return { from: "", to: "", help };
  const from = values.get("from") ?? "";
  const to = values.get("to") ?? "";
  if (from === "") throw new FlagError("--from <data-dir> is required");
  if (to === "") throw new FlagError("--to <postgres-url> is required");
  if (!postgresUrlPattern.test(to)) {
    throw new FlagError(`invalid value "${redactUrl(to)}" for --to: must be a postgres:// URL`);
  }
  return { from, to, help };
}

/** The one line `conclave migrate` prints on success. */
export function formatMigrateSummary(flags: MigrateFlags, s: MigrateSummary): string {
  const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  const compacted = s.compactRevision < 0 ? "never compacted" : `compacted at ${s.compactRevision}`;
  return (
    `migrated ${flags.from} to ${redactUrl(flags.to)}: revision ${s.revision} (${compacted}), ` +
    `${count(s.keys, "key", "keys")}, ${count(s.leases, "lease", "leases")}, ` +
    `${count(s.entries, "log entry", "log entries")} (${s.bytes} bytes)`
  );
}

/**
 * `conclave migrate --from <data-dir> --to <postgres-url>`: runs
 * {@link migrateEmbeddedStore}, shows a progress line on stderr every 16 MiB
 * read (a large store takes minutes), prints one line saying what moved, and
 * resolves with the exit code: 0 done, 1 refused or failed (nothing
 * written), 2 a usage error.
 */
export async function runMigrateCommand(argv: readonly string[]): Promise<number> {
  let flags: MigrateFlags;
  try {
    flags = parseMigrateFlags(argv);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    process.stderr.write(`conclave migrate: ${err.message}\n\n${migrateUsage()}\n`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(`${migrateUsage()}\n`);
    return 0;
  }
  const line = createProgressLine();
  try {
    const summary = await migrateEmbeddedStore({
      from: flags.from,
      to: createPostgresStorage({
        url: flags.to,
        applicationName: "conclave migrate",
        maxConnections: 1,
      }),
      onProgress: (p) =>
        line.update(`migrating ${flags.from}: ${p.entries} log entries, ${formatMiB(p.bytes)}`),
    });
    line.end();
    process.stdout.write(`${formatMigrateSummary(flags, summary)}\n`);
    return 0;
  } catch (err) {
    line.end();
    process.stderr.write(
      `conclave migrate: cannot migrate ${flags.from} to ${redactUrl(flags.to)}: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    return 1;
  }
}
