// Unary gRPC-Web calls served beside Connect's router
// (grpc-web-unary-fast-path.ts) must put the same bytes on the wire as
// Connect's gRPC-Web handler: one table of requests to an app with and an
// app without the path, over HTTP/1.1 keep-alive and over HTTP/2.
import * as assert from "node:assert/strict";
import { Agent } from "node:http";
import { describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { KV, PutRequestSchema, RangeRequestSchema, TxnRequestSchema } from "@conclave/proto";
import { maxMessageDepth, maxTxnNesting } from "@conclave/server";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { pino } from "pino";
import {
  assertSameAnswers,
  type RawRequest,
  sendHttp1,
  useAppPair,
} from "./assert-same-answers.js";
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
    txn(req, ctx) {
      // How deep the txn that reached the handler nests (a deep one arrives cut).
      let depth = 1;
      for (let t = req; t.success[0]?.request.case === "requestTxn"; depth++) {
        t = t.success[0].request.value;
      }
      ctx.responseHeader.set("x-depth", String(depth));
      return { succeeded: true };
    },
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
const txnPath = "/etcdserverpb.KV/Txn";
const varint = (n: number) => {
  const out: number[] = [];
  let v = n;
  for (; v >= 0x80; v >>>= 7) out.push((v & 0x7f) | 0x80);
  out.push(v);
  return Buffer.from(out);
};
/** A binary TxnRequest nested `levels` deep: success[0] (field 2) is a RequestOp whose request_txn (field 4) is the next. */
const deepTxn = (levels: number) => {
  let t = Buffer.alloc(0);
  for (let i = 1; i < levels; i++) {
    const op = Buffer.concat([Buffer.from([0x22]), varint(t.length), t]);
    t = Buffer.concat([Buffer.from([0x12]), varint(op.length), op]);
  }
  return t;
};
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
  call("txn", envelope(toBinary(TxnRequestSchema, create(TxnRequestSchema))), {}, txnPath),
  call("bad txn", envelope(Buffer.from([0xff])), {}, txnPath),
  call("txn over readMaxBytes", envelope(Buffer.alloc(300)), {}, txnPath),
  call("unknown method", envelope(range("foo")), {}, "/etcdserverpb.KV/Nope"),
  { ...call("GET (Connect's)", new Uint8Array()), method: "GET" },
];

/** Calls the direct path took. */
let served = 0;

async function start(
  fastPath: boolean,
  readMaxBytes = 256,
): Promise<{ app: ConclaveApp; url: string }> {
  const app = createApp({
    routes,
    logger: pino({ level: "silent" }),
    readMaxBytes,
    // As the server: a txn etcd would run decodes (a cut one too).
    recursionLimit: maxMessageDepth,
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

/** KV/Txn bodies the edge holds and cuts (deep-txn-body.ts), under a limit that lets a deep txn in. */
const txnRequests: RawRequest[] = [
  call("deep txn", envelope(deepTxn(600)), {}, txnPath),
  call(
    "deep txn, a second envelope",
    Buffer.concat([envelope(deepTxn(600)), envelope(range("a"))]),
    {},
    txnPath,
  ),
  call("deep txn, cut", envelope(deepTxn(600)).subarray(0, 3000), {}, txnPath),
  call("bad long txn", envelope(Buffer.alloc(3000, 0xff)), {}, txnPath),
  call("txn over readMaxBytes", envelope(deepTxn(20_000)), {}, txnPath),
  call("txn after a refusal", envelope(deepTxn(3)), {}, txnPath),
  call("txn, bad timeout", envelope(deepTxn(3)), { "grpc-timeout": "x" }, txnPath),
];

describe("gRPC-Web unary calls beside the router", () => {
  const apps = useAppPair(start);

  it("answer as Connect does over HTTP/1.1, byte for byte, keeping the connection alike", () =>
    assertSameAnswers(apps().urls, requests));

  it("answer as Connect does over HTTP/2", () =>
    assertSameAnswers(apps().urls, requests, { http2: true }));

  it("take the calls they serve and leave the rest to Connect", async () => {
    const before = served;
    await assertSameAnswers(apps().urls, [
      call("range", envelope(range("foo"))),
      call("gzip (Connect's)", envelope(range("foo")), { "grpc-encoding": "gzip" }),
    ]);
    assert.equal(served - before, 1);
  });
});

describe("gRPC-Web KV/Txn calls beside the router", () => {
  const apps = useAppPair((direct) => start(direct, 64 * 1024));

  for (const http2 of [false, true]) {
    it(`answer as Connect's edge and handler do over HTTP/${http2 ? 2 : 1.1}`, () =>
      assertSameAnswers(apps().urls, txnRequests, { http2 }));
  }

  it("hand the handler a deep txn cut to what validation reads (level 513 emptied)", async () => {
    const agent = new Agent();
    try {
      const before = served;
      const answer = await sendHttp1(apps().direct.url, agent, txnRequests[0] as RawRequest);
      assert.equal(served, before + 1);
      assert.deepEqual(
        answer.headers.find(([name]) => name === "x-depth"),
        ["x-depth", String(maxTxnNesting + 1)],
      );
    } finally {
      agent.destroy();
    }
  });
});
