// Replicas across a PostgreSQL failover to a streaming standby (pg_ctl
// promote), each case on clusters of its own. The replicas get a multi-host
// URL with target_session_attrs=read-write, as libpq clients are pointed at a
// primary and its standbys: they find the promoted standby by themselves.
//
// - A synchronous standby: a failover loses no acknowledged write, and the
//   replicas go on without a restart.
// - An asynchronous standby that missed the last commits: every replica finds
//   the database behind what it applied, cancels its watches with etcd's
//   compaction error, serves nothing more and exits 70; started again (as its
//   supervisor would), it serves the promoted database's history.

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { WatchResponse } from "@conclave/proto";
import {
  type PostgresCluster,
  type PostgresStandby,
  type RunningServer,
  startPostgres,
  startStandby,
} from "@conclave/testkit";
import { Code, ConnectError } from "@connectrpc/connect";
import { bytes, text } from "./clients.js";
import { eventually, replicaClients, startReplicas } from "./replicas.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The database at `db` on the primary, as a URL naming the primary and then the standby. */
function failoverUrl(db: string, primary: PostgresCluster, standby: PostgresCluster): string {
  const u = new URL(db);
  return `postgres://postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}${u.pathname}?target_session_attrs=read-write`;
}

/** Its exit code, once it exited (polled: the test kit does not let a server hold the event loop). */
async function exited(r: RunningServer, ms = 30_000): Promise<number | null> {
  await eventually(`${r.url} exits`, async () => r.proc.exitCode !== null, ms);
  return r.proc.exitCode;
}

describe("failover to a synchronous standby", () => {
  const stop: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const s of stop.reverse()) await s().catch(() => undefined);
  });

  test("no acknowledged write is lost; the replicas go on by themselves", {
    timeout: 180_000,
  }, async (t) => {
    const primary = await startPostgres();
    stop.push(() => primary.close());
    const db = await primary.createDatabase();
    const standby: PostgresStandby = await startStandby(primary, { synchronous: true });
    stop.push(() => standby.close());
    const replicas = await startReplicas(2, failoverUrl(db, primary, standby));
    stop.push(() => Promise.all(replicas.map((r) => r.kill())));
    const c = replicas.map(replicaClients);

    const acked = new Map<string, bigint>();
    const failures = new Map<string, number>();
    let running = true;
    const writers = Array.from({ length: 8 }, async (_, i) => {
      const kv = c[i % 2]?.kv;
      assert.ok(kv);
      for (let j = 0; running; j++) {
        const key = `sf/${i}/${j}`;
        try {
          const r = await kv.put({ key: bytes(key), value: bytes("v") });
          acked.set(key, r.header?.revision ?? 0n);
        } catch (err) {
          const code = err instanceof ConnectError ? Code[err.code] : String(err);
          failures.set(code, (failures.get(code) ?? 0) + 1);
          await sleep(50);
        }
      }
    });
    await sleep(1500);
    const before = acked.size;
    await primary.kill();
    const killedAt = Date.now();
    await standby.promote();
    await eventually(
      "writes go through again, on the promoted standby",
      async () => acked.size > before + 50,
      60_000,
    );
    const recovered = Date.now() - killedAt;
    running = false;
    await Promise.all(writers);
    t.diagnostic(
      `${acked.size} acknowledged (${before} before the failover); writable again ${recovered} ms after the kill; failures ${JSON.stringify(Object.fromEntries(failures))}`,
    );
    for (const code of failures.keys())
      assert.equal(code, "Unavailable", "failures are Unavailable");
    for (const r of replicas) assert.equal(r.proc.exitCode, null, "no replica restarted");
    for (const x of c) {
      const all = await x.kv.range({ key: bytes("sf/"), rangeEnd: bytes("sf0") });
      const got = new Map(all.kvs.map((kv) => [text(kv.key), kv.modRevision]));
      for (const [key, rev] of acked)
        assert.equal(got.get(key), rev, `${key} acknowledged at ${rev}`);
    }
  });
});

