// etcd's Watch service end to end: a bidi gRPC stream (connect-node over h2c,
// as etcd's Go client speaks it) and real etcdctl 3.4, against the conclave
// CLI; the wire-visible corners are compared with a real etcd.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  type Event,
  Event_EventType,
  KV,
  Watch,
  WatchCreateRequest_FilterType,
  type WatchCreateRequestSchema,
  type WatchRequestSchema,
  type WatchResponse,
} from "@conclave/proto";
import { type RunningServer, startConclave, startEtcd } from "@conclave/testkit";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { bytes, prefixEnd, pushQueue, text } from "./clients.js";
import { etcdctl } from "./etcdctl.js";
import { type EtcdctlProcess, killAllEtcdctl, spawnEtcdctl } from "./etcdctl-process.js";

type WatchRequestInit = MessageInitShape<typeof WatchRequestSchema>;
type WatchCreateInit = MessageInitShape<typeof WatchCreateRequestSchema>;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * One Watch stream. Responses are read only when `recv` is called, so a test
 * that stops calling it is a consumer that stopped reading.
 */
interface WatchStream {
  send(req: WatchRequestInit): void;
  create(req: WatchCreateInit): void;
  cancel(watchId: bigint): void;
  progress(): void;
  /** The next response, or undefined if none arrives within timeoutMs. */
  recv(timeoutMs?: number): Promise<WatchResponse | undefined>;
  close(): void;
}

const openStreams = new Set<WatchStream>();

function openWatch(client: Client<typeof Watch>): WatchStream {
  const requests = pushQueue<WatchRequestInit>();
  const abort = new AbortController();
  const it = client.watch(requests, { signal: abort.signal })[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<WatchResponse>> | undefined;
  const stream: WatchStream = {
    send: (req) => requests.push(req),
    create: (value) => requests.push({ requestUnion: { case: "createRequest", value } }),
    cancel: (watchId) =>
      requests.push({ requestUnion: { case: "cancelRequest", value: { watchId } } }),
    progress: () => requests.push({ requestUnion: { case: "progressRequest", value: {} } }),
    async recv(timeoutMs = 5000) {
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
      if (r === "timeout") return undefined;
      pending = undefined;
      if (r.done) throw new Error("watch stream ended");
      return r.value;
    },
    close() {
      openStreams.delete(stream);
      requests.close();
      abort.abort();
    },
  };
  openStreams.add(stream);
  return stream;
}

/** The next response; fails the test if none arrives in time. */
async function recvOne(s: WatchStream, what: string, timeoutMs = 5000): Promise<WatchResponse> {
  const r = await s.recv(timeoutMs);
  assert.ok(r !== undefined, `no watch response within ${timeoutMs} ms (waiting for ${what})`);
  return r;
}

/** Responses until `count` events arrived in total (fails on timeout). */
async function recvEvents(s: WatchStream, count: number, timeoutMs = 10_000) {
  const responses: WatchResponse[] = [];
  let n = 0;
  const deadline = Date.now() + timeoutMs;
  while (n < count) {
    const r = await s.recv(Math.max(1, deadline - Date.now()));
    assert.ok(r !== undefined, `only ${n} of ${count} events within ${timeoutMs} ms`);
    responses.push(r);
    n += r.events.length;
  }
  assert.equal(n, count, "more events than expected");
  return responses;
}

async function expectQuiet(s: WatchStream, ms: number, why: string) {
  const r = await s.recv(ms);
  assert.equal(r, undefined, `expected no response (${why}), got ${JSON.stringify(brief(r))}`);
}

/** A readable, comparable form of an event. */
function ev(e: Event) {
  return {
    type: e.type === Event_EventType.PUT ? "PUT" : "DELETE",
    key: text(e.kv?.key ?? new Uint8Array()),
    value: text(e.kv?.value ?? new Uint8Array()),
    rev: e.kv?.modRevision ?? -1n,
    prev: e.prevKv === undefined ? undefined : text(e.prevKv.value),
  };
}

function brief(r: WatchResponse | undefined) {
  if (r === undefined) return undefined;
  return {
    rev: String(r.header?.revision),
    watchId: String(r.watchId),
    created: r.created,
    canceled: r.canceled,
    compactRevision: String(r.compactRevision),
    cancelReason: r.cancelReason,
    events: r.events.map((e) => {
      const x = ev(e);
      return { ...x, rev: String(x.rev) };
    }),
  };
}

function startWatchClients(url: string) {
  const transport = createGrpcTransport({ baseUrl: url });
  return { kv: createClient(KV, transport), watch: createClient(Watch, transport) };
}

async function currentRev(kv: Client<typeof KV>): Promise<bigint> {
  const r = await kv.range({ key: bytes("\0") });
  return r.header?.revision ?? 0n;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (i < items.length) {
        const idx = i++;
        out[idx] = await fn(items[idx] as T);
      }
    }),
  );
  return out;
}

