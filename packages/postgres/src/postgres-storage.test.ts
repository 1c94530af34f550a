import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { LogNotEmptyError, type ReplicationStorage } from "@conclave/core";
import { type PostgresCluster, startPostgres } from "@conclave/testkit";
import { parseNotification } from "./postgres-shared-log.js";
import { createPostgresStorage } from "./postgres-storage.js";
import { schemaVersion } from "./schema.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const entry = (n: number) => new Uint8Array([n & 0xff, (n >> 8) & 0xff]);

describe("PostgreSQL storage", () => {
  let pg: PostgresCluster;
  const opened: ReplicationStorage[] = [];
  const open = async (
    url: string,
    options: { heartbeatMs?: number; dutiesTimeoutMs?: number } = {},
  ) => {
    const s = createPostgresStorage({ url, ...options });
    await s.start();
    opened.push(s);
    return s;
  };
  before(async () => {
    pg = await startPostgres();
  });
  after(async () => {
    for (const s of opened) await s.close().catch(() => undefined);
    await pg?.close();
  });

  it("creates the schema once, with its version, for replicas starting together", async () => {
    const url = await pg.createDatabase();
    const all = await Promise.all([0, 1, 2].map(() => open(url)));
    const db = new URL(url).pathname.slice(1);
    assert.equal(
      await pg.psql("SELECT string_agg(version::text, ',') FROM conclave_schema", db),
      String(schemaVersion),
    );
    const ids = new Set(all.map((s) => s.cluster.clusterId()));
    assert.equal(ids.size, 1);
    assert.notEqual([...ids][0], 0n);
  });

  it("refuses a schema newer than it knows", async () => {
    const url = await pg.createDatabase();
    await open(url);
    await pg.psql(
      "INSERT INTO conclave_schema (version) VALUES (999)",
      new URL(url).pathname.slice(1),
    );
    const s = createPostgresStorage({ url });
    await assert.rejects(s.start(), /schema version 999, newer than this build's/);
    await s.close();
  });

  it("appends from many connections take positions 1..N, no hole, visible in order, even with rollbacks", async () => {
    const url = await pg.createDatabase();
    const db = new URL(url).pathname.slice(1);
    const writers = await Promise.all([0, 1, 2].map(() => open(url)));
    const positions: bigint[] = [];
    let failed = 0;
    let stop = false;
    const killer = (async () => {
      let killed = 0;
      while (!stop) {
        killed += Number(
          await pg.psql(
            `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = '${db}' AND state = 'active' AND pid <> pg_backend_pid()
               AND query LIKE '%conclave_log%'`,
          ),
        );
        await sleep(50);
      }
      return killed;
    })();
    // A reader that follows the log must never see a position before its predecessor.
    let seen = 0n;
    let outOfOrder = 0;
    const reader = (async () => {
      while (!stop) {
        const recs = (await writers[0]?.log.read(seen, 1000).catch(() => [])) ?? [];
        for (const r of recs) {
          if (r.seq !== seen + 1n) outOfOrder++;
          seen = r.seq;
        }
        await sleep(5);
      }
    })();
    await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const s = writers[i % 3];
        assert.ok(s);
        for (let j = 0; j < 40; j++) {
          const batch = Array.from({ length: 1 + (j % 3) }, (_, k) => ({ data: entry(j * 3 + k) }));
          try {
            const last = await s.log.append(batch);
            for (let k = batch.length - 1; k >= 0; k--) positions.push(last - BigInt(k));
          } catch {
            failed++;
          }
        }
      }),
    );
    stop = true;
    const killed = await killer;
    await reader;
    const [count, max] = (await pg.psql("SELECT count(*), max(seq) FROM conclave_log", db)).split(
      "|",
    );
    assert.equal(count, max, "no hole");
    assert.equal(new Set(positions.map(String)).size, positions.length, "no position given twice");
    assert.ok(
      BigInt(max ?? 0) >= BigInt(positions.length),
      "every acknowledged entry is in the log",
    );
    assert.equal(outOfOrder, 0, "a follower never saw a later position first");
    assert.ok(positions.length > 500);
    assert.ok(killed > 0 || failed === 0, `killed ${killed}, failed ${failed}`);
  });

  it("notifies other connections of appends", async () => {
    const url = await pg.createDatabase();
    const [a, b] = await Promise.all([open(url), open(url)]);
    let heard = 0;
    b?.log.onAppended(() => heard++);
    const before = heard;
    const t0 = Date.now();
    await a?.log.append([{ data: entry(1) }]);
    while (heard === before && Date.now() - t0 < 200) await sleep(2);
    assert.ok(heard > before, "heard within 200 ms (before the 250 ms poll)");
  });

  it("a small commit's notification carries its entries; the first from a server run, and a large one, only say read", async () => {
    const url = await pg.createDatabase();
    const [a, b] = await Promise.all([open(url), open(url)]);
    const heard: Array<Array<{ seq: bigint; data: number[] }> | undefined> = [];
    b?.log.onAppended((records) =>
      heard.push(records?.map((r) => ({ seq: r.seq, data: [...r.data] }))),
    );
    const next = async (count: number) => {
      const t0 = Date.now();
      // The fallback poll says "read" too: keep only what the commits said.
      while (heard.filter((h) => h !== undefined).length < count && Date.now() - t0 < 2000)
        await sleep(2);
    };
    await a?.log.append([{ data: entry(1) }]);
    await sleep(50);
    assert.ok(heard.length > 0, "heard the first commit");
    assert.ok(
      heard.every((h) => h === undefined),
      "the first notification from a server run says read, without entries",
    );
    heard.length = 0;
    await a?.log.append([{ data: entry(2) }, { data: entry(3) }]);
    await a?.log.append([{ data: new Uint8Array(4000).fill(7) }]);
    await a?.log.append([{ data: entry(5) }]);
    await next(2);
    assert.deepEqual(
      heard.filter((h) => h !== undefined),
      [
        [
          { seq: 2n, data: [2, 0] },
          { seq: 3n, data: [3, 0] },
        ],
        [{ seq: 5n, data: [5, 0] }],
      ],
      "the entries of the two small commits, at their positions; the large one carried none",
    );
  });

  const payloads: Array<{ payload: string; want: ReturnType<typeof parseNotification> }> = [
    { payload: "12", want: undefined },
    { payload: "x 1.5", want: undefined },
    { payload: "12 1700000000.25", want: { server: "1700000000.25", records: [] } },
    {
      payload: `12 1.5 ${Buffer.from([1]).toString("base64")} ${Buffer.from([2, 3]).toString("base64")}`,
      want: {
        server: "1.5",
        records: [
          { seq: 11n, data: new Uint8Array([1]) },
          { seq: 12n, data: new Uint8Array([2, 3]) },
        ],
      },
    },
  ];
  for (const { payload, want } of payloads) {
    it(`reads the notification ${JSON.stringify(payload.slice(0, 20))}`, () => {
      const got = parseNotification(payload);
      assert.deepEqual(
        got === undefined
          ? undefined
          : { ...got, records: got.records.map((r) => ({ ...r, data: new Uint8Array(r.data) })) },
        want,
      );
    });
  }

  it("expiry and keep-alive: a renewed lease is never expired, a due one once", async () => {
    const url = await pg.createDatabase();
    const s = await open(url);
    await s.log.append([{ data: entry(1), grant: { id: 7n, ttlMs: 300 } }]);
    await s.log.append([{ data: entry(2), grant: { id: 8n, ttlMs: 300 } }]);
    assert.equal(await s.leases.renew(9n), undefined, "unknown lease");
    assert.deepEqual(await s.log.expire([7n, 8n], () => entry(9)), [], "not due yet");
    await sleep(350);
    assert.equal(
      await s.leases.renew(7n),
      0.3,
      "renewed in time... late but before expiry: still there",
    );
    assert.deepEqual(await s.leases.due(10), [8n]);
    const head = await s.log.head();
    assert.deepEqual(await s.log.expire([7n, 8n], () => entry(9)), [8n]);
    assert.equal(await s.log.head(), head + 1n, "one entry for the one expired");
    assert.deepEqual(await s.log.expire([8n], () => entry(9)), [], "once");
    const left = await s.leases.remaining(7n);
    assert.ok(left !== undefined && left.ttlMs === 300 && left.remainingMs > 100);
  });

  it("takeover grace: a lease with less than min(TTL, grace) left gets it, once", async () => {
    const url = await pg.createDatabase();
    const s = await open(url);
    await s.log.append([{ data: entry(1), grant: { id: 1n, ttlMs: 60_000 } }]);
    await s.log.append([{ data: entry(2), grant: { id: 2n, ttlMs: 200 } }]);
    await sleep(250);
    assert.equal(await s.leases.grace(10_000), 1, "the short one, already due");
    assert.ok(((await s.leases.remaining(2n))?.remainingMs ?? 0) > 100);
    await sleep(250);
    assert.equal(await s.leases.grace(10_000), 0, "no second grace without a keep-alive");
    assert.deepEqual(await s.leases.due(10), [2n]);
  });

  it("restore: a prefix at 1..n with its lease deadlines in one commit, only into an empty log", async () => {
    const url = await pg.createDatabase();
    const s = await open(url);
    const db = new URL(url).pathname.slice(1);
    // 2.5 MiB of 1 MiB parts, read lazily: more than one statement.
    const part = (n: number) => new Uint8Array(1024 * 1024).fill(n);
    function* parts() {
      for (let n = 1; n <= 10; n++) yield part(n);
    }
    const last = await s.log.restore(parts(), [
      { id: 5n, ttlMs: 60_000 },
      { id: 6n, ttlMs: 2_000 },
    ]);
    assert.equal(last, 10n);
    assert.equal(await s.log.head(), 10n);
    const read = await s.log.read(0n, 100);
    assert.deepEqual(
      read.map((r) => [r.seq, r.data.length, r.data[0]]),
      Array.from({ length: 10 }, (_, i) => [BigInt(i + 1), 1024 * 1024, i + 1]),
    );
    const left = await s.leases.remaining(5n);
    assert.ok(left !== undefined && left.ttlMs === 60_000 && left.remainingMs > 50_000);
    assert.equal((await s.leases.remaining(6n))?.ttlMs, 2_000);
    // Appends continue after it.
    assert.equal(await s.log.append([{ data: entry(1) }]), 11n);

    await assert.rejects(
      s.log.restore([part(1)], [{ id: 7n, ttlMs: 1000 }]),
      (e: unknown) => e instanceof LogNotEmptyError && e.head === 11n,
    );
    assert.equal(await s.log.head(), 11n, "nothing written");
    assert.equal(await s.leases.remaining(7n), undefined);
    assert.equal(await pg.psql("SELECT count(*) FROM conclave_log", db), "11");
  });

  it("restore: a failure part-way leaves the log empty", async () => {
    const url = await pg.createDatabase();
    const s = await open(url);
    function* failing() {
      yield entry(1);
      yield entry(2);
      throw new Error("source unreadable");
    }
    await assert.rejects(s.log.restore(failing(), []), /source unreadable/);
    assert.equal(await s.log.head(), 0n);
    assert.equal(await s.log.restore([entry(3)], []), 1n, "and restorable again");
  });

  it("the duties go to one replica, and move when its session dies", async () => {
    const url = await pg.createDatabase();
    const db = new URL(url).pathname.slice(1);
    const opts = { heartbeatMs: 100, dutiesTimeoutMs: 500 };
    const [a, b] = await Promise.all([open(url, opts), open(url, opts)]);
    await a?.cluster.join({ id: 1n, name: "a", clientUrls: ["http://a"], peerUrls: [] });
    await b?.cluster.join({ id: 2n, name: "b", clientUrls: ["http://b"], peerUrls: [] });
    // a's last heartbeat round saw only a; asking reads the rows now.
    assert.deepEqual(
      (await a?.cluster.members())?.map((m) => m.name),
      ["a", "b"],
      "a replica that just joined is listed at once",
    );
    await sleep(300);
    assert.equal([a, b].filter((s) => s?.cluster.holdsDuties()).length, 1);
    assert.ok(a && b);
    const holder = a.cluster.holdsDuties() ? a : b;
    const other = holder === a ? b : a;
    assert.deepEqual(
      (await other.cluster.members()).map((m) => m.name),
      ["a", "b"],
    );
    assert.equal(other.cluster.dutyHolder(), holder === a ? 1n : 2n);
    // Kill the holder's session (what idle_session_timeout does to a frozen one).
    await pg.psql(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = '${db}' AND query LIKE '%pg_backend_pid%' AND pid <> pg_backend_pid()`,
    );
    const t0 = Date.now();
    while (Date.now() - t0 < 5000) {
      if (other.cluster.holdsDuties()) break;
      await sleep(50);
    }
    await sleep(300);
    assert.equal([a, b].filter((s) => s?.cluster.holdsDuties()).length, 1, "exactly one holds");
  });
});