describe("failover to an asynchronous standby that missed commits", () => {
  const stop: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const s of stop.reverse()) await s().catch(() => undefined);
  });

  test("detected: watches cancelled as compacted, nothing served, exit 70; restarted, the promoted history", {
    timeout: 180_000,
  }, async () => {
    const primary = await startPostgres();
    stop.push(() => primary.close());
    const db = await primary.createDatabase();
    const standby = await startStandby(primary);
    stop.push(() => standby.close());
    const url = failoverUrl(db, primary, standby);
    const replicas = await startReplicas(2, url);
    stop.push(() => Promise.all(replicas.map((r) => r.kill())));
    const c = replicas.map(replicaClients);
    const [c0, c1] = c;
    assert.ok(c0 && c1);

    for (let i = 1; i <= 10; i++) await c0.kv.put({ key: bytes(`af/${i}`), value: bytes("kept") });
    const dbName = new URL(db).pathname.slice(1);
    await eventually(
      "the standby has the first ten",
      async () => Number(await standby.psql("SELECT count(*) FROM conclave_log", dbName)) >= 10,
      20_000,
    );
    const keptRev = (await c0.kv.range({ key: bytes("af/") })).header?.revision ?? 0n;

    // A watcher on the replica that will only follow (it writes nothing).
    const abort = new AbortController();
    const responses: WatchResponse[] = [];
    const watching = (async () => {
      async function* requests() {
        yield {
          requestUnion: {
            case: "createRequest" as const,
            value: { key: bytes("af/"), rangeEnd: bytes("af0"), startRevision: 1n },
          },
        };
        await new Promise((r) => abort.signal.addEventListener("abort", r));
      }
      try {
        for await (const r of c1.watch.watch(requests(), { signal: abort.signal }))
          responses.push(r);
      } catch {
        // the replica exits
      }
    })();
    await eventually(
      "the watcher replayed the first ten",
      async () => {
        return responses.flatMap((r) => r.events).length >= 10;
      },
      10_000,
    );

    // The standby stops receiving; ten more commits reach the primary only.
    await standby.stop();
    for (let i = 11; i <= 20; i++) await c0.kv.put({ key: bytes(`af/${i}`), value: bytes("lost") });
    await eventually(
      "the watcher saw the lost ten too",
      async () => {
        return responses.flatMap((r) => r.events).length >= 20;
      },
      10_000,
    );
    await primary.kill();
    await standby.start();
    await standby.promote();

    // One replica writes (its append lands at positions it already applied),
    // the other only follows: both must notice.
    const write = c0.kv.put({ key: bytes("af/new"), value: bytes("x") }).catch((e: unknown) => e);
    const codes = await Promise.all(replicas.map((r) => exited(r)));
    assert.deepEqual(codes, [70, 70], "both replicas exit 70");
    const w = await write;
    assert.ok(w instanceof ConnectError, `the write was not acknowledged: ${String(w)}`);
    abort.abort();
    await watching;
    const cancel = responses.find((r) => r.canceled);
    assert.ok(cancel, "the watch was cancelled");
    assert.ok(cancel.compactRevision > 0n, "with etcd's compaction error (compact_revision set)");
    assert.ok(
      !responses.some((r) => r.events.some((e) => text(e.kv?.key ?? bytes("")) === "af/new")),
      "no event of the new history on the old watch",
    );

    // Started again, as a supervisor (systemd Restart=on-failure) would.
    const again = await startReplicas(2, url);
    stop.push(() => Promise.all(again.map((r) => r.kill())));
    const fresh = again.map(replicaClients);
    for (const x of fresh) {
      const all = await x.kv.range({ key: bytes("af/"), rangeEnd: bytes("af0") });
      const values = new Map(all.kvs.map((kv) => [text(kv.key), text(kv.value)]));
      for (let i = 1; i <= 10; i++) assert.equal(values.get(`af/${i}`), "kept");
      for (let i = 11; i <= 20; i++) assert.equal(values.has(`af/${i}`), false, `af/${i} was lost`);
      assert.ok((all.header?.revision ?? 0n) >= keptRev);
    }
    const put = await fresh[0]?.kv.put({ key: bytes("af/after"), value: bytes("y") });
    const got = await fresh[1]?.kv.range({ key: bytes("af/after") });
    assert.equal(got?.kvs[0]?.modRevision, put?.header?.revision, "writes and reads go on");
  });
});
