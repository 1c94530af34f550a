// The gateway's streaming calls run straight through the pipeline
// (gateway-stream.ts) unless `directStreams` is off, when they go through
// the in-process Connect client and router as before. Both must put the same
// bytes on the wire and count the same message bytes: this sends one table
// of stream requests to an app of each kind and compares status, headers
// (but Date) and body.
import * as assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import { Election, Lease, Maintenance, Watch } from "@conclave/proto";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { pino } from "pino";
import { assertSameAnswers, type RawRequest, useAppPair } from "../assert-same-answers.js";
import { type ConclaveApp, createApp } from "../create-app.js";
import { registerGateway } from "./create-gateway.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Never settles before the call's signal aborts; then rejects with its reason. */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

/** Watch handlers that ended after their client went away ("hold" watches). */
let holdsEnded = 0;

/**
 * Streams whose behaviour the request picks: a watch create's key says what
 * the handler does; once the body ends, each watch sends one event and ends
 * (a real watch stays open: a table needs answers that end).
 */
function routes(router: ConnectRouter) {
  router.service(Watch, {
    async *watch(requests, ctx) {
      let id = 0n;
      for await (const r of requests) {
        if (r.requestUnion.case !== "createRequest") continue;
        const key = decoder.decode(r.requestUnion.value.key);
        if (key === "compacted") {
          throw new ConnectError(
            "etcdserver: mvcc: required revision has been compacted",
            Code.OutOfRange,
          );
        }
        if (key === "plain") throw new Error("a plain error");
        if (key === "abort") throw new DOMException("stopped", "AbortError");
        if (key === "wait") await untilAborted(ctx.signal);
        if (key === "hold") {
          try {
            yield { watchId: id++, created: true };
            await untilAborted(ctx.signal);
          } finally {
            holdsEnded++;
          }
        }
        yield { header: { revision: 5n, clusterId: 1n }, watchId: id++, created: true };
        if (key === "token") {
          yield { watchId: id, cancelReason: ctx.requestHeader.get("authorization") ?? "-" };
        }
        if (key === "late")
          throw new ConnectError("etcdserver: permission denied", Code.PermissionDenied);
      }
      yield {
        header: { revision: 6n },
        watchId: 0n,
        events: [
          { kv: { key: encoder.encode("<k>"), value: encoder.encode("&"), modRevision: 6n } },
        ],
      };
    },
  });
  router.service(Lease, {
    async *leaseKeepAlive(requests) {
      for await (const r of requests) {
        if (r.ID === 404n)
          throw new ConnectError("etcdserver: requested lease not found", Code.NotFound);
        yield { header: { revision: 2n }, ID: r.ID, TTL: 10n };
      }
    },
  });
  router.service(Election, {
    async *observe(req) {
      yield { kv: { key: req.name, value: encoder.encode("a") } };
      yield { kv: { key: req.name, value: encoder.encode("b") } };
    },
  });
  router.service(Maintenance, {
    async *snapshot() {
      yield { remainingBytes: 3n, blob: encoder.encode("abc") };
      yield { remainingBytes: 0n, blob: encoder.encode("") };
    },
  });
}

const create = (key: string, extra = "") => `{"create_request":{"key":"${btoa(key)}"${extra}}}`;

const cases: RawRequest[] = [
  { name: "one create", path: "/v3/watch", body: create("foo") },
  { name: "two creates", path: "/v3/watch", body: `${create("a")}\n${create("b")}` },
  { name: "empty body", path: "/v3/watch", body: "" },
  { name: "malformed first", path: "/v3/watch", body: '{"create_request":' },
  { name: "not a message", path: "/v3/watch", body: '{"create_request":5}' },
  { name: "later value malformed", path: "/v3/watch", body: `${create("a")} {"x":` },
  { name: "too large first", path: "/v3/watch", body: create("k".repeat(300)) },
  { name: "too large later", path: "/v3/watch", body: `${create("a")}${create("k".repeat(300))}` },
  { name: "error first", path: "/v3/watch", body: create("compacted") },
  { name: "plain error", path: "/v3/watch", body: create("plain") },
  { name: "AbortError", path: "/v3/watch", body: create("abort") },
  { name: "error after a message", path: "/v3/watch", body: create("late") },
  { name: "token", path: "/v3/watch", body: create("token"), headers: { authorization: "t0k" } },
  {
    name: "metadata token",
    path: "/v3/watch",
    body: create("token"),
    headers: { "grpc-metadata-authorization": "m" },
  },
  { name: "bad timeout", path: "/v3/watch", body: create("a"), headers: { "grpc-timeout": "x" } },
  {
    name: "deadline before the first message",
    path: "/v3/watch",
    body: create("wait"),
    headers: { "grpc-timeout": "30m" },
  },
  {
    name: "deadline after a message",
    path: "/v3/watch",
    body: `${create("a")}${create("wait")}`,
    headers: { "grpc-timeout": "30m" },
  },
  { name: "keep-alives", path: "/v3/lease/keepalive", body: '{"ID":7}{"ID":"8"}' },
  { name: "keep-alive not found", path: "/v3/lease/keepalive", body: '{"ID":7}{"ID":404}' },
  { name: "observe (server stream)", path: "/v3/election/observe", body: '{"name":"ZQ=="}' },
  { name: "observe, empty body", path: "/v3/election/observe", body: "" },
  { name: "observe, malformed", path: "/v3/election/observe", body: "{" },
  { name: "snapshot", path: "/v3beta/maintenance/snapshot", body: "{}" },
];

/**
 * A call whose deadline has passed when it opens: the same answer, but its
 * request is not counted as received — the in-process client sent it to the
 * router before seeing the deadline; a gRPC client does not send it.
 */
const expired: RawRequest = {
  name: "expired",
  path: "/v3/watch",
  body: create("a"),
  headers: { "grpc-timeout": "1n" },
};

async function start(directStreams: boolean): Promise<{ app: ConclaveApp; url: string }> {
  const app = createApp({ routes, logger: pino({ level: "silent" }), readMaxBytes: 256 });
  registerGateway(app, { directStreams });
  const [url] = await app.listen(["http://127.0.0.1:0"]);
  assert.ok(url);
  return { app, url };
}

describe("gateway streams straight through the pipeline", () => {
  const apps = useAppPair(start);

  it("answer as through the in-process client, byte for byte", async () => {
    const { direct, routed, urls } = apps();
    await assertSameAnswers(urls, cases);
    // The same message bytes counted each way, as a gRPC hop would count them.
    assert.deepEqual(direct.app.pipeline.traffic, routed.app.pipeline.traffic);
    assert.ok(direct.app.pipeline.traffic.sentBytes > 0);
    await assertSameAnswers(urls, [expired]);
  });

  it("answer as through the in-process client over HTTP/2", () =>
    assertSameAnswers(apps().urls, [...cases, expired], {
      http2: true,
    }));
});

describe("a gateway stream whose client goes away", () => {
  let direct: { app: ConclaveApp; url: string };
  before(async () => {
    direct = await start(true);
  });
  after(() => direct.app.close(0));

  it("ends its handler (the handler's finally runs)", async () => {
    const before = holdsEnded;
    await new Promise<void>((resolve, reject) => {
      const req = request(`${direct.url}/v3/watch`, { method: "POST" }, (res) => {
        res.once("data", () => {
          req.destroy();
          resolve();
        });
      });
      req.on("error", () => {});
      req.setTimeout(5000, () => reject(new Error("no created line")));
      req.end(create("hold"));
    });
    for (let i = 0; i < 100 && holdsEnded === before; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(holdsEnded, before + 1);
  });
});
