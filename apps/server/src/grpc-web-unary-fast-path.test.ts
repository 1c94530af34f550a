// Unary gRPC-Web calls served beside Connect's router
// (grpc-web-unary-fast-path.ts) must put the same bytes on the wire as
// Connect's gRPC-Web handler: one table of requests to an app with and an
// app without the path, over HTTP/1.1 keep-alive and over HTTP/2.
import * as assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { KV, PutRequestSchema, RangeRequestSchema, TxnRequestSchema } from "@conclave/proto";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { pino } from "pino";
import { assertSameAnswers, type RawRequest } from "./assert-same-answers.js";
import { registerCors } from "./cors.js";
import { type ConclaveApp, createApp } from "./create-app.js";
import { envelope } from "./grpc-test-call.js";
import { createGrpcWebUnaryFastPath } from "./grpc-web-unary-fast-path.js";
import { verifiedPeerCommonName } from "./tls-peer-identity.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Range answers by key: errors of each kind, headers and trailers, the token it was sent. */
function routes(router: ConnectRouter) {
  router.service(KV, {
    async range(req, ctx) {
      const key = decoder.decode(req.key);
      if (key === "missing") throw new ConnectError("etcdserver: key not found", Code.NotFound);
      if (key === "unicode") throw new ConnectError("ключ: 100% «нет»", Code.FailedPrecondition);
      if (key === "meta") {
        throw new ConnectError("with metadata", Code.FailedPrecondition, { "x-why": "because" });
      }
      if (key === "plain") throw new Error("a plain error");
      if (key === "wait") {
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        throw ctx.signal.reason;
      }
      if (key === "trailers") {
        ctx.responseHeader.set("x-h", "1");
        ctx.responseTrailer.set("x-t", "2");
      }
      const token = ctx.requestHeader.get("authorization") ?? "-";
      return { kvs: [{ key: req.key, value: encoder.encode(token) }], count: 1n };
    },
    put: () => ({}),
    txn: () => ({ succeeded: true }),
  });
}

/** A layer that refuses a token as etcd's auth does: the layers run on both paths. */
const auth: Interceptor = (next) => (req) => {
  if (req.header.get("authorization") === "bad") {
    throw new ConnectError("etcdserver: invalid auth token", Code.Unauthenticated);
  }
  return next(req);
};

const proto = "application/grpc-web+proto";
const range = (key: string, limit = 0n) =>
  toBinary(RangeRequestSchema, create(RangeRequestSchema, { key: encoder.encode(key), limit }));
const call = (
  name: string,
  body: Uint8Array,
  headers: Record<string, string> = {},
  path = "/etcdserverpb.KV/Range",
): RawRequest => ({
  name,
  path,
  headers: { "content-type": proto, "x-grpc-web": "1", ...headers },
  body,
});
const header = (flags: number, size: number) => {
  const b = Buffer.alloc(5);
  b[0] = flags;
  b.writeUInt32BE(size, 1);
  return b;
};

