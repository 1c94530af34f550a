// startPostgres against the real PostgreSQL it starts: what a storage test
// relies on (its settings, database isolation, durability across a restart
// and a crash, cleanup) is checked on the server, not on our bookkeeping.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { test } from "node:test";
import { postgresBinDir } from "./postgres-bin.js";
import { startPostgres } from "./start-postgres.js";

const timeout = 30_000;

/** Pids whose cmdline names the cluster (its data dir, or `postgres: <cluster_name>:`). */
function processesOf(dataDir: string): number[] {
  const name = basename(dirname(dataDir));
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8");
        return cmd.includes(dataDir) || cmd.startsWith(`postgres: ${name}: `);
      } catch {
        return false;
      }
    })
    .map(Number);
}

test("startPostgres: a server with our settings, isolated databases, psql round trips", {
  timeout,
}, async () => {
  await using pg = await startPostgres({ settings: { synchronous_commit: "off" } });
  assert.equal(pg.url, `postgres://postgres@127.0.0.1:${pg.port}/postgres`);
  assert.equal(await pg.psql("SELECT current_user, 1 + 1"), "postgres|2");
  const show = async (name: string) => pg.psql(`SHOW ${name}`);
  assert.equal(await show("synchronous_commit"), "off", "the override wins");
  assert.equal(await show("fsync"), "on");
  assert.equal(await show("max_connections"), "200");
  assert.equal(await show("wal_level"), "replica");
  assert.equal(await show("listen_addresses"), "127.0.0.1");
  assert.equal(await show("lc_collate"), "C");
  if (process.getuid?.() === 0) {
    // PostgreSQL refuses root: the files are the postgres user's.
    assert.notEqual(statSync(pg.dataDir).uid, 0);
  }

  // The URL is a real one: psql connects with it as is.
  const viaUrl = execFileSync(join(postgresBinDir(), "psql"), [
    "-X",
    "-At",
    pg.url,
    "-c",
    "SELECT 7",
  ]);
  assert.equal(viaUrl.toString().trim(), "7");

  const a = await pg.createDatabase();
  assert.equal(a, `postgres://postgres@127.0.0.1:${pg.port}/test_1`);
  const b = await pg.createDatabase("other db");
  assert.equal(b, `postgres://postgres@127.0.0.1:${pg.port}/other%20db`);
  assert.equal(
    await pg.psql(
      "CREATE TABLE kv (k text PRIMARY KEY, v bytea);\n" +
        "INSERT INTO kv VALUES ('b', '\\x02'), ('a', '\\x01');\n" +
        "SELECT k, v FROM kv ORDER BY k;",
      "test_1",
    ),
    "a|\\x01\nb|\\x02",
  );
  await assert.rejects(pg.psql("SELECT * FROM kv", "other db"), /relation "kv" does not exist/);

  // ON_ERROR_STOP: the script stops at the first error, which rejects.
  await assert.rejects(
    pg.psql(
      "INSERT INTO kv VALUES ('c', NULL);\nSELECT nope;\nINSERT INTO kv VALUES ('d', NULL);",
      "test_1",
    ),
    /column "nope" does not exist/,
  );
  assert.equal(await pg.psql("SELECT string_agg(k, ',' ORDER BY k) FROM kv", "test_1"), "a,b,c");
});

test("restart: same port, the data kept; stopped, nothing answers", { timeout }, async () => {
  await using pg = await startPostgres();
  const db = "restart_me";
  await pg.createDatabase(db);
  await pg.psql("CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 50);", db);
  const before = await pg.psql("SELECT pg_postmaster_start_time()");
  await pg.restart();
  assert.notEqual(await pg.psql("SELECT pg_postmaster_start_time()"), before, "a new server");
  assert.equal(await pg.psql("SELECT count(*), sum(x) FROM t", db), "50|1275");
  await pg.stop();
  await pg.stop(); // a no-op
  await assert.rejects(pg.psql("SELECT 1"), /Connection refused|could not connect/);
  await pg.start();
  assert.equal(await pg.psql("SELECT count(*) FROM t", db), "50");
});

test("kill: every process dies at once; start recovers the committed rows only", {
  timeout,
}, async () => {
  await using pg = await startPostgres();
  await pg.psql("CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 100);");
  // An open transaction that will never commit: its row must not survive.
  const open = pg.psql("BEGIN; INSERT INTO t VALUES (-1); SELECT pg_sleep(60); COMMIT;");
  const opened = open.catch((err: Error) => err);
  for (;;) {
    const waiting = await pg.psql(
      "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()",
    );
    if (waiting === "1") break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(processesOf(pg.dataDir).length >= 5, "postmaster, backends, background workers");

  await pg.kill();
  assert.deepEqual(processesOf(pg.dataDir), [], "no process of the cluster is left");
  assert.ok((await opened) instanceof Error, "the open transaction's session died");
  await assert.rejects(pg.psql("SELECT 1"));

  await pg.start();
  assert.equal(await pg.psql("SELECT count(*), min(x) FROM t"), "100|1");
  assert.match(
    readFileSync(pg.logFile, "utf8"),
    /database system was interrupted|not properly shut down; automatic recovery in progress/,
    "it was a crash, and the start recovered from the WAL",
  );
});

test("close: stops, removes the temp dir, twice is fine; after a kill too", {
  timeout,
}, async () => {
  const pg = await startPostgres();
  const tempDir = dirname(pg.dataDir);
  assert.ok(existsSync(join(pg.dataDir, "PG_VERSION")));
  await pg.close();
  assert.equal(existsSync(tempDir), false);
  assert.deepEqual(processesOf(pg.dataDir), []);
  await pg.close();
  await assert.rejects(pg.start(), /was closed/);

  const crashed = await startPostgres();
  await crashed.kill();
  await crashed[Symbol.asyncDispose]();
  assert.equal(existsSync(dirname(crashed.dataDir)), false);
});

test("settings the harness owns are refused", async () => {
  await assert.rejects(
    startPostgres({ settings: { port: "5432" } }),
    /port is set by startPostgres/,
  );
  await assert.rejects(startPostgres({ settings: { "x; y": "1" } }), /bad setting name/);
});
