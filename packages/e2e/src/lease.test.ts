// etcd's Lease service end to end against the conclave CLI: grant / revoke /
// keep-alive (bidi) / time-to-live / list over gRPC (connect-node, h2c),
// expiry timing seen through a watch, leases surviving a restart, and the
// etcdctl lease commands. Edge cases are compared with a real etcd.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  Event_EventType,
  KV,
  Lease,
  type LeaseKeepAliveRequestSchema,
  type LeaseKeepAliveResponse,
  Watch,
  type WatchRequestSchema,
  type WatchResponse,
} from "@conclave/proto";
import { type RunningServer, startConclave, startEtcd } from "@conclave/testkit";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { bytes, expectConnectError, prefixEnd, pushQueue, text } from "./clients.js";
import { etcdctl } from "./etcdctl.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Bidi<I, O> {
  send(req: I): void;
  /** The next response; fails the test when none arrives within timeoutMs. */
  recv(what: string, timeoutMs?: number): Promise<O>;
  close(): void;
}

const openStreams = new Set<Bidi<unknown, unknown>>();

function openBidi<I, O>(
  start: (requests: AsyncIterable<I>, options: { signal: AbortSignal }) => AsyncIterable<O>,
): Bidi<I, O> {
  const requests = pushQueue<I>();
  const abort = new AbortController();
  const it = start(requests, { signal: abort.signal })[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<O>> | undefined;
  const stream: Bidi<I, O> = {
    send: (req) => requests.push(req),
    async recv(what, timeoutMs = 5000) {
      if (pending === undefined) {
        pending = it.next();
        pending.catch(() => undefined);
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<"timeout">((r) => {
        timer = setTimeout(() => r("timeout"), timeoutMs);
      });
      const r = await Promise.race([pending, timeout]);
      clearTimeout(timer);
      assert.ok(r !== "timeout", `no response within ${timeoutMs} ms (waiting for ${what})`);
      pending = undefined;
      assert.ok(!r.done, `stream ended (waiting for ${what})`);
      return r.value;
    },
    close() {
      openStreams.delete(stream as Bidi<unknown, unknown>);
      requests.close();
      abort.abort();
    },
  };
  openStreams.add(stream as Bidi<unknown, unknown>);
  return stream;
}

type WatchStream = Bidi<MessageInitShape<typeof WatchRequestSchema>, WatchResponse>;
type KeepAliveStream = Bidi<
  MessageInitShape<typeof LeaseKeepAliveRequestSchema>,
  LeaseKeepAliveResponse
>;

interface Clients {
  kv: Client<typeof KV>;
  lease: Client<typeof Lease>;
  watch: Client<typeof Watch>;
}

function clientsFor(url: string): Clients {
  const t = createGrpcTransport({ baseUrl: url });
  return {
    kv: createClient(KV, t),
    lease: createClient(Lease, t),
    watch: createClient(Watch, t),
  };
}

/** Opens a watch on [key, rangeEnd) and waits for its created response. */
async function watchRange(
  c: Clients,
  key: string,
  rangeEnd?: Uint8Array,
  startRevision = 0n,
): Promise<WatchStream> {
  const s: WatchStream = openBidi((r, o) => c.watch.watch(r, o));
  s.send({
    requestUnion: {
      case: "createRequest",
      value: { key: bytes(key), rangeEnd: rangeEnd ?? new Uint8Array(), startRevision },
    },
  });
  const created = await s.recv("created");
  assert.equal(created.created, true);
  assert.equal(created.canceled, false);
  return s;
}

async function ttlOf(c: Clients, id: bigint, keys = false) {
  const r = await c.lease.leaseTimeToLive({ ID: id, keys });
  return { ttl: r.TTL, granted: r.grantedTTL, keys: r.keys.map(text) };
}

async function listed(c: Clients): Promise<bigint[]> {
  return (await c.lease.leaseLeases({})).leases.map((l) => l.ID);
}

/** A failure as "Code message", or the value's description. */
async function outcome(call: Promise<unknown>, describe: (v: never) => string): Promise<string> {
  try {
    return describe((await call) as never);
  } catch (e) {
    const ce = ConnectError.from(e);
    return `${Code[ce.code]} ${ce.rawMessage}`;
  }
}

function etcdctlOk(endpoint: string, args: string[]): string {
  const r = etcdctl(endpoint, args);
  assert.equal(r.code, 0, `etcdctl ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

let server: RunningServer;
let c: Clients;

before(async () => {
  server = await startConclave();
  c = clientsFor(server.url);
});

after(async () => {
  for (const s of [...openStreams]) s.close();
  if (server !== undefined) {
    await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
});

describe("LeaseGrant", () => {
  test("ID 0 → a server-chosen positive ID with the granted TTL", async () => {
    const r = await c.lease.leaseGrant({ ID: 0n, TTL: 10n });
    assert.ok(r.ID > 0n, `positive id, got ${r.ID}`);
    assert.equal(r.TTL, 10n);
    assert.equal(r.error, "");
    const r2 = await c.lease.leaseGrant({ ID: 0n, TTL: 10n });
    assert.notEqual(r2.ID, r.ID, "two grants, two ids");
    assert.ok((await listed(c)).includes(r.ID));
  });

  test("an explicit ID is used; granting it again → FailedPrecondition lease already exists", async () => {
    const r = await c.lease.leaseGrant({ ID: 0x1234abcdn, TTL: 30n });
    assert.equal(r.ID, 0x1234abcdn);
    assert.equal(r.TTL, 30n);
    await expectConnectError(
      c.lease.leaseGrant({ ID: 0x1234abcdn, TTL: 30n }),
      Code.FailedPrecondition,
      "etcdserver: lease already exists",
    );
  });

  test("TTL below the minimum is raised to 2; above 9,000,000,000 → OutOfRange", async () => {
    for (const ttl of [1n, 0n, -5n]) {
      const r = await c.lease.leaseGrant({ TTL: ttl });
      assert.equal(r.TTL, 2n, `TTL ${ttl}`);
      assert.equal((await ttlOf(c, r.ID)).granted, 2n);
    }
    assert.equal((await c.lease.leaseGrant({ TTL: 9_000_000_000n })).TTL, 9_000_000_000n);
    await expectConnectError(
      c.lease.leaseGrant({ TTL: 9_000_000_001n }),
      Code.OutOfRange,
      "etcdserver: too large lease TTL",
    );
  });
});

describe("LeaseRevoke", () => {
  test("revoke deletes all 50 attached keys in one revision (one watch response, sorted)", async () => {
    const { ID } = await c.lease.leaseGrant({ TTL: 60n });
    const keys = Array.from({ length: 50 }, (_, i) => `rvk/${String(i).padStart(2, "0")}`);
    // Attach in a scrambled order; the deletes still come sorted.
    for (let i = 0; i < 50; i++) {
      const k = keys[(i * 17) % 50] as string;
      await c.kv.put({ key: bytes(k), value: bytes("v"), lease: ID });
    }
    assert.equal((await ttlOf(c, ID, true)).keys.length, 50);
    const s = await watchRange(c, "rvk/", prefixEnd("rvk/"));
    const rv = await c.lease.leaseRevoke({ ID });
    const rev = rv.header?.revision ?? 0n;
    const r = await s.recv("the revoke's deletes");
    assert.equal(r.events.length, 50, "one response with every delete");
    assert.ok(r.events.every((e) => e.type === Event_EventType.DELETE));
    assert.ok(
      r.events.every((e) => e.kv?.modRevision === rev),
      "all at the revoke's revision",
    );
    assert.deepEqual(
      r.events.map((e) => text(e.kv?.key ?? new Uint8Array())),
      keys,
    );
    s.close();
    const left = await c.kv.range({ key: bytes("rvk/"), rangeEnd: prefixEnd("rvk/") });
    assert.equal(left.count, 0n);
    assert.ok(!(await listed(c)).includes(ID));
    assert.equal((await ttlOf(c, ID)).ttl, -1n);
  });

  test("revoking an unknown lease → NotFound", async () => {
    await expectConnectError(
      c.lease.leaseRevoke({ ID: 0x7777n }),
      Code.NotFound,
      "etcdserver: requested lease not found",
    );
  });

  test("put with an unknown lease → NotFound, nothing written", async () => {
    await expectConnectError(
      c.kv.put({ key: bytes("nolease/k"), value: bytes("v"), lease: 0x7778n }),
      Code.NotFound,
      "etcdserver: requested lease not found",
    );
    assert.equal((await c.kv.range({ key: bytes("nolease/k") })).count, 0n);
  });
});

describe("LeaseKeepAlive, LeaseTimeToLive, LeaseLeases", () => {
  test("keep-alive answers the granted TTL; unknown lease → TTL 0 without ending the stream", async () => {
    const { ID } = await c.lease.leaseGrant({ TTL: 7n });
    const s: KeepAliveStream = openBidi((r, o) => c.lease.leaseKeepAlive(r, o));
    s.send({ ID });
    const a = await s.recv("keep-alive");
    assert.equal(a.ID, ID);
    assert.equal(a.TTL, 7n);
    s.send({ ID: 0x5555n });
    const b = await s.recv("keep-alive of an unknown lease");
    assert.equal(b.ID, 0x5555n);
    assert.equal(b.TTL, 0n);
    s.send({ ID });
    const again = await s.recv("keep-alive after the unknown one");
    assert.equal(again.TTL, 7n);
    s.close();
  });

  test("keep-alive restarts the lease's clock", async () => {
    const { ID } = await c.lease.leaseGrant({ TTL: 3n });
    await sleep(1200);
    const before = await ttlOf(c, ID);
    assert.ok(before.ttl <= 1n && before.ttl >= 0n, `remaining after 1.2 s: ${before.ttl}`);
    const s: KeepAliveStream = openBidi((r, o) => c.lease.leaseKeepAlive(r, o));
    s.send({ ID });
    assert.equal((await s.recv("keep-alive")).TTL, 3n);
    s.close();
    const renewed = await ttlOf(c, ID);
    assert.ok(renewed.ttl >= 2n && renewed.ttl <= 3n, `remaining after renewal: ${renewed.ttl}`);
    assert.equal(renewed.granted, 3n);
  });

  test("TimeToLive: remaining ≤ granted, keys only when asked, unknown → TTL -1", async () => {
    const { ID } = await c.lease.leaseGrant({ TTL: 20n });
    await c.kv.put({ key: bytes("ttl/b"), value: bytes("1"), lease: ID });
    await c.kv.put({ key: bytes("ttl/a"), value: bytes("2"), lease: ID });
    const plain = await ttlOf(c, ID);
    assert.ok(plain.ttl <= 20n && plain.ttl >= 18n, `remaining ${plain.ttl}`);
    assert.equal(plain.granted, 20n);
    assert.deepEqual(plain.keys, []);
    const withKeys = await ttlOf(c, ID, true);
    assert.deepEqual(withKeys.keys, ["ttl/a", "ttl/b"]);
    const unknown = await c.lease.leaseTimeToLive({ ID: 0x6666n, keys: true });
    assert.equal(unknown.TTL, -1n);
    assert.equal(unknown.ID, 0x6666n);
    assert.deepEqual(unknown.keys, []);
  });

  test("Leases lists live leases and drops revoked ones", async () => {
    const a = (await c.lease.leaseGrant({ TTL: 30n })).ID;
    const b = (await c.lease.leaseGrant({ TTL: 30n })).ID;
    const all = await listed(c);
    assert.ok(all.includes(a) && all.includes(b));
    await c.lease.leaseRevoke({ ID: a });
    const after = await listed(c);
    assert.ok(!after.includes(a), "revoked lease not listed");
    assert.ok(after.includes(b));
  });
});

describe("expiry", () => {
  test("a TTL-2 lease's key is deleted ≥ 2000 ms and ≤ 2100 ms after the grant (3 rounds)", async (t) => {
    const elapsed: { fromSend: number; fromReply: number }[] = [];
    for (let round = 0; round < 3; round++) {
      const key = `exp/${round}`;
      const s = await watchRange(c, key);
      const sent = performance.now();
      const { ID, TTL } = await c.lease.leaseGrant({ TTL: 2n });
      const replied = performance.now();
      assert.equal(TTL, 2n);
      await c.kv.put({ key: bytes(key), value: bytes("v"), lease: ID });
      const put = await s.recv("PUT");
      assert.equal(put.events[0]?.type, Event_EventType.PUT);
      const del = await s.recv("DELETE on expiry", 4000);
      const at = performance.now();
      assert.equal(del.events.length, 1);
      assert.equal(del.events[0]?.type, Event_EventType.DELETE);
      elapsed.push({ fromSend: at - sent, fromReply: at - replied });
      s.close();
      assert.equal((await ttlOf(c, ID)).ttl, -1n, "the lease is gone too");
    }
    const minFromSend = Math.min(...elapsed.map((e) => e.fromSend));
    const maxFromReply = Math.max(...elapsed.map((e) => e.fromReply));
    const detail = JSON.stringify(elapsed.map((e) => [e.fromSend, e.fromReply].map(Math.round)));
    t.diagnostic(`ms from grant sent / grant reply to DELETE: ${detail}`);
    assert.ok(minFromSend >= 2000, `deleted before the deadline: ${detail}`);
    assert.ok(maxFromReply <= 2100, `deleted more than 100 ms after the deadline: ${detail}`);
  });
});

describe("attaching keys", () => {
  test("LeaseAttach: put with lease + ignore_value attaches an existing key, value unchanged", async () => {
    const first = await c.kv.put({ key: bytes("att/k"), value: bytes("v1") });
    const { ID } = await c.lease.leaseGrant({ TTL: 30n });
    await c.kv.put({ key: bytes("att/k"), lease: ID, ignoreValue: true });
    assert.deepEqual((await ttlOf(c, ID, true)).keys, ["att/k"]);
    const got = (await c.kv.range({ key: bytes("att/k") })).kvs[0];
    assert.equal(text(got?.value ?? new Uint8Array()), "v1");
    assert.equal(got?.lease, ID);
    assert.equal(got?.version, 2n);
    assert.equal(got?.createRevision, first.header?.revision);
    // ignore_value needs the key to exist.
    await expectConnectError(
      c.kv.put({ key: bytes("att/missing"), lease: ID, ignoreValue: true }),
      Code.InvalidArgument,
      "etcdserver: key not found",
    );
    await c.lease.leaseRevoke({ ID });
    assert.equal((await c.kv.range({ key: bytes("att/k") })).count, 0n);
  });

  test("LeaseTxn: a txn whose puts carry the lease attaches both keys; revoke deletes both", async () => {
    const { ID } = await c.lease.leaseGrant({ TTL: 30n });
    const t = await c.kv.txn({
      success: ["ltx/a", "ltx/b"].map((k) => ({
        request: {
          case: "requestPut" as const,
          value: { key: bytes(k), value: bytes(k), lease: ID },
        },
      })),
    });
    assert.equal(t.succeeded, true);
    assert.deepEqual((await ttlOf(c, ID, true)).keys, ["ltx/a", "ltx/b"]);
    const kvs = (await c.kv.range({ key: bytes("ltx/"), rangeEnd: prefixEnd("ltx/") })).kvs;
    assert.deepEqual(
      kvs.map((kv) => kv.lease),
      [ID, ID],
    );
    const rv = await c.lease.leaseRevoke({ ID });
    assert.equal(rv.header?.revision, (t.header?.revision ?? 0n) + 1n, "one revision for both");
    assert.equal((await c.kv.range({ key: bytes("ltx/"), rangeEnd: prefixEnd("ltx/") })).count, 0n);
  });
});

describe("etcdctl lease", () => {
  test("grant, put --lease, timetolive --keys, keep-alive --once, list, revoke", () => {
    const ep = server.endpoint;
    const granted = etcdctlOk(ep, ["lease", "grant", "10"]);
    const m = /^lease ([0-9a-f]{16}) granted with TTL\(10s\)\n$/.exec(granted);
    assert.ok(m, `lease grant output: ${JSON.stringify(granted)}`);
    const hex = m[1] as string;
    assert.equal(etcdctlOk(ep, ["put", `--lease=${hex}`, "ectl/lk", "v"]), "OK\n");
    const ttl = etcdctlOk(ep, ["lease", "timetolive", hex, "--keys"]);
    assert.match(
      ttl,
      new RegExp(
        `^lease ${hex} granted with TTL\\(10s\\), remaining\\((9|10)s\\), attached keys\\(\\[ectl/lk\\]\\)\\n$`,
      ),
    );
    assert.equal(
      etcdctlOk(ep, ["lease", "keep-alive", "--once", hex]),
      `lease ${hex} keepalived with TTL(10)\n`,
    );
    const list = etcdctlOk(ep, ["lease", "list"]).trim().split("\n");
    const n = Number(/^found (\d+) leases$/.exec(list[0] ?? "")?.[1]);
    assert.equal(n, list.length - 1, `lease list output: ${list.join("|")}`);
    assert.ok(list.includes(hex), `${hex} listed`);
    assert.equal(etcdctlOk(ep, ["lease", "revoke", hex]), `lease ${hex} revoked\n`);
    assert.equal(etcdctlOk(ep, ["get", "ectl/lk"]), "");
    assert.equal(etcdctlOk(ep, ["lease", "timetolive", hex]), `lease ${hex} already expired\n`);
    const again = etcdctl(ep, ["lease", "revoke", hex]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /etcdserver: requested lease not found/);
    const badPut = etcdctl(ep, ["put", `--lease=${hex}`, "ectl/lk", "v"]);
    assert.notEqual(badPut.code, 0);
    assert.match(badPut.stderr, /etcdserver: requested lease not found/);
  });
});

/** The lease edge cases, as comparable strings. */
async function edgeCases(url: string): Promise<string[]> {
  const k = clientsFor(url);
  const grant = (ID: bigint, TTL: bigint) =>
    outcome(k.lease.leaseGrant({ ID, TTL }), (r: { ID: bigint; TTL: bigint }) =>
      ID === 0n ? `granted TTL ${r.TTL}` : `granted ${r.ID} TTL ${r.TTL}`,
    );
  const out = [
    await grant(0n, 1n),
    await grant(0n, 0n),
    await grant(0n, -5n),
    await grant(0n, 9_000_000_000n),
    await grant(0n, 9_000_000_001n),
    await grant(77n, 5n),
    await grant(77n, 5n),
    await outcome(k.lease.leaseRevoke({ ID: 78n }), () => "revoked"),
    await outcome(k.kv.put({ key: bytes("edge"), value: bytes("v"), lease: 78n }), () => "put"),
    await outcome(
      k.lease.leaseTimeToLive({ ID: 78n, keys: true }),
      (r: { TTL: bigint; grantedTTL: bigint; keys: unknown[] }) =>
        `ttl ${r.TTL} granted ${r.grantedTTL} keys ${r.keys.length}`,
    ),
    await outcome(
      k.lease.leaseTimeToLive({ ID: 77n, keys: true }),
      (r: { TTL: bigint; grantedTTL: bigint; keys: unknown[] }) =>
        `ttl ${r.TTL} granted ${r.grantedTTL} keys ${r.keys.length}`,
    ),
  ];
  const ka: KeepAliveStream = openBidi((r, o) => k.lease.leaseKeepAlive(r, o));
  ka.send({ ID: 78n });
  const r78 = await ka.recv("keep-alive of unknown");
  ka.send({ ID: 77n });
  const r77 = await ka.recv("keep-alive");
  ka.close();
  out.push(`keepalive 78 → ${r78.ID} TTL ${r78.TTL}`, `keepalive 77 → ${r77.ID} TTL ${r77.TTL}`);
  await k.lease.leaseRevoke({ ID: 77n });
  return out;
}

describe("lease edge cases equal real etcd's", () => {
  let etcd: RunningServer | undefined;
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.stop();
  });

  test("grant TTL bounds, duplicate id, unknown lease in revoke/put/timetolive/keep-alive", async () => {
    assert.ok(etcd);
    const theirs = await edgeCases(etcd.url);
    const ours = await edgeCases(server.url);
    assert.deepEqual(ours, theirs);
  });
});

// Restarts replace the file's server; keep these last.
describe("leases across a restart", () => {
  const restart = async (downtimeMs = 0) => {
    for (const s of [...openStreams]) s.close();
    const code = await server.stop();
    assert.equal(code, 0, `graceful stop exit code; output:\n${server.output()}`);
    await sleep(downtimeMs);
    server = await startConclave({ dataDir: server.dataDir });
    c = clientsFor(server.url);
  };

  test("a TTL-60 lease survives a graceful restart with its keys, then revoke works", async () => {
    const { ID } = await c.lease.leaseGrant({ TTL: 60n });
    await c.kv.put({ key: bytes("rst/a"), value: bytes("1"), lease: ID });
    await c.kv.put({ key: bytes("rst/b"), value: bytes("2"), lease: ID });
    await restart();
    assert.ok((await listed(c)).includes(ID), "still listed");
    const info = await ttlOf(c, ID, true);
    assert.deepEqual(info.keys, ["rst/a", "rst/b"]);
    assert.equal(info.granted, 60n);
    assert.ok(info.ttl > 0n && info.ttl <= 60n, `remaining ${info.ttl}`);
    const kvs = (await c.kv.range({ key: bytes("rst/"), rangeEnd: prefixEnd("rst/") })).kvs;
    assert.deepEqual(
      kvs.map((kv) => [text(kv.value), kv.lease]),
      [
        ["1", ID],
        ["2", ID],
      ],
    );
    await c.lease.leaseRevoke({ ID });
    assert.equal((await c.kv.range({ key: bytes("rst/"), rangeEnd: prefixEnd("rst/") })).count, 0n);
    assert.ok(!(await listed(c)).includes(ID));
  });

  test("4 s down: a TTL-3 lease gets a ~3 s grace then expires; a TTL-30 lease is not reset", async (t) => {
    const short = (await c.lease.leaseGrant({ TTL: 3n })).ID;
    const long = (await c.lease.leaseGrant({ TTL: 30n })).ID;
    await c.kv.put({ key: bytes("grace/short"), value: bytes("s"), lease: short });
    await c.kv.put({ key: bytes("grace/long"), value: bytes("l"), lease: long });
    const grantedAt = performance.now();
    await restart(4000);
    const up = performance.now();
    const rev = (await c.kv.range({ key: bytes("grace/short") })).header?.revision ?? 0n;
    const s = await watchRange(c, "grace/short", undefined, rev + 1n);

    const shortInfo = await ttlOf(c, short, true);
    assert.ok(
      shortInfo.ttl >= 0n && shortInfo.ttl <= 3n,
      `short lease after restart: ${shortInfo.ttl}`,
    );
    assert.deepEqual(shortInfo.keys, ["grace/short"]);
    const longInfo = await ttlOf(c, long);
    const downS = BigInt(Math.floor((performance.now() - grantedAt) / 1000));
    assert.ok(
      longInfo.ttl > 0n && longInfo.ttl <= 30n - downS,
      `TTL-30 lease ${downS} s after grant has ${longInfo.ttl} s left (must not be reset to 30)`,
    );

    const del = await s.recv("expiry of the short lease after its grace", 5000);
    const at = performance.now() - up;
    t.diagnostic(
      `short lease expired ${Math.round(at)} ms after the restart; long lease had ${longInfo.ttl} s`,
    );
    assert.equal(del.events[0]?.type, Event_EventType.DELETE);
    assert.equal(text(del.events[0]?.kv?.key ?? new Uint8Array()), "grace/short");
    assert.ok(at >= 2000, `grace too short: expired ${Math.round(at)} ms after the restart`);
    assert.ok(at <= 3100, `expired ${Math.round(at)} ms after the restart (grace is 3 s)`);
    s.close();
    assert.equal((await ttlOf(c, short)).ttl, -1n);
    assert.equal((await c.kv.range({ key: bytes("grace/long") })).count, 1n);
    await c.lease.leaseRevoke({ ID: long });
  });
});
