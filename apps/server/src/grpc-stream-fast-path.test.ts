import * as assert from "node:assert/strict";
import * as http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  Election,
  KV,
  LeaderRequestSchema,
  Lease,
  LeaseKeepAliveRequestSchema,
} from "@conclave/proto";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { pino } from "pino";
import { createCallPipeline } from "./call-pipeline.js";
import { type ConclaveApp, createApp } from "./create-app.js";
import { createGrpcStreamFastPath } from "./grpc-stream-fast-path.js";
import {
  envelope,
  grpcCall,
  perKind,
  type Seen,
  type ServerKind,
  serverKinds,
} from "./grpc-test-call.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

const keepAlive = (id: bigint) =>
  envelope(toBinary(LeaseKeepAliveRequestSchema, create(LeaseKeepAliveRequestSchema, { ID: id })));
const leader = (name: string) =>
  envelope(toBinary(LeaderRequestSchema, create(LeaderRequestSchema, { name: enc.encode(name) })));

/** How many messages the "flood" Observe has produced, per server kind. */
const produced = perKind(() => 0);

/**
 * Lease.LeaseKeepAlive (bidi) answers each request by its ID: 1 echoes
 * (TTL 10), 2 throws a ConnectError, 3 a plain Error, 4 waits for the
 * signal and records why it aborted, 5 echoes with response headers and
 * trailers set. Election.Observe (server-streaming) answers by name:
 * "three" three leaders, "none" nothing, "fail" one leader then an error,
 * "wait" waits for the signal, "hundred" 100 leaders at once, "flood"
 * 256 KiB leaders until stopped.
 */
