import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { conclaveWatch, Event_EventType, KV, Lease, LeaseService } from "@conclave/proto";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { createConclaveLeaseService } from "./conclave-lease-service.js";
import { errorInterceptor } from "./error-interceptor.js";
import { createKvService } from "./kv-service.js";
import { createLeaseService } from "./lease-service.js";
import { closeServerContext, openServerContext, type ServerContext } from "./server-context.js";
import { createWatchStreamService } from "./watch-stream-service.js";

type WatchResponse = conclaveWatch.WatchResponse;
const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (s: string) => enc.encode(s);
const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

let ctx: ServerContext;
let watch: ReturnType<typeof createClient<typeof conclaveWatch.WatchService>>;
let slowWatch: ReturnType<typeof createClient<typeof conclaveWatch.WatchService>>;
let kv: ReturnType<typeof createClient<typeof KV>>;
let lease: ReturnType<typeof createClient<typeof Lease>>;
let leaseService: ReturnType<typeof createClient<typeof LeaseService>>;
// The hub's catch-up timer is unref'd (a real server has sockets keeping the
// process up); keep this in-process test alive while it waits on streams.
const keepAlive = setInterval(() => {}, 1000);

before(async () => {
  ctx = await openServerContext({ dataDir: ":memory:" });
  const t = createRouterTransport(
    (router) => {
      router.service(KV, createKvService(ctx));
      router.service(Lease, createLeaseService(ctx));
      router.service(LeaseService, createConclaveLeaseService(ctx));
      router.service(conclaveWatch.WatchService, createWatchStreamService(ctx));
    },
    { router: { interceptors: [errorInterceptor] } },
  );
  // A second service instance with a tiny queue, for the slow-consumer case.
  const slow = createRouterTransport((router) => {
    router.service(
      conclaveWatch.WatchService,
      createWatchStreamService(ctx, { backlog: { maxResponses: 4 } }),
    );
  });
  watch = createClient(conclaveWatch.WatchService, t);
  slowWatch = createClient(conclaveWatch.WatchService, slow);
  kv = createClient(KV, t);
  lease = createClient(Lease, t);
  leaseService = createClient(LeaseService, t);
});
after(async () => {
  clearInterval(keepAlive);
  assert.equal(ctx.hub.watcherCount(), 0, "every stream's watcher was removed");
  await closeServerContext(ctx);
});

const put = async (key: string, value = "v") =>
  Number((await kv.put({ key: b(key), value: b(value) })).header?.revision);
const del = async (key: string) => Number((await kv.deleteRange({ key: b(key) })).header?.revision);

/** Reads a stream to its end (or until `stopAfter` messages), as short strings. */
async function collect(stream: AsyncIterable<WatchResponse>, stopAfter = Number.POSITIVE_INFINITY) {
  const out: WatchResponse[] = [];
  for await (const m of stream) {
    out.push(m);
    if (out.length >= stopAfter) break;
  }
  return out;
}
/**
 * Opens a stream that `close()` cancels. Returning the client's iterator
 * does not reach the handler through createRouterTransport; aborting does.
 */
function open(req: Parameters<typeof watch.watch>[0], client = watch) {
  const abort = new AbortController();
  const it = client.watch(req, { signal: abort.signal })[Symbol.asyncIterator]();
  return {
    next: async () => (await it.next()).value as WatchResponse,
    close: () => abort.abort(),
  };
}
const describeEvents = (ms: WatchResponse[]) =>
  ms.flatMap((m) =>
    m.events.map(
      (e) =>
        `${e.type === Event_EventType.PUT ? "put" : "del"}:${dec.decode(e.kv?.key)}@${e.kv?.modRevision}`,
    ),
  );