// ---------------------------------------------------------------------------
// etcdctl as a long-running child process

function put(endpoint: string, key: string, value: string) {
  const r = etcdctl(endpoint, ["put", key, value]);
  assert.equal(r.code, 0, r.stderr);
}

/**
 * Puts `key` = ready-N until the watching etcdctl printed the last such
 * value, so the watch is established; returns the stdout length at that point.
 */
async function awaitWatching(endpoint: string, c: EtcdctlProcess, key: string): Promise<number> {
  const deadline = Date.now() + 10_000;
  let n = 0;
  put(endpoint, key, `ready-${++n}`);
  while (!c.stdout().includes(`${key}\nready-${n}\n`)) {
    if (Date.now() > deadline) throw new Error(`etcdctl never printed ${key}: ${c.stderr()}`);
    await sleep(150);
    if (!c.stdout().includes("ready-")) put(endpoint, key, `ready-${++n}`);
  }
  return c.stdout().length;
}

// ---------------------------------------------------------------------------

let server: RunningServer;
let kv: Client<typeof KV>;
let watch: Client<typeof Watch>;

before(async () => {
  server = await startConclave();
  ({ kv, watch } = startWatchClients(server.url));
});

after(async () => {
  for (const s of [...openStreams]) s.close();
  await killAllEtcdctl();
  if (server !== undefined) {
    await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
});

describe("watch creation", () => {
  test("created responses come in the order of the creates, ids 0..4", async () => {
    const s = openWatch(watch);
    for (let i = 0; i < 5; i++) s.create({ key: bytes(`order/${i}`) });
    const rev = await currentRev(kv);
    for (let i = 0; i < 5; i++) {
      const r = await recvOne(s, `created #${i}`);
      assert.equal(r.created, true);
      assert.equal(r.canceled, false);
      assert.equal(r.watchId, BigInt(i));
      assert.equal(r.header?.revision, rev);
    }
    // Ids really belong to those keys: a put to order/3 arrives for watcher 3.
    await kv.put({ key: bytes("order/3"), value: bytes("x") });
    const e = await recvOne(s, "event for order/3");
    assert.equal(e.watchId, 3n);
    assert.deepEqual(
      e.events.map((x) => ev(x).key),
      ["order/3"],
    );
    s.close();
  });

  test("explicit watch_id is used; auto ids skip it", async () => {
    const s = openWatch(watch);
    s.create({ key: bytes("exp/a"), watchId: 1n });
    s.create({ key: bytes("exp/b") });
    s.create({ key: bytes("exp/c") });
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const r = await recvOne(s, "created");
      assert.equal(r.created, true);
      assert.equal(r.canceled, false);
      ids.push(r.watchId);
    }
    assert.deepEqual(ids, [1n, 0n, 2n]);
    s.close();
  });

  test("duplicate explicit watch_id → created+canceled, watch_id -1", async () => {
    const s = openWatch(watch);
    s.create({ key: bytes("dup/a"), watchId: 7n });
    s.create({ key: bytes("dup/b"), watchId: 7n });
    const first = await recvOne(s, "created");
    assert.equal(first.watchId, 7n);
    assert.equal(first.canceled, false);
    const dup = await recvOne(s, "refused");
    assert.equal(dup.created, true);
    assert.equal(dup.canceled, true);
    assert.equal(dup.watchId, -1n);
    assert.equal(dup.cancelReason, "mvcc: duplicate watch ID provided on the WatchStream");
    // The original watcher 7 is still alive.
    await kv.put({ key: bytes("dup/a"), value: bytes("1") });
    const e = await recvOne(s, "event of watcher 7");
    assert.equal(e.watchId, 7n);
    assert.equal(e.events.length, 1);
    s.close();
  });

  test("key ≥ range_end → created+canceled, watch_id -1, watcher range is empty", async () => {
    const s = openWatch(watch);
    s.create({ key: bytes("b"), rangeEnd: bytes("a") });
    s.create({ key: bytes("b"), rangeEnd: bytes("b") });
    for (const what of ["key > end", "key == end"]) {
      const r = await recvOne(s, what);
      assert.equal(r.created, true, what);
      assert.equal(r.canceled, true, what);
      assert.equal(r.watchId, -1n, what);
      assert.equal(r.cancelReason, "mvcc: watcher range is empty", what);
    }
    // The refused creates used no id: the next one gets 0.
    s.create({ key: bytes("b") });
    assert.equal((await recvOne(s, "created")).watchId, 0n);
    s.close();
  });
});

