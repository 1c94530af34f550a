import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import {
  conclaveWatch,
  Watch,
  type WatchRequest,
  WatchRequestSchema,
  type WatchResponse,
} from "@conclave/proto";
import { createHandlerContext } from "@connectrpc/connect";
import { closeServerContext, openServerContext, type ServerContext } from "./server-context.js";
import { createWatchService } from "./watch-service.js";
import { createWatchStreamService } from "./watch-stream-service.js";

const enc = new TextEncoder();
const b = (s: string) => enc.encode(s);
const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));
// The hub's catch-up timer is unref'd; keep this in-process test alive while it waits.
const keepAlive = setInterval(() => {}, 1000);

let ctx: ServerContext;
before(async () => {
  ctx = await openServerContext({ dataDir: ":memory:" });
});
after(async () => {
  clearInterval(keepAlive);
  await closeServerContext(ctx);
});

const put = (key: string, value: Uint8Array) =>
  ctx.kv.put({
    key: b(key),
    value,
    lease: 0n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  });

/** A handler context whose request signal the test aborts, as a client reset does. */
function callContext(service: typeof Watch | typeof conclaveWatch.WatchService) {
  const client = new AbortController();
  const method = service.methods[0];
  assert.ok(method);
  const hctx = createHandlerContext({
    service,
    method,
    protocolName: "grpc",
    requestMethod: "POST",
    url: `http://127.0.0.1/${service.typeName}/${method.name}`,
    requestSignal: client.signal,
  });
  return { hctx, goAway: () => client.abort() };
}

/** Requests that never end: the client keeps the stream open and never half-closes. */
async function* openRequests(...first: WatchRequest[]): AsyncGenerator<WatchRequest> {
  yield* first;
  await new Promise(() => {});
}

const createReq = (key: string, rangeEnd: string) =>
  create(WatchRequestSchema, {
    requestUnion: { case: "createRequest", value: { key: b(key), rangeEnd: b(rangeEnd) } },
  });

describe("etcdserverpb.Watch and conclave.v1 Watch: slow and vanished clients", () => {
  it("a client that goes away while its stream is paused at yield frees its watchers at once", async () => {
    const before = ctx.hub.watcherCount();
    const cases = [
      () => {
        const { hctx, goAway } = callContext(conclaveWatch.WatchService);
        const req = create(conclaveWatch.WatchRequestSchema, { key: b("gone/"), prefix: true });
        const stream = createWatchStreamService(ctx).watch(req, hctx);
        return { stream, goAway };
      },
      () => {
        const { hctx, goAway } = callContext(Watch);
        const watch = createWatchService(ctx).watch;
        assert.ok(watch);
        const stream = watch(openRequests(createReq("gone/", "gone0")), hctx);
        return { stream, goAway };
      },
    ];
    for (const start of cases) {
      const { stream, goAway } = start();
      const it = (stream as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      await it.next(); // created; from now on nobody reads (a stopped client)
      await tick();
      assert.equal(ctx.hub.watcherCount(), before + 1);
      for (let i = 0; i < 5; i++) await put("gone/k", new Uint8Array(1024));
      goAway();
      // Nothing resumes the paused generator, yet the watcher is gone.
      assert.equal(ctx.hub.watcherCount(), before);
    }
  });

  it("past its byte limit a stream stops queuing live events and later catches up, losing nothing", async () => {
    const watch = createWatchService(ctx, { backlog: { maxBytes: 3000 } }).watch;
    assert.ok(watch);
    const { hctx, goAway } = callContext(Watch);
    const it = watch(openRequests(createReq("slow/", "slow0")), hctx)[Symbol.asyncIterator]();
    const created = (await it.next()).value as WatchResponse;
    assert.equal(created.created, true);
    await tick();
    // 10 revisions of 1 KiB while nobody reads: about 3 fit under the limit.
    const revs: number[] = [];
    for (let i = 0; i < 10; i++) {
      revs.push(Number((await put(`slow/${i}`, new Uint8Array(1024))).header.revision));
    }
    const got: number[] = [];
    let responses = 0;
    while (got.length < revs.length) {
      const r = (await it.next()).value as WatchResponse;
      responses++;
      for (const e of r.events) got.push(Number(e.kv?.modRevision));
    }
    assert.deepEqual(got, revs);
    // Queued one response per revision, everything would take 10; the catch-up joins revisions.
    assert.ok(responses < revs.length, `${responses} responses for ${revs.length} revisions`);
    goAway();
  });
});
