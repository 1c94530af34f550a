// startStandby against real streaming replication: a synchronous standby
// holds every acknowledged commit when the primary crashes, and takes writes
// once promoted; closing a standby leaves the primary able to commit.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startPostgres } from "./start-postgres.js";
import { startStandby } from "./start-standby.js";

const timeout = 45_000;

async function eventually(check: () => Promise<boolean>, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("a synchronous standby has every acknowledged commit after the primary crashes; promoted, it takes writes", {
  timeout,
}, async () => {
  await using primary = await startPostgres();
  await primary.psql("CREATE TABLE t (x int)");
  await using standby = await startStandby(primary, { synchronous: true, name: "failover" });
  assert.notEqual(standby.port, primary.port);
  assert.equal(
    await primary.psql("SELECT application_name, state, sync_state FROM pg_stat_replication"),
    "failover|streaming|sync",
  );
  assert.equal(await standby.psql("SELECT pg_is_in_recovery()"), "t");
  await assert.rejects(standby.psql("INSERT INTO t VALUES (0)"), /read-only transaction/);

  // Each commit is acknowledged only once the standby flushed it; then the
  // primary dies without a chance to send anything more.
  for (let i = 1; i <= 20; i++) await primary.psql(`INSERT INTO t VALUES (${i})`);
  await primary.kill();

  await standby.promote();
  assert.equal(await standby.psql("SELECT pg_is_in_recovery()"), "f");
  assert.equal(await standby.psql("SELECT count(*), sum(x) FROM t"), "20|210");
  await standby.psql("INSERT INTO t VALUES (21)");
  assert.equal(await standby.psql("SELECT max(x) FROM t"), "21");
  assert.equal(await standby.psql("SHOW synchronous_standby_names"), "", "it waits for nobody");
});

test("an asynchronous standby streams; a closed standby leaves the primary committing, its slot dropped", {
  timeout,
}, async () => {
  await using primary = await startPostgres();
  await primary.psql("CREATE TABLE t (x int)");
  await using replica = await startStandby(primary, { name: "replica_a" });
  await primary.psql("INSERT INTO t VALUES (1)");
  await eventually(
    async () => (await replica.psql("SELECT count(*) FROM t")) === "1",
    "the row reaches the asynchronous standby",
  );

  const sync = await startStandby(primary, { synchronous: true, name: "replica_b" });
  assert.equal(await primary.psql("SHOW synchronous_standby_names"), '"replica_b"');
  assert.equal(
    await primary.psql(
      "SELECT string_agg(application_name || ':' || sync_state, ',' ORDER BY application_name) FROM pg_stat_replication",
    ),
    "replica_a:async,replica_b:sync",
  );
  await sync.close();
  assert.equal(await primary.psql("SHOW synchronous_standby_names"), "");
  // Were replica_b still named, this commit would wait for it forever.
  await primary.psql("SET statement_timeout = '10s'; INSERT INTO t VALUES (2)");
  await eventually(
    async () =>
      (await primary.psql(
        "SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots",
      )) === "replica_a",
    "replica_b's slot is dropped",
  );
  await eventually(
    async () => (await replica.psql("SELECT count(*) FROM t")) === "2",
    "the asynchronous standby still streams",
  );
});