describe("watch events", () => {
  test("events arrive in revision order, matching the writes", async () => {
    const s = openWatch(watch);
    s.create({ key: bytes("ord/"), rangeEnd: prefixEnd("ord/") });
    await recvOne(s, "created");
    const expected: ReturnType<typeof ev>[] = [];
    const w = async (type: "PUT" | "DELETE", key: string, value = "") => {
      const r =
        type === "PUT"
          ? await kv.put({ key: bytes(key), value: bytes(value) })
          : await kv.deleteRange({ key: bytes(key) });
      expected.push({ type, key, value, rev: r.header?.revision ?? 0n, prev: undefined });
    };
    await w("PUT", "ord/a", "1");
    await w("PUT", "ord/b", "2");
    await w("DELETE", "ord/a");
    await w("PUT", "ord/b", "3");
    await w("PUT", "ord/c", "4");
    await w("DELETE", "ord/c");
    const got = (await recvEvents(s, expected.length)).flatMap((r) => r.events.map(ev));
    assert.deepEqual(got, expected);
    for (let i = 1; i < got.length; i++) {
      assert.ok((got[i]?.rev ?? 0n) > (got[i - 1]?.rev ?? 0n), "revisions increase");
    }
    s.close();
  });

  test("all events of one txn come in one response with one revision, in op order", async () => {
    const s = openWatch(watch);
    s.create({ key: bytes("txn/"), rangeEnd: prefixEnd("txn/") });
    await recvOne(s, "created");
    const t = await kv.txn({
      success: ["txn/c", "txn/a", "txn/b"].map((k) => ({
        request: { case: "requestPut" as const, value: { key: bytes(k), value: bytes(k) } },
      })),
    });
    const rev = t.header?.revision ?? 0n;
    const r = await recvOne(s, "txn events");
    assert.equal(r.events.length, 3, "one response carries the whole txn");
    assert.deepEqual(
      r.events.map((e) => [ev(e).type, ev(e).key, ev(e).rev]),
      [
        ["PUT", "txn/c", rev],
        ["PUT", "txn/a", rev],
        ["PUT", "txn/b", rev],
      ],
    );
    assert.equal(r.header?.revision, rev);
    s.close();
  });

  test("prev_kv on update and delete, none on creation; DELETE kv has only key and mod_revision", async () => {
    const s = openWatch(watch);
    s.create({ key: bytes("pkv/k"), prevKv: true });
    await recvOne(s, "created");
    const p1 = await kv.put({ key: bytes("pkv/k"), value: bytes("v1") });
    const p2 = await kv.put({ key: bytes("pkv/k"), value: bytes("v2") });
    const d = await kv.deleteRange({ key: bytes("pkv/k") });
    const events = (await recvEvents(s, 3)).flatMap((r) => r.events);
    const [create, update, del] = events;
    assert.ok(create && update && del);
    assert.equal(create.prevKv, undefined, "no prev_kv for a creation");
    assert.equal(text(create.kv?.value ?? new Uint8Array()), "v1");
    assert.equal(create.kv?.modRevision, p1.header?.revision);
    assert.equal(create.kv?.version, 1n);
    assert.equal(text(update.prevKv?.value ?? new Uint8Array()), "v1");
    assert.equal(update.prevKv?.modRevision, p1.header?.revision);
    assert.equal(update.kv?.version, 2n);
    assert.equal(update.kv?.createRevision, p1.header?.revision);
    assert.equal(del.type, Event_EventType.DELETE);
    assert.equal(text(del.prevKv?.value ?? new Uint8Array()), "v2");
    assert.equal(del.prevKv?.modRevision, p2.header?.revision);
    assert.equal(text(del.kv?.key ?? new Uint8Array()), "pkv/k");
    assert.equal(del.kv?.modRevision, d.header?.revision);
    assert.equal(del.kv?.createRevision, 0n);
    assert.equal(del.kv?.version, 0n);
    assert.equal(del.kv?.value.length, 0);
    s.close();
  });

  test("without prev_kv no prev_kv is sent", async () => {
    const s = openWatch(watch);
    s.create({ key: bytes("nopkv/k") });
    await recvOne(s, "created");
    await kv.put({ key: bytes("nopkv/k"), value: bytes("a") });
    await kv.put({ key: bytes("nopkv/k"), value: bytes("b") });
    const events = (await recvEvents(s, 2)).flatMap((r) => r.events);
    assert.deepEqual(
      events.map((e) => e.prevKv),
      [undefined, undefined],
    );
    s.close();
  });

  test("filters NOPUT and NODELETE", async () => {
    const s = openWatch(watch);
    const range = { key: bytes("flt/"), rangeEnd: prefixEnd("flt/") };
    s.create({ ...range, filters: [WatchCreateRequest_FilterType.NOPUT] });
    s.create({ ...range, filters: [WatchCreateRequest_FilterType.NODELETE] });
    assert.equal((await recvOne(s, "created")).watchId, 0n);
    assert.equal((await recvOne(s, "created")).watchId, 1n);
    await kv.put({ key: bytes("flt/a"), value: bytes("1") });
    await kv.deleteRange({ key: bytes("flt/a") });
    await kv.put({ key: bytes("flt/b"), value: bytes("2") });
    await kv.deleteRange({ key: bytes("flt/b") });
    const byId = new Map<bigint, string[]>();
    for (const r of await recvEvents(s, 4)) {
      const list = byId.get(r.watchId) ?? [];
      for (const e of r.events) list.push(`${ev(e).type} ${ev(e).key}`);
      byId.set(r.watchId, list);
    }
    assert.deepEqual(byId.get(0n), ["DELETE flt/a", "DELETE flt/b"], "NOPUT sees only deletes");
    assert.deepEqual(byId.get(1n), ["PUT flt/a", "PUT flt/b"], "NODELETE sees only puts");
    await expectQuiet(s, 200, "nothing else");
    s.close();
  });

  test("prefix range, '\\0' range end, and empty key with '\\0' (everything)", async () => {
    const s = openWatch(watch);
    s.create({ key: bytes("rng/p/"), rangeEnd: prefixEnd("rng/p/") }); // 0: prefix
    s.create({ key: bytes("rng/m"), rangeEnd: new Uint8Array([0]) }); // 1: ≥ rng/m
    s.create({ key: new Uint8Array(), rangeEnd: new Uint8Array([0]) }); // 2: everything
    for (let i = 0; i < 3; i++) assert.equal((await recvOne(s, "created")).watchId, BigInt(i));
    const keys = ["rng/a", "rng/p/x", "rng/p0", "rng/z", "\u0001first", "zzz"];
    for (const k of keys) await kv.put({ key: bytes(k), value: bytes("v") });
    const seen = new Map<bigint, string[]>();
    // 1 + 4 + 6 events expected.
    for (const r of await recvEvents(s, 11)) {
      const list = seen.get(r.watchId) ?? [];
      list.push(...r.events.map((e) => ev(e).key));
      seen.set(r.watchId, list);
    }
    assert.deepEqual(seen.get(0n), ["rng/p/x"]);
    assert.deepEqual(seen.get(1n), ["rng/p/x", "rng/p0", "rng/z", "zzz"]);
    assert.deepEqual(seen.get(2n), keys);
    s.close();
  });
});