const requests: RawRequest[] = [
  call("range", envelope(range("foo"))),
  call("bare content type", envelope(range("foo")), { "content-type": "application/grpc-web" }),
  call("allowed origin", envelope(range("foo")), { origin: "https://a.example" }),
  call("other origin", envelope(range("foo")), { origin: "https://b.example" }),
  call("token", envelope(range("foo")), { authorization: "t0k" }),
  call("refused by a layer", envelope(range("foo")), { authorization: "bad" }),
  call("NotFound", envelope(range("missing"))),
  call("message to encode", envelope(range("unicode"))),
  call("metadata", envelope(range("meta"))),
  call("plain error", envelope(range("plain"))),
  call("headers and trailers", envelope(range("trailers"))),
  call(
    "put",
    envelope(toBinary(PutRequestSchema, create(PutRequestSchema))),
    {},
    "/etcdserverpb.KV/Put",
  ),
  call("empty body", new Uint8Array()),
  call("cut header", header(0, 4).subarray(0, 3)),
  call("cut message", Buffer.concat([header(0, 40), Buffer.from(range("foo"))])),
  call("bad message", envelope(Buffer.from([0xff, 0xff]))),
  call("two messages", Buffer.concat([envelope(range("a")), envelope(range("b"))])),
  call(
    "a bad second message",
    Buffer.concat([envelope(range("a")), envelope(Buffer.from([0xff]))]),
  ),
  call("extra bytes", Buffer.concat([envelope(range("a")), Buffer.from([0, 0])])),
  call(
    "trailer envelope first",
    Buffer.concat([envelope(encoder.encode("x: y\r\n"), 0x80), envelope(range("a"))]),
  ),
  call("only a trailer envelope", envelope(encoder.encode("x: y\r\n"), 0x80)),
  call("compressed", envelope(range("a"), 1)),
  call("compressed trailer", envelope(range("a"), 0x81)),
  call("header over readMaxBytes", Buffer.concat([envelope(range("a")), header(0, 1000)])),
  // on a new connection (the answer above closed it)
  call("bad timeout", envelope(range("a")), { "grpc-timeout": "soon" }),
  // on a reused one
  call("bad timeout again", envelope(range("a")), { "grpc-timeout": "soon" }),
  call("message over readMaxBytes", envelope(range("k".repeat(300)))),
  call("deadline", envelope(range("wait")), { "grpc-timeout": "20m" }),
  call("passing deadline", envelope(range("foo")), { "grpc-timeout": "5S" }),
  call("identity encoding", envelope(range("foo")), { "grpc-encoding": "identity" }),
  // Connect's own, on both apps:
  call("gzip (Connect's)", envelope(range("foo")), { "grpc-encoding": "gzip" }),
  call("JSON (Connect's)", envelope(encoder.encode('{"key":"Zm9v"}')), {
    "content-type": "application/grpc-web+json",
  }),
  call("text (Connect's)", Buffer.from(envelope(range("foo")).toString("base64")), {
    "content-type": "application/grpc-web-text",
  }),
  call(
    "txn (Connect's)",
    envelope(toBinary(TxnRequestSchema, create(TxnRequestSchema))),
    {},
    "/etcdserverpb.KV/Txn",
  ),
  call("unknown method", envelope(range("foo")), {}, "/etcdserverpb.KV/Nope"),
  { ...call("GET (Connect's)", new Uint8Array()), method: "GET" },
];

/** Calls the direct path took. */
let served = 0;

async function start(fastPath: boolean): Promise<{ app: ConclaveApp; url: string }> {
  const app = createApp({
    routes,
    logger: pino({ level: "silent" }),
    readMaxBytes: 256,
    interceptors: [auth],
  });
  const cors = registerCors(app.app, { allowedOrigins: ["https://a.example"] });
  if (fastPath) {
    const path = createGrpcWebUnaryFastPath({
      pipeline: app.pipeline,
      peerCommonName: verifiedPeerCommonName,
      cors,
    });
    app.serveFirst((req, res) => {
      const taken = path(req, res);
      if (taken) served++;
      return taken;
    });
  }
  const [url] = await app.listen(["http://127.0.0.1:0"]);
  assert.ok(url);
  return { app, url };
}

describe("gRPC-Web unary calls beside the router", () => {
  let direct: { app: ConclaveApp; url: string };
  let routed: { app: ConclaveApp; url: string };
  before(async () => {
    [direct, routed] = await Promise.all([start(true), start(false)]);
  });
  after(() => Promise.all([direct.app.close(0), routed.app.close(0)]));

  it("answer as Connect does over HTTP/1.1, byte for byte, keeping the connection alike", () =>
    assertSameAnswers({ direct: direct.url, routed: routed.url }, requests));

  it("answer as Connect does over HTTP/2", () =>
    assertSameAnswers({ direct: direct.url, routed: routed.url }, requests, { http2: true }));

  it("take the calls they serve and leave the rest to Connect", async () => {
    const before = served;
    await assertSameAnswers({ direct: direct.url, routed: routed.url }, [
      call("range", envelope(range("foo"))),
      call("gzip (Connect's)", envelope(range("foo")), { "grpc-encoding": "gzip" }),
    ]);
    assert.equal(served - before, 1);
  });
});