function testRoutes(kind: ServerKind, aborts: unknown[]) {
  const waitForAbort = async (signal: AbortSignal) => {
    await new Promise<void>((resolve) => {
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    aborts.push(signal.reason);
    throw signal.reason;
  };
  return (router: ConnectRouter) => {
    router.service(Lease, {
      async *leaseKeepAlive(requests, ctx) {
        for await (const req of requests) {
          if (req.ID === 2n) throw new ConnectError("etcdserver: no: such lease", Code.NotFound);
          if (req.ID === 3n) throw new Error("secret detail");
          if (req.ID === 4n) await waitForAbort(ctx.signal);
          if (req.ID === 5n) {
            ctx.responseHeader.set("x-answered-by", "lease");
            ctx.responseTrailer.set("x-trailer", "t");
          }
          yield { ID: req.ID, TTL: 10n };
        }
      },
    });
    router.service(Election, {
      async *observe(req, ctx) {
        const name = dec.decode(req.name);
        if (name === "wait") await waitForAbort(ctx.signal);
        if (name === "none") return;
        const kv = (i: number, size = 1) => ({
          kv: { key: enc.encode(`${name}/${i}`), value: new Uint8Array(size) },
        });
        if (name === "hundred") {
          for (let i = 0; i < 100; i++) yield kv(i);
          return;
        }
        if (name === "flood") {
          for (let i = 0; ; i++) {
            produced[kind]++;
            yield kv(i, 256 * 1024);
          }
        }
        yield kv(0);
        if (name === "fail") throw new ConnectError("etcdserver: no leader", Code.Unavailable);
        yield kv(1);
        yield kv(2);
      },
    });
  };
}

/** The envelopes (flags, length, message) one after another in `body`. */
function countEnvelopes(body: Buffer): number {
  let n = 0;
  for (let at = 0; at + 5 <= body.length; at += 5 + body.readUInt32BE(at + 1)) n++;
  return n;
}

/** An Election.Observe call on `session`, its request still to send. */
const openObserve = (session: http2.ClientHttp2Session) =>
  session.request({
    ":method": "POST",
    ":path": observePath,
    "content-type": "application/grpc",
    te: "trailers",
  });

/** grpc-status 0 (Connect's Code has no OK). */
const ok = 0;
const keepAlivePath = "/etcdserverpb.Lease/LeaseKeepAlive";
const observePath = "/v3electionpb.Election/Observe";

describe("gRPC stream fast path", () => {
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
        routes: testRoutes(kind, aborts[kind]),
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

  // Each case: the call, and the status both paths must answer with.
  const cases: {
    name: string;
    path: string;
    body: Buffer;
    headers?: Record<string, string>;
    grpcStatus: Code | typeof ok;
    grpcMessage?: string;
    /** Response messages expected in the body (by count of envelopes). */
    messages?: number;
  }[] = [
    {
      name: "a bidi answer per request, with the handler's headers and trailers",
      path: keepAlivePath,
      body: Buffer.concat([keepAlive(5n), keepAlive(1n), keepAlive(1n)]),
      grpcStatus: ok,
      messages: 3,
    },
    {
      name: "a bidi stream half-closed at once",
      path: keepAlivePath,
      body: Buffer.alloc(0),
      grpcStatus: ok,
      messages: 0,
    },
    {
      name: "a handler's ConnectError after an answer",
      path: keepAlivePath,
      body: Buffer.concat([keepAlive(1n), keepAlive(2n)]),
      grpcStatus: Code.NotFound,
      grpcMessage: "etcdserver: no: such lease",
      messages: 1,
    },
    {
      name: "a plain Error, its text hidden",
      path: keepAlivePath,
      body: keepAlive(3n),
      grpcStatus: Code.Internal,
      grpcMessage: "internal error",
      messages: 0,
    },
    {
      name: "a message over readMaxBytes after a good one, in grpc-go's words",
      path: keepAlivePath,
      body: Buffer.concat([keepAlive(1n), envelope(Buffer.alloc(100))]),
      grpcStatus: Code.ResourceExhausted,
      grpcMessage: "grpc: received message larger than max (100 vs. 64)",
    },
    {
      name: "a compressed flag without grpc-encoding",
      path: keepAlivePath,
      body: keepAlive(1n).fill(1, 0, 1),
      grpcStatus: Code.Internal,
      grpcMessage: "received compressed envelope, but do not know how to decompress",
    },
    {
      name: "malformed protobuf",
      path: keepAlivePath,
      body: envelope(Buffer.from([0x08, 0xff])),
      grpcStatus: Code.Internal,
    },
    {
      name: "a cut-off envelope at the end",
      path: keepAlivePath,
      body: Buffer.concat([keepAlive(1n), keepAlive(1n).subarray(0, 6)]),
      grpcStatus: Code.InvalidArgument,
      grpcMessage: "protocol error: incomplete envelope",
      messages: 1,
    },
    {
      name: "a malformed grpc-timeout",
      path: keepAlivePath,
      body: keepAlive(1n),
      headers: { "grpc-timeout": "soon" },
      grpcStatus: Code.InvalidArgument,
      grpcMessage: "protocol error: invalid grpc timeout value: soon",
      messages: 0,
    },
    {
      name: "a deadline passing while the handler waits",
      path: keepAlivePath,
      body: keepAlive(4n),
      headers: { "grpc-timeout": "50m" },
      grpcStatus: Code.DeadlineExceeded,
      grpcMessage: "the operation timed out",
      messages: 0,
    },
    {
      name: "a server stream's messages",
      path: observePath,
      body: leader("three"),
      grpcStatus: ok,
      messages: 3,
    },
    {
      name: "a server stream with no message",
      path: observePath,
      body: leader("none"),
      grpcStatus: ok,
      messages: 0,
    },
    {
      name: "a server stream failing after a message",
      path: observePath,
      body: leader("fail"),
      grpcStatus: Code.Unavailable,
      grpcMessage: "etcdserver: no leader",
      messages: 1,
    },
    {
      name: "a server stream without its request",
      path: observePath,
      body: Buffer.alloc(0),
      grpcStatus: Code.Unimplemented,
      grpcMessage: "protocol error: missing input message for server-streaming method",
    },
    {
      name: "a server stream with two requests",
      path: observePath,
      body: Buffer.concat([leader("three"), leader("three")]),
      grpcStatus: Code.Unimplemented,
      grpcMessage: "protocol error: received extra input message for server-streaming method",
    },
  ];

  const envelopes = (seen: Seen) => countEnvelopes(Buffer.from(seen.body, "hex"));

  for (const c of cases) {
    it(`answers ${c.name} exactly as Connect does`, async () => {
      const options = c.headers === undefined ? {} : { headers: c.headers };
      const fast = await grpcCall(urls.fast, c.path, c.body, options);
      const engine = await grpcCall(urls.engine, c.path, c.body, options);
      const connect = await grpcCall(urls.connect, c.path, c.body, options);
      assert.deepEqual(fast, connect);
      assert.deepEqual(engine, connect);
      assert.equal(fast.status, 200);
      assert.equal(fast.contentType, "application/grpc+proto");
      assert.equal(fast.grpcStatus, String(c.grpcStatus));
      if (c.grpcMessage !== undefined) {
        assert.equal(decodeURIComponent(fast.grpcMessage ?? ""), c.grpcMessage);
      }
      if (c.messages !== undefined) assert.equal(envelopes(fast), c.messages);
    });
  }

  for (const kind of ["fast", "engine"] as const) {
    it(`sends the handler's response headers and trailers (${kind})`, async () => {
      const seen = await grpcCall(urls[kind], keepAlivePath, keepAlive(5n));
      assert.deepEqual(seen.names.sort(), [
        ":status",
        "content-type",
        "grpc-status",
        "x-answered-by",
        "x-trailer",
      ]);
    });
  }

  it("runs the interceptors on both paths", async () => {
    for (const kind of serverKinds) {
      const n = seenByInterceptor[kind].length;
      await grpcCall(urls[kind], observePath, leader("three"));
      await grpcCall(urls[kind], keepAlivePath, keepAlive(1n));
      assert.deepEqual(seenByInterceptor[kind].slice(n), ["Observe", "LeaseKeepAlive"], kind);
    }
  });

  it("aborts the handler's signal with Canceled when the client cancels", async () => {
    for (const kind of serverKinds) {
      for (const [path, body] of [
        [keepAlivePath, keepAlive(4n)],
        [observePath, leader("wait")],
      ] as const) {
        const before = aborts[kind].length;
        await grpcCall(urls[kind], path, body, { cancelAfterMs: 50 });
        for (let i = 0; i < 100 && aborts[kind].length === before; i++) await sleep(10);
        const reason = aborts[kind].at(-1);
        assert.ok(reason instanceof ConnectError, `${kind} ${path}: ${String(reason)}`);
        assert.equal(reason.code, Code.Canceled, `${kind} ${path}`);
      }
    }
  });

  for (const kind of ["fast", "engine"] as const) {
    it(`writes the messages a handler has ready in one turn as one DATA frame (${kind})`, async () => {
      const session = http2.connect(urls[kind]);
      try {
        const stream = openObserve(session);
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.end(leader("hundred"));
        await new Promise((resolve) => stream.on("end", resolve));
        assert.equal(countEnvelopes(Buffer.concat(chunks)), 100);
        // One write per message went out as 2 frames here (the first alone).
        assert.equal(chunks.length, 1, `${chunks.length} DATA chunks`);
      } finally {
        session.close();
      }
    });

    it(`asks a handler for no more than the HTTP/2 stream takes from a reader that stopped (${kind})`, async () => {
      const session = http2.connect(urls[kind]);
      try {
        const stream = openObserve(session);
        stream.on("error", () => {});
        stream.pause(); // never read: the windows fill up
        stream.end(leader("flood"));
        await sleep(500);
        const first = produced[kind];
        await sleep(500);
        // HTTP/2's windows (64 KiB stream, the session's) and Node's buffer hold
        // a few 256 KiB messages at most; a path that ignored back-pressure
        // would have produced thousands by now.
        assert.ok(first > 0, "the handler started");
        assert.ok(first <= 8, `the handler produced ${first} messages for a stopped reader`);
        assert.equal(produced[kind], first, "the handler was not asked for more");
        stream.close(http2.constants.NGHTTP2_CANCEL);
      } finally {
        session.close();
      }
    });
  }
});

describe("gRPC stream fast path: which calls it takes", () => {
  const pipeline = createCallPipeline({
    routes: (r) => {
      r.service(Lease, {});
      r.service(Election, {});
      r.service(KV, {});
    },
  });
  const fastPath = createGrpcStreamFastPath({ pipeline, peerCommonName: () => undefined });
  pipeline.routes({
    handlers: [],
    service: () => undefined,
    rpc: () => undefined,
  } as unknown as ConnectRouter);

  let server: http2.Http2Server;
  let url = "";
  // Keyed by the case's name: under load a cancelled call can close on the
  // client before the server has seen its headers.
  const taken = new Map<string, boolean>();
  before(async () => {
    server = http2.createServer((req, res) => {
      const t = fastPath.handle(req, res);
      taken.set(String(req.headers["x-case"]), t);
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

  const grpc = (type: string) => ({ "content-type": type });
  // [what, path, extra request headers, taken by the stream path]
  const table: [string, string, Record<string, string>, boolean][] = [
    ["a bidi stream", keepAlivePath, {}, true],
    ["a server stream", observePath, {}, true],
    ["a stream with +proto", keepAlivePath, grpc("application/grpc+proto"), true],
    ["identity encoding", keepAlivePath, { "grpc-encoding": "identity" }, true],
    ["a gzip-compressed request", keepAlivePath, { "grpc-encoding": "gzip" }, false],
    ["gRPC-Web", keepAlivePath, grpc("application/grpc-web+proto"), false],
    ["Connect JSON streaming", observePath, grpc("application/connect+json"), false],
    ["a unary method", "/etcdserverpb.KV/Range", {}, false],
    ["an unknown method", "/etcdserverpb.Lease/Nope", {}, false],
  ];
  for (const [name, path, headers, takes] of table) {
    it(`${takes ? "takes" : "leaves"} ${name}`, async () => {
      await grpcCall(url, path, keepAlive(1n), {
        headers: { ...headers, "x-case": name },
        cancelAfterMs: takes ? 20 : undefined,
      });
      for (let i = 0; i < 200 && !taken.has(name); i++) await sleep(10);
      assert.equal(taken.get(name), takes);
    });
  }
});
