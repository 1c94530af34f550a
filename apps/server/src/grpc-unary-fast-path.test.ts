import * as assert from "node:assert/strict";
import * as http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { Lock, LockRequestSchema, Watch } from "@conclave/proto";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { pino } from "pino";
import { createCallPipeline } from "./call-pipeline.js";
import { type ConclaveApp, createApp } from "./create-app.js";
import { envelope, grpcCall, perKind, serverKinds } from "./grpc-test-call.js";
import { createGrpcUnaryFastPath } from "./grpc-unary-fast-path.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

const lockRequest = (name: string) =>
  toBinary(LockRequestSchema, create(LockRequestSchema, { name: enc.encode(name), lease: 7n }));

/**
 * A Lock service whose answers depend on the name: "ok" answers the token
 * header as the key, "fail" throws a ConnectError, "crash" a plain Error,
 * "wait" waits for ctx.signal and records why it aborted.
 */
function testRoutes(aborts: unknown[]) {
  return (router: ConnectRouter) => {
    router.service(Lock, {
      async lock(req, ctx) {
        const name = dec.decode(req.name);
        if (name === "fail") throw new ConnectError("etcdserver: no: such thing", Code.NotFound);
        if (name === "crash") throw new Error("secret detail");
        if (name === "wait") {
          await new Promise<void>((resolve) => {
            ctx.signal.addEventListener("abort", () => resolve(), { once: true });
          });
          aborts.push(ctx.signal.reason);
          throw ctx.signal.reason;
        }
        ctx.responseHeader.set("x-answered-by", "lock");
        ctx.responseTrailer.set("x-trailer", "t");
        return { key: enc.encode(`${name}:${ctx.requestHeader.get("token") ?? ""}`) };
      },
    });
  };
}