describe("watch start revision and compaction", () => {
  test("a past start_revision replays history, then continues live", async () => {
    const revs: bigint[] = [];
    for (const v of ["a", "b", "c"]) {
      const r = await kv.put({ key: bytes("past/k"), value: bytes(v) });
      revs.push(r.header?.revision ?? 0n);
    }
    const s = openWatch(watch);
    s.create({ key: bytes("past/k"), startRevision: revs[1] });
    assert.equal((await recvOne(s, "created")).created, true);
    const replay = (await recvEvents(s, 2)).flatMap((r) => r.events.map(ev));
    assert.deepEqual(
      replay.map((e) => [e.value, e.rev]),
      [
        ["b", revs[1]],
        ["c", revs[2]],
      ],
    );
    const live = await kv.put({ key: bytes("past/k"), value: bytes("d") });
    const next = (await recvEvents(s, 1)).flatMap((r) => r.events.map(ev));
    assert.deepEqual(
      next.map((e) => [e.value, e.rev]),
      [["d", live.header?.revision]],
    );
    s.close();
  });

  test("a future start_revision waits for it", async () => {
    const now = await currentRev(kv);
    const s = openWatch(watch);
    s.create({ key: bytes("fut/k"), startRevision: now + 3n });
    const created = await recvOne(s, "created");
    assert.equal(created.created, true);
    assert.equal(created.canceled, false);
    await kv.put({ key: bytes("fut/k"), value: bytes("1") }); // now+1
    await kv.put({ key: bytes("fut/k"), value: bytes("2") }); // now+2
    await expectQuiet(s, 300, "revisions before the start revision");
    await kv.put({ key: bytes("fut/k"), value: bytes("3") }); // now+3
    const got = (await recvEvents(s, 1)).flatMap((r) => r.events.map(ev));
    assert.deepEqual(
      got.map((e) => [e.value, e.rev]),
      [["3", now + 3n]],
    );
    s.close();
  });

  test("a compacted start_revision → one compacted+canceled response, then nothing", async () => {
    const first = await kv.put({ key: bytes("cmp/k"), value: bytes("1") });
    await kv.put({ key: bytes("cmp/k"), value: bytes("2") });
    const compactRev = await currentRev(kv);
    await kv.compact({ revision: compactRev, physical: true });
    const s = openWatch(watch);
    s.create({ key: bytes("cmp/k"), startRevision: first.header?.revision });
    const created = await recvOne(s, "created");
    assert.equal(created.created, true);
    assert.equal(created.watchId, 0n);
    const r = await recvOne(s, "compacted response");
    assert.equal(r.watchId, 0n);
    assert.equal(r.canceled, true);
    assert.equal(r.compactRevision, compactRev);
    assert.equal(r.cancelReason, "");
    assert.equal(r.events.length, 0);
    assert.equal(r.header?.revision, 0n);
    await kv.put({ key: bytes("cmp/k"), value: bytes("3") });
    await expectQuiet(s, 300, "the compacted watcher is gone");
    s.close();
  });
});

