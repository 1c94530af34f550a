// `conclave migrate` end to end: a real embedded `conclave` writes history
// (puts, overwrites, deletes, a txn, a compaction, leases with keys, users,
// roles and auth enabled) and stops; the real CLI moves its data dir to a
// fresh database of a real PostgreSQL; two real replicas then answer every
// revision, the watch history, the leases and the auth state as the
// embedded server did, and go on from there.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  Auth,
  Compare_CompareResult,
  Compare_CompareTarget,
  type KeyValue,
  KV,
  Lease,
  Maintenance,
  Watch,
  type WatchResponse,
} from "@conclave/proto";
import {
  type PostgresCluster,
  type RunningServer,
  runConclave,
  startConclave,
  startPostgres,
} from "@conclave/testkit";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { bytes, text } from "./clients.js";
import { eventually, startReplicas } from "./replicas.js";

let pg: PostgresCluster;
before(async () => {
  pg = await startPostgres();
});
after(async () => {
  await pg?.close();
});

/** The whole keyspace (etcd's `\0` … `\0`). */
const all = { key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) };

interface Clients {
  kv: Client<typeof KV>;
  watch: Client<typeof Watch>;
  lease: Client<typeof Lease>;
  auth: Client<typeof Auth>;
  maintenance: Client<typeof Maintenance>;
}

/** gRPC clients of one server, sending `token` as clientv3 does (metadata `token`). */
function clientsOf(server: RunningServer, token?: string): Clients {
  const transport = createGrpcTransport({
    baseUrl: server.url,
    interceptors:
      token === undefined
        ? []
        : [
            (next) => (req) => {
              req.header.set("token", token);
              return next(req);
            },
          ],
  });
  return {
    kv: createClient(KV, transport),
    watch: createClient(Watch, transport),
    lease: createClient(Lease, transport),
    auth: createClient(Auth, transport),
    maintenance: createClient(Maintenance, transport),
  };
}

async function asRoot(server: RunningServer): Promise<Clients> {
  const { token } = await clientsOf(server).auth.authenticate({ name: "root", password: "rootpw" });
  return clientsOf(server, token);
}

/** A key-value as a comparable value (headers name members, which differ). */
function plain(kv: KeyValue | undefined) {
  if (kv === undefined) return undefined;
  return {
    key: text(kv.key),
    value: text(kv.value),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  };
}

async function rangeAt(c: Clients, revision: bigint) {
  const res = await c.kv.range({ ...all, revision });
  return { kvs: res.kvs.map(plain), count: res.count, more: res.more };
}