describe("gRPC unary fast path", () => {
  const apps: ConclaveApp[] = [];
  const urls = perKind(() => "");
  const seenByInterceptor = perKind((): string[] => []);
  const aborts = perKind((): unknown[] => []);

  before(async () => {
    for (const kind of serverKinds) {
      const interceptor: Interceptor = (next) => async (req) => {
        seenByInterceptor[kind].push(req.method.name);
        return next(req);
      };
      const app = createApp({
        routes: testRoutes(aborts[kind]),
        logger: pino({ level: "silent" }),
        interceptors: [interceptor],
        readMaxBytes: 64,
        grpcDirectPaths: kind !== "connect",
        // "engine": the same paths over the gRPC engine's frames (grpc-engine/).
        grpcEngine: kind === "engine",
      });
      const [url] = await app.listen(["http://127.0.0.1:0"]);
      urls[kind] = url as string;
      apps.push(app);
    }
  });
  after(async () => {
    for (const a of apps) await a.close(0);
  });

  // Each case: the request, and what the client must see from both paths.
  const cases: {
    name: string;
    path?: string;
    body: Buffer;
    headers?: Record<string, string>;
    grpcStatus: string;
    grpcMessage?: string;
  }[] = [
    {
      name: "an answer, with request headers seen by the handler",
      body: envelope(lockRequest("ok")),
      headers: { token: "tok" },
      grpcStatus: "0",
    },
    {
      name: "a handler's ConnectError",
      body: envelope(lockRequest("fail")),
      grpcStatus: String(Code.NotFound),
      grpcMessage: "etcdserver: no: such thing",
    },
    {
      name: "a plain Error hides its text",
      body: envelope(lockRequest("crash")),
      grpcStatus: String(Code.Internal),
      grpcMessage: "internal error",
    },
    {
      name: "an empty body",
      body: Buffer.alloc(0),
      grpcStatus: String(Code.Unimplemented),
      grpcMessage: "protocol error: missing input message for unary method",
    },
    {
      name: "a cut-off envelope",
      body: envelope(lockRequest("ok")).subarray(0, 8),
      grpcStatus: String(Code.InvalidArgument),
      grpcMessage: "protocol error: incomplete envelope",
    },
    {
      name: "two messages",
      body: Buffer.concat([envelope(lockRequest("ok")), envelope(lockRequest("ok"))]),
      grpcStatus: String(Code.Unimplemented),
      grpcMessage: "protocol error: received extra input message for unary method",
    },
    {
      name: "a message and a cut-off second one",
      body: Buffer.concat([
        envelope(lockRequest("ok")),
        envelope(lockRequest("ok")).subarray(0, 7),
      ]),
      grpcStatus: String(Code.InvalidArgument),
      grpcMessage: "protocol error: incomplete envelope",
    },
    {
      name: "a message and a malformed second one",
      body: Buffer.concat([envelope(lockRequest("ok")), envelope(Buffer.from([0x0a, 0x7f]))]),
      grpcStatus: String(Code.Internal),
    },
    {
      name: "a malformed message and an oversize second one: sizes first",
      body: Buffer.concat([envelope(Buffer.from([0x0a, 0x7f])), envelope(Buffer.alloc(100))]),
      grpcStatus: String(Code.ResourceExhausted),
      grpcMessage: "grpc: received message larger than max (100 vs. 64)",
    },
    {
      name: "a message and an oversize second one",
      body: Buffer.concat([envelope(lockRequest("ok")), envelope(Buffer.alloc(100))]),
      grpcStatus: String(Code.ResourceExhausted),
      grpcMessage: "grpc: received message larger than max (100 vs. 64)",
    },
    {
      name: "a compressed flag without grpc-encoding",
      body: envelope(lockRequest("ok"), 1),
      grpcStatus: String(Code.Internal),
      grpcMessage: "received compressed envelope, but do not know how to decompress",
    },
    {
      name: "malformed protobuf",
      body: envelope(Buffer.from([0x0a, 0x7f, 0x01])),
      grpcStatus: String(Code.Internal),
    },
    {
      name: "a message over readMaxBytes, in grpc-go's words",
      body: envelope(lockRequest("x".repeat(100))),
      grpcStatus: String(Code.ResourceExhausted),
      grpcMessage: "grpc: received message larger than max (104 vs. 64)",
    },
    {
      name: "a malformed grpc-timeout",
      body: envelope(lockRequest("ok")),
      headers: { "grpc-timeout": "soon" },
      grpcStatus: String(Code.InvalidArgument),
      grpcMessage: "protocol error: invalid grpc timeout value: soon",
    },
    {
      name: "a deadline passing while the handler waits",
      body: envelope(lockRequest("wait")),
      headers: { "grpc-timeout": "50m" },
      grpcStatus: String(Code.DeadlineExceeded),
      grpcMessage: "the operation timed out",
    },
    {
      name: "an unimplemented method",
      path: "/v3lockpb.Lock/Unlock",
      body: envelope(Buffer.alloc(0)),
      grpcStatus: String(Code.Unimplemented),
      grpcMessage: "v3lockpb.Lock.Unlock is not implemented",
    },
  ];

  for (const c of cases) {
    it(`answers ${c.name} exactly as Connect does`, async () => {
      const path = c.path ?? "/v3lockpb.Lock/Lock";
      const fast = await grpcCall(urls.fast, path, c.body, { headers: c.headers });
      const engine = await grpcCall(urls.engine, path, c.body, { headers: c.headers });
      const connect = await grpcCall(urls.connect, path, c.body, { headers: c.headers });
      assert.deepEqual(fast, connect);
      assert.deepEqual(engine, connect);
      assert.equal(fast.status, 200);
      assert.equal(fast.contentType, "application/grpc+proto");
      assert.equal(fast.grpcStatus, c.grpcStatus);
      if (c.grpcMessage !== undefined) {
        assert.equal(decodeURIComponent(fast.grpcMessage ?? ""), c.grpcMessage);
      }
    });
  }

  // Calls the direct paths leave to Connect and Fastify: on an engine
  // connection they go to Node's HTTP/2 server through the fallback link
  // (grpc-engine/node-fallback.ts) and must come back exactly as on Node's.
  const leftToNode: {
    name: string;
    path: string;
    body: Buffer;
    headers?: Record<string, string>;
  }[] = [
    {
      name: "an unknown method (Fastify's 404)",
      path: "/v3lockpb.Lock/Nope",
      body: envelope(lockRequest("ok")),
    },
    {
      name: "a gzip-compressed request",
      path: "/v3lockpb.Lock/Lock",
      body: envelope(gzipSync(lockRequest("ok")), 1),
      headers: { "grpc-encoding": "gzip" },
    },
    {
      name: "a compressed envelope that does not inflate (trailers-only)",
      path: "/v3lockpb.Lock/Lock",
      body: envelope(Buffer.from("not gzip"), 1),
      headers: { "grpc-encoding": "gzip" },
    },
  ];
  for (const c of leftToNode) {
    it(`relays ${c.name} from Node's server over an engine connection`, async () => {
      const options = c.headers === undefined ? {} : { headers: c.headers };
      const node = await grpcCall(urls.fast, c.path, c.body, options);
      const engine = await grpcCall(urls.engine, c.path, c.body, options);
      assert.deepEqual(engine, node);
    });
  }

  it("answers with the handler's key, response headers and trailers", async () => {
    const seen = await grpcCall(urls.fast, "/v3lockpb.Lock/Lock", envelope(lockRequest("ok")), {
      headers: { token: "tok" },
    });
    assert.ok(Buffer.from(seen.body, "hex").includes(Buffer.from("ok:tok")));
    assert.deepEqual(seen.names.sort(), [
      ":status",
      "content-type",
      "grpc-status",
      "x-answered-by",
      "x-trailer",
    ]);
  });

  it("reads a body that arrives a few bytes at a time", async () => {
    const body = envelope(lockRequest("ok"));
    const seen = await new Promise<string>((resolve, reject) => {
      const session = http2.connect(urls.fast);
      session.on("error", reject);
      const stream = session.request({
        ":method": "POST",
        ":path": "/v3lockpb.Lock/Lock",
        "content-type": "application/grpc",
        te: "trailers",
      });
      let status = "";
      stream.on("trailers", (h) => {
        status = String(h["grpc-status"]);
      });
      stream.on("data", () => {});
      stream.on("close", () => {
        session.close();
        resolve(status);
      });
      let at = 0;
      const next = () => {
        if (at >= body.length) {
          stream.end();
          return;
        }
        stream.write(body.subarray(at, at + 3));
        at += 3;
        setTimeout(next, 2);
      };
      next();
    });
    assert.equal(seen, "0");
  });

  it("runs the interceptors on both paths", async () => {
    for (const kind of serverKinds) {
      const n = seenByInterceptor[kind].length;
      await grpcCall(urls[kind], "/v3lockpb.Lock/Lock", envelope(lockRequest("ok")));
      assert.deepEqual(seenByInterceptor[kind].slice(n), ["Lock"], kind);
    }
  });

  it("aborts the handler's signal with Canceled when the client cancels", async () => {
    for (const kind of serverKinds) {
      const before = aborts[kind].length;
      await grpcCall(urls[kind], "/v3lockpb.Lock/Lock", envelope(lockRequest("wait")), {
        cancelAfterMs: 50,
      });
      for (let i = 0; i < 100 && aborts[kind].length === before; i++) await sleep(10);
      const reason = aborts[kind].at(-1);
      assert.ok(reason instanceof ConnectError, `${kind}: ${String(reason)}`);
      assert.equal(reason.code, Code.Canceled, kind);
    }
  });
});