describe("cancel and progress", () => {
  test("cancel → {watch_id, canceled}; no events after it; unknown id gets no reply", async () => {
    const s = openWatch(watch);
    s.create({ key: bytes("cnl/k") });
    assert.equal((await recvOne(s, "created")).watchId, 0n);
    await kv.put({ key: bytes("cnl/k"), value: bytes("1") });
    assert.equal((await recvEvents(s, 1))[0]?.watchId, 0n);
    s.cancel(0n);
    const c = await recvOne(s, "cancel response");
    assert.equal(c.watchId, 0n);
    assert.equal(c.canceled, true);
    assert.equal(c.created, false);
    assert.equal(c.events.length, 0);
    await kv.put({ key: bytes("cnl/k"), value: bytes("2") });
    await expectQuiet(s, 300, "events after cancel");
    s.cancel(42n);
    s.progress();
    const p = await recvOne(s, "progress after unknown cancel");
    assert.equal(p.watchId, -1n, "cancel of an unknown id gets no reply");
    assert.equal(p.canceled, false);
    s.close();
  });

  test("progress_request → watch_id -1, current revision, after the events already sent", async () => {
    const s = openWatch(watch);
    s.create({ key: bytes("prg/"), rangeEnd: prefixEnd("prg/") });
    await recvOne(s, "created");
    let last = 0n;
    for (let i = 0; i < 3; i++) {
      last = (await kv.put({ key: bytes(`prg/${i}`), value: bytes("v") })).header?.revision ?? 0n;
    }
    s.progress();
    const seen: WatchResponse[] = [];
    for (;;) {
      const r = await recvOne(s, "events then progress");
      seen.push(r);
      if (r.watchId === -1n) break;
    }
    const progress = seen.at(-1);
    assert.equal(progress?.header?.revision, last, "current revision");
    assert.equal(progress?.events.length, 0);
    assert.equal(progress?.created, false);
    assert.equal(progress?.canceled, false);
    assert.equal(
      seen.slice(0, -1).reduce((n, r) => n + r.events.length, 0),
      3,
      "all 3 events came before the progress response",
    );
    s.close();
  });
});

