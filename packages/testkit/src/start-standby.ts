import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runPgTool } from "./run-pg-tool.js";
import {
  clusterInternals,
  logTail,
  makeTempDir,
  openCluster,
  type PostgresCluster,
  waitUntil,
  writeOwned,
} from "./start-postgres.js";

/** A streaming standby of a startPostgres cluster: read-only until promoted. */
export interface PostgresStandby extends PostgresCluster {
  /** pg_ctl promote, then waits until pg_is_in_recovery() is false: it takes writes from then on. */
  promote(): Promise<void>;
}

export interface StandbyOptions {
  /**
   * Make it the primary's synchronous standby: the primary's
   * synchronous_standby_names (ALTER SYSTEM, reloaded) names it, so a commit
   * returns once the standby flushed it — a failover then loses no
   * acknowledged commit. Default false (asynchronous).
   */
  synchronous?: boolean;
  /**
   * Its application_name on the primary, also the name of its replication
   * slot there: [a-z0-9_], unique per primary. Default `standby_<random>`.
   */
  name?: string;
}

/**
 * Starts a streaming standby of a running `primary` (one from startPostgres
 * or startStandby), for failover tests: pg_basebackup -R (fast checkpoint,
 * WAL streamed, through a replication slot on the primary so it keeps the
 * WAL the standby still needs) into its own temp dir, on its own free port,
 * with the primary's settings; resolves once the primary shows it streaming
 * (and `sync`, with `synchronous`). Its close() first takes it out of the
 * primary's synchronous_standby_names (were a stopped sync standby still
 * named, the primary's commits would wait forever) and drops its slot, when
 * the primary still runs.
 */
export async function startStandby(
  primary: PostgresCluster,
  options: StandbyOptions = {},
): Promise<PostgresStandby> {
  const p = clusterInternals(primary);
  if (!p.running()) throw new Error(`the primary (${primary.dataDir}) is not running`);
  const name = options.name ?? `standby_${randomBytes(4).toString("hex")}`;
  if (!/^[a-z0-9_]{1,63}$/.test(name)) {
    throw new Error(`standby name ${name}: [a-z0-9_], at most 63 (a replication slot's name)`);
  }
  const tempDir = makeTempDir("conclave-pg-standby-");
  const dataDir = join(tempDir, "data");
  const conninfo = `host=127.0.0.1 port=${primary.port} user=postgres application_name=${name}`;
  try {
    await runPgTool(
      "pg_basebackup",
      [
        ...["-D", dataDir, "-d", conninfo, "-R", "-X", "stream", "-C", "-S", name],
        ...["--checkpoint=fast", "--no-sync"],
      ],
      { asOwner: true, cwd: tempDir },
    );
    // -R wrote primary_conninfo and primary_slot_name there, after whatever
    // the primary had set with ALTER SYSTEM: say them once, ourselves, and
    // drop the primary's synchronous_standby_names (once promoted, this
    // server would wait for a standby it does not have).
    const autoConf = join(dataDir, "postgresql.auto.conf");
    const kept = readFileSync(autoConf, "utf8")
      .split("\n")
      .filter(
        (l) => !/^\s*(synchronous_standby_names|primary_conninfo|primary_slot_name)\b/.test(l),
      );
    writeOwned(
      autoConf,
      [
        ...kept.filter((l) => l.trim() !== ""),
        `primary_conninfo = '${conninfo}'`,
        `primary_slot_name = '${name}'`,
        "",
      ].join("\n"),
    );
  } catch (err) {
    rmSync(tempDir, { recursive: true, force: true });
    await primary.psql(dropSlot(name)).catch(() => {});
    throw err;
  }

  const standby = await openCluster(tempDir, p.settings, {
    async beforeClose() {
      if (!options.synchronous || !p.running()) return;
      const names = await primary.psql("SHOW synchronous_standby_names");
      if (names === `"${name}"` || names === name) {
        await primary.psql(
          "ALTER SYSTEM RESET synchronous_standby_names;\nSELECT pg_reload_conf();",
        );
      }
    },
    async afterClose() {
      if (!p.running()) return;
      // The primary's walsender notices the standby left a moment later.
      await waitUntil(
        async () => (await primary.psql(dropSlot(name))) === "" || !p.running(),
        5_000,
        () => `slot ${name} still active`,
      ).catch(() => {});
    },
  });

  const state = () =>
    primary.psql(
      `SELECT state || ' ' || sync_state FROM pg_stat_replication WHERE application_name = '${name}'`,
    );
  const tails = () =>
    `--- primary log tail:\n${logTail(primary.logFile)}\n--- standby log tail:\n${logTail(standby.logFile)}`;
  try {
    if (options.synchronous) {
      await primary.psql(
        `ALTER SYSTEM SET synchronous_standby_names = '"${name}"';\nSELECT pg_reload_conf();`,
      );
    }
    const want = `streaming ${options.synchronous ? "sync" : "async"}`;
    await waitUntil(
      async () => (await state()) === want,
      30_000,
      () => `standby ${name} is not ${want} on the primary after 30 s\n${tails()}`,
    );
  } catch (err) {
    await standby.close();
    throw err;
  }

  return Object.assign(standby, {
    async promote() {
      await runPgTool("pg_ctl", ["promote", "-D", dataDir, "-w", "-t", "60", "-s"], {
        asOwner: true,
        cwd: tempDir,
      });
      await waitUntil(
        async () => (await standby.psql("SELECT pg_is_in_recovery()")) === "f",
        30_000,
        () => `standby ${name} is still in recovery 30 s after pg_ctl promote\n${tails()}`,
      );
    },
  });
}

/**
 * Drops the standby's slot on the primary unless a walsender still holds it:
 * prints nothing once it is gone, `t` while it is active.
 */
function dropSlot(name: string): string {
  return [
    `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '${name}' AND NOT active;`,
    `SELECT active FROM pg_replication_slots WHERE slot_name = '${name}';`,
  ].join("\n");
}