/** Every event of the whole keyspace from `from` up to and including revision `to`. */
async function watchFrom(c: Clients, from: bigint, to: bigint) {
  const events: Array<{ type: number; kv: ReturnType<typeof plain> }> = [];
  const stop = new AbortController();
  const requests = (async function* () {
    yield {
      requestUnion: {
        case: "createRequest" as const,
        value: { ...all, startRevision: from },
      },
    };
    await new Promise((r) => stop.signal.addEventListener("abort", r));
  })();
  const timer = setTimeout(() => stop.abort(), 20_000);
  try {
    for await (const res of c.watch.watch(requests, {
      signal: stop.signal,
    }) as AsyncIterable<WatchResponse>) {
      for (const ev of res.events) events.push({ type: ev.type, kv: plain(ev.kv) });
      if ((events.at(-1)?.kv?.modRevision ?? 0n) >= to) break;
    }
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
  return events;
}

async function leasesOf(c: Clients) {
  const { leases } = await c.lease.leaseLeases({});
  const out = [];
  for (const id of leases.map((l) => l.ID).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    const t = await c.lease.leaseTimeToLive({ ID: id, keys: true });
    out.push({ id, grantedTTL: t.grantedTTL, remaining: t.TTL, keys: t.keys.map(text) });
  }
  return out;
}

const codeOf = (e: unknown) => (e instanceof ConnectError ? Code[e.code] : String(e));

describe("conclave migrate: an embedded store moves to replicas over PostgreSQL", () => {
  let embedded: RunningServer | undefined;
  let replicas: RunningServer[] = [];
  after(async () => {
    await Promise.all([embedded, ...replicas].map((s) => s?.kill()));
  });

  test("replicas answer every revision, the watch history, leases and auth as the embedded server did", {
    timeout: 240_000,
  }, async (t) => {
    embedded = await startConclave();
    const e = clientsOf(embedded);
    const put = (key: string, value: string, lease = 0n) =>
      e.kv.put({ key: bytes(key), value: bytes(value), lease });

    // History: overwrites, deletes (one key, a range), a txn.
    for (let i = 0; i < 24; i++) await put(`k${i % 6}`, `v${i}`);
    await e.kv.deleteRange({ key: bytes("k2") });
    await e.kv.deleteRange({ key: bytes("k4"), rangeEnd: bytes("k6") });
    await e.kv.txn({
      compare: [
        {
          key: bytes("k0"),
          result: Compare_CompareResult.EQUAL,
          target: Compare_CompareTarget.VALUE,
          targetUnion: { case: "value", value: bytes("v18") },
        },
      ],
      success: [
        { request: { case: "requestPut", value: { key: bytes("t/a"), value: bytes("txn") } } },
        { request: { case: "requestDeleteRange", value: { key: bytes("k1") } } },
      ],
    });
    // Values large enough that the store takes more than one restore entry (~1 MiB each).
    for (let i = 0; i < 3; i++) await put(`big/${i}`, String(i).repeat(450 * 1024));
    const compactRev = (await put("k2", "back")).header?.revision ?? 0n;
    for (let i = 0; i < 6; i++) await put(`k${i}`, `after-compact-${i}`);
    await e.kv.compact({ revision: compactRev, physical: true });
    await put("k3", "last");

    // Leases with keys: one that outlives the test, one left to expire after the move.
    const long = (await e.lease.leaseGrant({ TTL: 600n })).ID;
    const short = (await e.lease.leaseGrant({ TTL: 20n })).ID;
    await put("lease/long", "l", long);
    await put("lease/short/a", "s", short);
    await put("lease/short/b", "s", short);

    // Users, roles, permissions; auth on.
    await e.auth.userAdd({ name: "root", password: "rootpw" });
    await e.auth.roleAdd({ name: "root" });
    await e.auth.userGrantRole({ user: "root", role: "root" });
    await e.auth.roleAdd({ name: "app" });
    await e.auth.roleGrantPermission({
      name: "app",
      perm: { permType: 2, key: bytes("app/"), rangeEnd: bytes("app0") },
    });
    await e.auth.userAdd({ name: "alice", password: "alicepw" });
    await e.auth.userGrantRole({ user: "alice", role: "app" });
    await e.auth.authEnable({});
    const er = await asRoot(embedded);
    await er.kv.put({ key: bytes("app/x"), value: bytes("1") });

    // What the embedded server answers, captured before it stops.
    const head = (await er.kv.range({ key: bytes("k0") })).header?.revision ?? 0n;
    const ranges = new Map<bigint, Awaited<ReturnType<typeof rangeAt>>>();
    for (let rev = compactRev; rev <= head; rev++) ranges.set(rev, await rangeAt(er, rev));
    await assert.rejects(rangeAt(er, compactRev - 1n), /required revision has been compacted/);
    const events = await watchFrom(er, compactRev, head);
    assert.ok(events.length > 10, `${events.length} events`);
    const leases = await leasesOf(er);
    assert.equal(leases.length, 2);
    const authStatus = await er.auth.authStatus({});
    assert.equal(authStatus.enabled, true);
    const hash = await er.maintenance.hashKV({ revision: head });

    const db = await pg.createDatabase();
    // The running server holds its store: refused, nothing written.
    const refused = await runConclave(["migrate", "--from", embedded.dataDir, "--to", db]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /is in use by another conclave \(pid \d+\); stop it first/);

    assert.equal(await embedded.stop(), 0);
    const moved = await runConclave(["migrate", "--from", embedded.dataDir, "--to", db]);
    assert.equal(moved.code, 0, moved.stderr);
    assert.match(
      moved.stdout,
      new RegExp(
        `^migrated .* to postgres://.*: revision ${head} \\(compacted at ${compactRev}\\), \\d+ keys, 2 leases, [2-9] log entries \\(\\d+ bytes\\)\\n$`,
      ),
    );

    t.diagnostic(moved.stdout.trim());
    t.diagnostic(`${events.length} events, revisions ${compactRev}..${head}`);
    replicas = await startReplicas(2, db);
    const rs = await Promise.all(replicas.map(asRoot));
    const [r0, r1] = rs as [Clients, Clients];

    // New writes go on at head + 1, and every replica sees them.
    const next = await r1.kv.put({ key: bytes("new"), value: bytes("n") });
    assert.equal(next.header?.revision, head + 1n);
    const seen = await r0.kv.range({ key: bytes("new") });
    assert.equal(seen.kvs[0]?.modRevision, head + 1n);

    // The same leases: IDs, granted TTLs, keys; clocks restarted at the migration.
    for (const r of rs) {
      const got = await leasesOf(r);
      assert.deepEqual(
        got.map(({ remaining: _, ...l }) => l),
        leases.map(({ remaining: _, ...l }) => l),
      );
      for (const l of got) {
        assert.ok(l.remaining > 0n && l.remaining <= l.grantedTTL, `lease ${l.id}: ${l.remaining}`);
      }
      const status = await r.auth.authStatus({});
      assert.equal(status.enabled, true);
      assert.equal(status.authRevision, authStatus.authRevision);
    }

    // Every revision from the compaction to head, the compaction itself, the watch history, the hash.
    for (const [i, r] of rs.entries()) {
      for (let rev = compactRev; rev <= head; rev++) {
        assert.deepEqual(await rangeAt(r, rev), ranges.get(rev), `replica ${i}, revision ${rev}`);
      }
      await assert.rejects(rangeAt(r, compactRev - 1n), (err: unknown) => {
        assert.equal(codeOf(err), "OutOfRange");
        assert.match(String(err), /etcdserver: mvcc: required revision has been compacted/);
        return true;
      });
      const replayed = await watchFrom(r, compactRev, head);
      assert.deepEqual(
        replayed.filter((ev) => (ev.kv?.modRevision ?? 0n) <= head),
        events,
        `replica ${i}: watch from ${compactRev}`,
      );
      const h = await r.maintenance.hashKV({ revision: head });
      assert.equal(h.hash, hash.hash, `replica ${i}: HashKV at ${head}`);
      assert.equal(h.compactRevision, hash.compactRevision);
    }

    // Users, passwords and permissions came along.
    const { token } = await clientsOf(replicas[0] as RunningServer).auth.authenticate({
      name: "alice",
      password: "alicepw",
    });
    const alice = clientsOf(replicas[0] as RunningServer, token);
    await alice.kv.put({ key: bytes("app/y"), value: bytes("2") });
    await assert.rejects(
      alice.kv.put({ key: bytes("other"), value: bytes("3") }),
      (err: unknown) => {
        assert.equal(codeOf(err), "PermissionDenied");
        return true;
      },
    );

    // Nobody keeps the short lease alive: its keys go, the long one's stay.
    await eventually(
      "the short lease expires on the replicas",
      async () => {
        for (const r of rs) {
          const left = await r.kv.range({ key: bytes("lease/"), rangeEnd: bytes("lease0") });
          if (left.kvs.map((kv) => text(kv.key)).join() !== "lease/long") return false;
        }
        return true;
      },
      40_000,
    );
    for (const r of rs) {
      assert.deepEqual(
        (await leasesOf(r)).map((l) => l.id),
        [long],
      );
    }
    assert.ok(short !== long);
  });
});

describe("conclave migrate refuses", () => {
  test("a database whose log has entries, writing nothing; a directory without a store", {
    timeout: 120_000,
  }, async () => {
    const db = await pg.createDatabase();
    const dbName = new URL(db).pathname.slice(1);
    const [replica] = await startReplicas(1, db);
    try {
      await clientsOf(replica as RunningServer).kv.put({ key: bytes("a"), value: bytes("1") });
    } finally {
      await replica?.stop();
    }
    const logBefore = await pg.psql("SELECT count(*) FROM conclave_log", dbName);
    const leasesBefore = await pg.psql("SELECT count(*) FROM conclave_lease", dbName);

    const embedded = await startConclave();
    try {
      const c = clientsOf(embedded);
      await c.kv.put({ key: bytes("b"), value: bytes("2") });
      await c.lease.leaseGrant({ TTL: 60n });
    } finally {
      await embedded.stop();
    }
    const refused = await runConclave(["migrate", "--from", embedded.dataDir, "--to", db]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^conclave migrate: cannot migrate .* to postgres:\/\/.*: the shared log is not empty \(\d+ entries\): a store can only be restored into a fresh database\n$/,
    );
    assert.equal(await pg.psql("SELECT count(*) FROM conclave_log", dbName), logBefore);
    assert.equal(await pg.psql("SELECT count(*) FROM conclave_lease", dbName), leasesBefore);

    const missing = await runConclave([
      "migrate",
      "--from",
      `${embedded.dataDir}/nothing-here`,
      "--to",
      await pg.createDatabase(),
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no Conclave store in .*nothing-here/);

    const usage = await runConclave(["migrate", "--from", embedded.dataDir]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--to <postgres-url> is required/);
  });
});

describe("conclave migrate on a larger store", () => {
  test("shows a progress line every 16 MiB read, then the summary", {
    timeout: 120_000,
  }, async () => {
    const embedded = await startConclave();
    const value = new Uint8Array(1024 * 1024).fill(7);
    try {
      const c = clientsOf(embedded);
      for (let i = 0; i < 40; i++) {
        await c.kv.put({ key: bytes(`big/${i}`), value });
      }
    } finally {
      await embedded.stop();
    }
    const moved = await runConclave([
      "migrate",
      "--from",
      embedded.dataDir,
      "--to",
      await pg.createDatabase(),
    ]);
    assert.equal(moved.code, 0, moved.stderr);
    // Not a terminal here: one line per report, each further along.
    const lines = moved.stderr.split("\n").filter((l) => l !== "");
    const progress = lines.map((l) => /^migrating .*: (\d+) log entries, (\d+\.\d) MiB$/.exec(l));
    assert.ok(progress.length >= 2, moved.stderr);
    let last = 0;
    for (const m of progress) {
      assert.ok(m, `a progress line: ${moved.stderr}`);
      const mib = Number(m[2]);
      assert.ok(mib >= last + 16, moved.stderr);
      last = mib;
    }
    assert.match(moved.stdout, /^migrated .*: revision 41 \(never compacted\), 40 keys, 0 leases/);
  });
});