describe("scale", () => {
  test("2000 watchers on one stream each get exactly their event; abort frees them", async () => {
    const n = 2000;
    const key = (i: number) => `many/${String(i).padStart(5, "0")}`;
    const s = openWatch(watch);
    for (let i = 0; i < n; i++) s.create({ key: bytes(key(i)) });
    for (let i = 0; i < n; i++) {
      const r = await recvOne(s, `created #${i}`);
      assert.ok(r.created && !r.canceled && r.watchId === BigInt(i), `created #${i}`);
    }
    const ids = Array.from({ length: n }, (_, i) => i);
    await pool(ids, 64, (i) => kv.put({ key: bytes(key(i)), value: bytes(String(i)) }));
    const counts = new Map<bigint, number>();
    for (const r of await recvEvents(s, n, 20_000)) {
      for (const e of r.events) {
        const k = ev(e).key;
        assert.equal(k, key(Number(r.watchId)), "event delivered to the watcher of its key");
        counts.set(r.watchId, (counts.get(r.watchId) ?? 0) + 1);
      }
    }
    assert.equal(counts.size, n, "every watcher got an event");
    assert.ok(
      [...counts.values()].every((c) => c === 1),
      "exactly one each",
    );
    s.close();
    await sleep(200);
    // A new stream after the abort starts from id 0 and works.
    const s2 = openWatch(watch);
    s2.create({ key: bytes(key(5)) });
    assert.equal((await recvOne(s2, "created on a new stream")).watchId, 0n);
    await kv.put({ key: bytes(key(5)), value: bytes("again") });
    const got = (await recvEvents(s2, 1)).flatMap((r) => r.events.map(ev));
    assert.deepEqual(
      got.map((e) => [e.key, e.value]),
      [[key(5), "again"]],
    );
    await expectQuiet(s2, 200, "exactly one event");
    s2.close();
  });

  test("a slow consumer loses nothing: 3000 × 1 KiB puts, read afterwards, each revision once, in order", async () => {
    const n = 3000;
    const s = openWatch(watch);
    s.create({ key: bytes("slow/"), rangeEnd: prefixEnd("slow/") });
    await recvOne(s, "created");
    // Stop reading while writing.
    const value = new Uint8Array(1024).fill(120);
    const revs = await pool(
      Array.from({ length: n }, (_, i) => i),
      32,
      async (i) => (await kv.put({ key: bytes(`slow/${i % 100}`), value })).header?.revision ?? 0n,
    );
    revs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const got: bigint[] = [];
    for (const r of await recvEvents(s, n, 30_000)) {
      assert.equal(r.watchId, 0n);
      for (const e of r.events) {
        assert.equal(e.kv?.value.length, 1024);
        got.push(e.kv?.modRevision ?? 0n);
      }
    }
    assert.equal(got.length, n);
    assert.deepEqual(got, revs, "every revision exactly once, in order");
    await expectQuiet(s, 300, "no duplicates after the last event");
    s.close();
  });
});