describe("conclave.v1.WatchService", () => {
  it("replays history from start_revision and ends by itself after end_revision", async () => {
    const r1 = await put("h/a", "1");
    await put("other");
    const r3 = await put("h/b", "2");
    const r4 = await del("h/a");
    await put("h/c"); // after end_revision: never delivered
    const msgs = await collect(
      watch.watch({
        key: b("h/"),
        prefix: true,
        startRevision: BigInt(r1),
        endRevision: BigInt(r4),
      }),
    );
    assert.equal(msgs[0]?.created, true);
    assert.equal(msgs[0]?.revision, BigInt(r1 - 1));
    assert.deepEqual(describeEvents(msgs), [`put:h/a@${r1}`, `put:h/b@${r3}`, `del:h/a@${r4}`]);
    assert.equal(msgs.at(-1)?.revision, BigInt(r4));
  });

  it("streams live events with prev_kv and filters, and each message says how far it got", async () => {
    await put("f/x", "old");
    const it = open({ key: b("f/"), prefix: true, prevKv: true, noDelete: true });
    const created = await it.next();
    assert.equal(created.created, true);
    assert.equal(created.revision, BigInt(ctx.store.durableRev()));
    const r1 = await put("f/x", "new");
    await del("f/x");
    const r3 = await put("f/y");
    const m1 = await it.next();
    const m2 = await it.next();
    assert.deepEqual(describeEvents([m1, m2]), [`put:f/x@${r1}`, `put:f/y@${r3}`]);
    assert.equal(dec.decode(m1.events[0]?.prevKv?.value), "old");
    assert.equal(m1.revision, BigInt(r1));
    assert.equal(m2.revision, BigInt(r3));
    it.close();
  });

  it("ends when end_revision passes through writes outside the watched range", async () => {
    const rev = ctx.store.durableRev();
    const stream = watch.watch({ key: b("quiet"), endRevision: BigInt(rev + 2) });
    const done = collect(stream);
    await put("noise1");
    await put("noise2");
    const msgs = await done;
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0]?.created, true);
  });

  it("an end_revision already reached ends right after created", async () => {
    const msgs = await collect(watch.watch({ key: b("k"), endRevision: 1n }));
    assert.deepEqual(
      msgs.map((m) => m.created),
      [true],
    );
  });

  it("sends progress notifications carrying the current revision while idle", async () => {
    const it = open({ key: b("idle"), progressIntervalMs: 50 });
    await it.next(); // created
    const r = await put("elsewhere");
    const p = await it.next();
    assert.equal(p.events.length, 0);
    assert.equal(p.created, false);
    assert.equal(p.compactRevision, 0n);
    assert.equal(p.revision, BigInt(r));
    it.close();
  });

  it("reports compaction as a message, then ends with OK", async () => {
    const r1 = await put("c/k", "1");
    await put("c/k", "2");
    const r3 = await put("c/k", "3");
    await kv.compact({ revision: BigInt(r3), physical: true });
    const msgs = await collect(watch.watch({ key: b("c/k"), startRevision: BigInt(r1) }));
    assert.equal(msgs.length, 2);
    assert.equal(msgs[1]?.compactRevision, BigInt(r3));
    assert.equal(msgs[1]?.events.length, 0);
    // At the compaction revision itself history is still there.
    const ok = await collect(
      watch.watch({ key: b("c/k"), startRevision: BigInt(r3), endRevision: BigInt(r3) }),
    );
    assert.deepEqual(describeEvents(ok), [`put:c/k@${r3}`]);
  });

  it("a slow reader catches up from history without loss or duplicates", async () => {
    const start = ctx.store.durableRev() + 1;
    const it = open({ key: b("s/"), prefix: true }, slowWatch);
    await it.next();
    const revs: number[] = [];
    for (let i = 0; i < 40; i++) revs.push(await put(`s/${i % 3}`, `${i}`));
    const seen: number[] = [];
    let last = start - 1;
    let caughtUp = false;
    while (seen.length < revs.length) {
      const m = await it.next();
      // Live messages hold one revision; catch-up batches hold several.
      if (new Set(m.events.map((e) => e.kv?.modRevision)).size > 1) caughtUp = true;
      for (const e of m.events) seen.push(Number(e.kv?.modRevision));
      assert.ok(Number(m.revision) >= last, "revision never goes back");
      last = Number(m.revision);
      await tick(2);
    }
    assert.deepEqual(seen, revs);
    assert.ok(caughtUp, "the watcher fell behind and caught up from history");
    it.close();
  });

  it("refuses bad requests with InvalidArgument", async () => {
    const bad = [
      { key: b("a"), rangeEnd: b("b"), prefix: true },
      { key: b("b"), rangeEnd: b("a") },
      { key: b("a"), startRevision: 5n, endRevision: 4n },
    ];
    for (const req of bad) {
      await assert.rejects(collect(watch.watch(req)), (e: unknown) => {
        return e instanceof ConnectError && e.code === Code.InvalidArgument;
      });
    }
  });
});

describe("conclave.v1.LeaseService", () => {
  it("KeepAliveOnce renews a lease and answers ttl 0 for unknown leases", async () => {
    const g = await lease.leaseGrant({ TTL: 30n });
    const r = await leaseService.keepAliveOnce({ id: g.ID });
    assert.equal(r.id, g.ID);
    assert.equal(r.ttl, 30n);
    assert.ok(r.revision > 0n);
    await lease.leaseRevoke({ ID: g.ID });
    assert.equal((await leaseService.keepAliveOnce({ id: g.ID })).ttl, 0n);
    assert.equal((await leaseService.keepAliveOnce({ id: 12345n })).ttl, 0n);
  });
});