describe("gRPC unary fast path: a failure before the handler runs", () => {
  it("answers Internal and keeps serving", async (t) => {
    const pipeline = createCallPipeline({ routes: testRoutes([]) });
    const fastPath = createGrpcUnaryFastPath({
      pipeline,
      peerCommonName: () => {
        throw new Error("no context for you");
      },
    });
    pipeline.routes({
      handlers: [],
      service: () => undefined,
      rpc: () => undefined,
    } as unknown as ConnectRouter);
    const server = http2.createServer((req, res) => {
      assert.equal(fastPath.handle(req, res), true);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const a = server.address();
    const url = `http://127.0.0.1:${typeof a === "object" && a !== null ? a.port : 0}`;
    for (let i = 0; i < 2; i++) {
      const seen = await grpcCall(url, "/v3lockpb.Lock/Lock", envelope(lockRequest("ok")));
      assert.equal(seen.grpcStatus, String(Code.Internal));
      assert.equal(decodeURIComponent(seen.grpcMessage ?? ""), "internal error");
    }
  });
});

describe("gRPC unary fast path: which calls it takes", () => {
  const pipeline = createCallPipeline({
    routes: (r) => {
      r.service(Lock, {});
      r.service(Watch, {});
    },
  });
  const fastPath = createGrpcUnaryFastPath({ pipeline, peerCommonName: () => undefined });
  const registered: string[] = [];
  const router = {
    handlers: [],
    service(service: { typeName: string }) {
      registered.push(service.typeName);
      return router;
    },
    rpc() {
      return router;
    },
  } as unknown as ConnectRouter;
  pipeline.routes(router);

  let server: http2.Http2Server;
  let url = "";
  const taken: boolean[] = [];
  before(async () => {
    server = http2.createServer((req, res) => {
      const t = fastPath.handle(req, res);
      taken.push(t);
      if (!t) {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const a = server.address();
    url = `http://127.0.0.1:${typeof a === "object" && a !== null ? a.port : 0}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it("still registers every service with Connect", () => {
    assert.deepEqual(registered, ["v3lockpb.Lock", "etcdserverpb.Watch"]);
  });

  const lock = "/v3lockpb.Lock/Lock";
  const grpc = (type: string) => ({ "content-type": type });
  // [what, path, extra request headers, taken by the fast path]
  const table: [string, string, Record<string, string>, boolean][] = [
    ["unary gRPC", lock, {}, true],
    ["unary gRPC with +proto", lock, grpc("application/grpc+proto"), true],
    ["identity encoding", lock, { "grpc-encoding": "identity" }, true],
    ["a gzip-compressed request", lock, { "grpc-encoding": "gzip" }, false],
    ["gRPC-Web", lock, grpc("application/grpc-web+proto"), false],
    ["Connect JSON", lock, grpc("application/json"), false],
    ["a bidi stream", "/etcdserverpb.Watch/Watch", {}, false],
    ["an unknown method", "/v3lockpb.Lock/Nope", {}, false],
  ];
  for (const [name, path, headers, takes] of table) {
    it(`${takes ? "takes" : "leaves"} ${name}`, async () => {
      const n = taken.length;
      await grpcCall(url, path, envelope(lockRequest("ok")), { headers });
      assert.equal(taken[n], takes);
    });
  }
});