/** The same etcdctl watch scenarios against conclave and a real etcd. */
async function etcdctlWatchScenarios(endpoint: string) {
  const out: Record<string, string> = {};

  // --prefix
  {
    const c = spawnEtcdctl(endpoint, ["watch", "--prefix", "ectl/p/"]);
    const mark = await awaitWatching(endpoint, c, "ectl/p/ready");
    put(endpoint, "ectl/p/a", "1");
    put(endpoint, "ectl/p/b", "2");
    put(endpoint, "ectl/q", "not watched");
    assert.equal(etcdctl(endpoint, ["del", "ectl/p/a"]).code, 0);
    await c.waitFor("DELETE\nectl/p/a\n\n");
    await sleep(100);
    out.prefix = c.stdout().slice(mark);
    await c.kill();
  }

  // --rev: history first, then live
  {
    const revs: number[] = [];
    for (const v of ["a", "b", "c"]) {
      const r = etcdctl(endpoint, ["put", "ectl/r", v, "-w", "json"]);
      revs.push(Number(/"revision":(\d+)/.exec(r.stdout)?.[1]));
    }
    const c = spawnEtcdctl(endpoint, ["watch", "ectl/r", `--rev=${revs[1]}`]);
    await c.waitFor("PUT\nectl/r\nc\n");
    put(endpoint, "ectl/r", "d");
    await c.waitFor("PUT\nectl/r\nd\n");
    out.rev = c.stdout();
    await c.kill();
  }

  // --prev-kv
  {
    put(endpoint, "ectl/pk/k", "old");
    const c = spawnEtcdctl(endpoint, ["watch", "--prefix", "ectl/pk/", "--prev-kv"]);
    const mark = await awaitWatching(endpoint, c, "ectl/pk/ready");
    put(endpoint, "ectl/pk/k", "new");
    assert.equal(etcdctl(endpoint, ["del", "ectl/pk/k"]).code, 0);
    await c.waitFor("DELETE\nectl/pk/k\nnew\nectl/pk/k\n\n");
    await sleep(100);
    out.prevKv = c.stdout().slice(mark);
    await c.kill();
  }

  // -i (interactive): the watch command comes on stdin, which stays open
  {
    const c = spawnEtcdctl(endpoint, ["watch", "-i"]);
    c.write("watch ectl/i\n");
    const mark = await awaitWatching(endpoint, c, "ectl/i");
    put(endpoint, "ectl/i", "v");
    await c.waitFor("PUT\nectl/i\nv\n");
    await sleep(100);
    out.interactive = c.stdout().slice(mark);
    await c.kill();
  }
  return out;
}

describe("etcdctl watch", () => {
  let etcd: RunningServer | undefined;
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.stop();
  });

  test("--prefix, --rev, --prev-kv and -i print the events, exactly as against etcd", async () => {
    const ours = await etcdctlWatchScenarios(server.endpoint);
    assert.equal(ours.prefix, "PUT\nectl/p/a\n1\nPUT\nectl/p/b\n2\nDELETE\nectl/p/a\n\n");
    assert.equal(ours.rev, "PUT\nectl/r\nb\nPUT\nectl/r\nc\nPUT\nectl/r\nd\n");
    assert.equal(
      ours.prevKv,
      "PUT\nectl/pk/k\nold\nectl/pk/k\nnew\nDELETE\nectl/pk/k\nnew\nectl/pk/k\n\n",
    );
    assert.equal(ours.interactive, "PUT\nectl/i\nv\n");
    assert.ok(etcd);
    const theirs = await etcdctlWatchScenarios(etcd.endpoint);
    assert.deepEqual(ours, theirs);
  });
});

/**
 * Runs `scenario` on a fresh stream and returns its responses with every
 * revision relative to the revision at the start (0 stays 0), and without
 * the header fields that name the cluster.
 */
async function runScenario(
  url: string,
  scenario: (s: WatchStream, kv: Client<typeof KV>) => Promise<WatchResponse[]>,
) {
  const c = startWatchClients(url);
  const base = await currentRev(c.kv);
  const rel = (r: bigint | undefined) =>
    r === undefined ? "none" : r === 0n ? "0" : `base${r - base >= 0n ? "+" : ""}${r - base}`;
  const s = openWatch(c.watch);
  try {
    const responses = await scenario(s, c.kv);
    return responses.map((r) => ({
      revision: rel(r.header?.revision),
      watchId: String(r.watchId),
      created: r.created,
      canceled: r.canceled,
      compactRevision: rel(r.compactRevision),
      cancelReason: r.cancelReason,
      fragment: r.fragment,
      events: r.events.map((e) => ({
        type: e.type,
        key: text(e.kv?.key ?? new Uint8Array()),
        value: text(e.kv?.value ?? new Uint8Array()),
        createRevision: rel(e.kv?.createRevision),
        modRevision: rel(e.kv?.modRevision),
        version: String(e.kv?.version),
        prevKv:
          e.prevKv === undefined
            ? undefined
            : { value: text(e.prevKv.value), modRevision: rel(e.prevKv.modRevision) },
      })),
    }));
  } finally {
    s.close();
  }
}

describe("watch responses equal real etcd's", () => {
  let etcd: RunningServer | undefined;
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.stop();
  });

  const compare = async (
    name: string,
    scenario: (s: WatchStream, kv: Client<typeof KV>) => Promise<WatchResponse[]>,
  ) => {
    assert.ok(etcd);
    const theirs = await runScenario(etcd.url, scenario);
    const ours = await runScenario(server.url, scenario);
    assert.deepEqual(ours, theirs, name);
    return ours;
  };

  const take = async (s: WatchStream, n: number) => {
    const out: WatchResponse[] = [];
    for (let i = 0; i < n; i++) out.push(await recvOne(s, `response ${i + 1} of ${n}`));
    await expectQuiet(s, 300, "no further responses");
    return out;
  };

  test("creates: auto and explicit ids, duplicate id, empty ranges", async () => {
    const got = await compare("creates", async (s) => {
      s.create({ key: bytes("d1/a") });
      s.create({ key: bytes("d1/b"), watchId: 5n });
      s.create({ key: bytes("d1/c") });
      s.create({ key: bytes("d1/d"), watchId: 5n });
      s.create({ key: bytes("d1/z"), rangeEnd: bytes("d1/a") });
      s.create({ key: bytes("d1/z"), rangeEnd: bytes("d1/z") });
      s.create({ key: bytes("d1/e") });
      return take(s, 7);
    });
    assert.deepEqual(
      got.map((r) => [r.watchId, r.created, r.canceled, r.cancelReason]),
      [
        ["0", true, false, ""],
        ["5", true, false, ""],
        ["1", true, false, ""],
        ["-1", true, true, "mvcc: duplicate watch ID provided on the WatchStream"],
        ["-1", true, true, "mvcc: watcher range is empty"],
        ["-1", true, true, "mvcc: watcher range is empty"],
        ["2", true, false, ""],
      ],
    );
  });

  test("events: txn, prev_kv, delete, cancel, progress", async () => {
    await compare("events", async (s, kv) => {
      s.create({ key: bytes("d2/"), rangeEnd: prefixEnd("d2/"), prevKv: true });
      const created = await recvOne(s, "created");
      await kv.txn({
        success: ["d2/c", "d2/a", "d2/b"].map((k) => ({
          request: { case: "requestPut" as const, value: { key: bytes(k), value: bytes("1") } },
        })),
      });
      await kv.put({ key: bytes("d2/a"), value: bytes("2") });
      await kv.deleteRange({ key: bytes("d2/"), rangeEnd: prefixEnd("d2/") });
      const events = await recvEvents(s, 7);
      s.progress();
      const progress = await recvOne(s, "progress");
      s.cancel(0n);
      const canceled = await recvOne(s, "canceled");
      s.cancel(9n);
      await kv.put({ key: bytes("d2/x"), value: bytes("after cancel") });
      s.progress();
      const rest = await take(s, 1);
      return [created, ...events, progress, canceled, ...rest];
    });
  });

  test("compacted start revision", async () => {
    const got = await compare("compacted", async (s, kv) => {
      const first = await kv.put({ key: bytes("d3/k"), value: bytes("1") });
      const second = await kv.put({ key: bytes("d3/k"), value: bytes("2") });
      await kv.compact({ revision: second.header?.revision ?? 0n, physical: true });
      s.create({ key: bytes("d3/k"), startRevision: first.header?.revision });
      const out = await take(s, 2);
      await kv.put({ key: bytes("d3/k"), value: bytes("3") });
      await expectQuiet(s, 300, "nothing after compaction");
      return out;
    });
    assert.equal(got[1]?.compactRevision, "base+2");
    assert.equal(got[1]?.canceled, true);
  });
});
