// A KV/Txn nested far deeper than the decoders go (600 and 100,000 levels)
// gets etcd's answer — InvalidArgument "etcdserver: too many operations in
// txn request", or the error of an earlier check of etcd's depth-first walk —
// on every door: gRPC (direct path and Connect's handler, binary and JSON),
// gRPC-Web, Connect binary and JSON (fast path and Connect's router), and the
// JSON gateway. packages/e2e/src/txn-nesting.test.ts compares the same with
// a real etcd.
import * as assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create, toBinary, toJson } from "@bufbuild/protobuf";
import { CompareSchema, type TxnRequest, TxnRequestSchema } from "@conclave/proto";
import {
  closeServerContext,
  createRoutes,
  errorInterceptor,
  maxMessageDepth,
  openServerContext,
  type ServerContext,
} from "@conclave/server";
import { deepTxnBytes } from "@conclave/testkit";
import { Code } from "@connectrpc/connect";
import { pino } from "pino";
import { createConnectUnaryFastPath } from "./connect-unary-fast-path.js";
import { type ConclaveApp, createApp } from "./create-app.js";
import { registerGateway } from "./gateway/create-gateway.js";
import { envelope, grpcCall } from "./grpc-test-call.js";

const path = "/etcdserverpb.KV/Txn";
const enc = new TextEncoder();

/** A txn `levels` deep, each level holding only the next; `at` may add to any level. */
function nested(levels: number, at: (level: number, t: TxnRequest) => void = () => {}) {
  let t = create(TxnRequestSchema);
  at(levels, t);
  for (let level = levels - 1; level >= 1; level--) {
    t = create(TxnRequestSchema, { success: [{ request: { case: "requestTxn", value: t } }] });
    at(level, t);
  }
  return t;
}

/** The JSON form of nested(levels), as text. */
const deepTxnJson = (levels: number) =>
  `${'{"success":[{"requestTxn":'.repeat(levels - 1)}{}${"}]}".repeat(levels - 1)}`;

const tooMany = "etcdserver: too many operations in txn request";

const cases: Array<{
  name: string;
  binary: Uint8Array;
  json: string;
  message: string;
  /** Where the gateway answers otherwise: Go's JSON decoder stops at 10,000 nested values. */
  gatewayMessage?: string;
}> = [
  {
    name: "600 levels",
    binary: toBinary(TxnRequestSchema, nested(600)),
    json: deepTxnJson(600),
    message: tooMany,
  },
  {
    name: "100,000 levels",
    binary: deepTxnBytes(100_000),
    json: deepTxnJson(100_000),
    message: tooMany,
    gatewayMessage: "invalid character '[' exceeded max depth",
  },
  ...(() => {
    // etcd's walk meets an empty compare key at level 3 before the budget runs out.
    const t = nested(600, (level, txn) => {
      if (level === 3) txn.compare.push(create(CompareSchema, { key: new Uint8Array(0) }));
    });
    return [
      {
        name: "600 levels, an empty compare key at level 3",
        binary: toBinary(TxnRequestSchema, t),
        json: JSON.stringify(toJson(TxnRequestSchema, t)),
        message: "etcdserver: key is not provided",
      },
    ];
  })(),
];

interface Status {
  code: Code;
  message: string;
}

function grpcWebStatus(res: Response, body: Uint8Array): Status {
  let status = res.headers.get("grpc-status");
  let message = res.headers.get("grpc-message");
  // Trailers in the body: an envelope with flag 0x80.
  for (let at = 0; at + 5 <= body.length; ) {
    const length = new DataView(body.buffer, body.byteOffset + at + 1, 4).getUint32(0);
    if ((body[at] as number) & 0x80) {
      for (const line of new TextDecoder()
        .decode(body.subarray(at + 5, at + 5 + length))
        .split("\r\n")) {
        const i = line.indexOf(":");
        const name = line.slice(0, i).trim().toLowerCase();
        if (name === "grpc-status") status = line.slice(i + 1).trim();
        if (name === "grpc-message") message = line.slice(i + 1).trim();
      }
    }
    at += 5 + length;
  }
  return { code: Number(status) as Code, message: decodeURIComponent(message ?? "") };
}

const connectCodes: Record<string, Code> = { invalid_argument: Code.InvalidArgument };

/** Each door: how to send one case and read the status it answers. */
const doors: Record<string, (url: string, c: (typeof cases)[number]) => Promise<Status>> = {
  "gRPC (binary)": async (url, c) => {
    const seen = await grpcCall(url, path, envelope(c.binary));
    return { code: Number(seen.grpcStatus), message: decodeURIComponent(seen.grpcMessage ?? "") };
  },
  "gRPC (JSON, Connect's handler)": async (url, c) => {
    const seen = await grpcCall(url, path, envelope(enc.encode(c.json)), {
      headers: { "content-type": "application/grpc+json" },
    });
    return { code: Number(seen.grpcStatus), message: decodeURIComponent(seen.grpcMessage ?? "") };
  },
  "gRPC-Web": async (url, c) => {
    const res = await fetch(url + path, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: envelope(c.binary),
    });
    return grpcWebStatus(res, new Uint8Array(await res.arrayBuffer()));
  },
  ...Object.fromEntries(
    (["binary", "json"] as const).flatMap((format) =>
      [false, true].map((router) => [
        `Connect ${format}${router ? " (Connect's router)" : ""}`,
        async (url: string, c: (typeof cases)[number]): Promise<Status> => {
          const res = await fetch(url + path, {
            method: "POST",
            headers: {
              "content-type": format === "json" ? "application/json" : "application/proto",
              // The fast path leaves calls with a timeout to Connect's router.
              ...(router && { "connect-timeout-ms": "60000" }),
            },
            body: format === "json" ? c.json : c.binary,
          });
          const j = (await res.json()) as { code: string; message: string };
          assert.equal(res.status, 400);
          return { code: connectCodes[j.code] ?? Code.Unknown, message: j.message };
        },
      ]),
    ),
  ),
  "JSON gateway": async (url, c) => {
    const res = await fetch(`${url}/v3/kv/txn`, { method: "POST", body: c.json });
    const j = (await res.json()) as { error: string; message: string; code: number };
    assert.equal(res.status, 400);
    assert.equal(j.error, j.message);
    return { code: j.code, message: j.message };
  },
};

describe("txns nested far deeper than the decoders go, on every door", () => {
  const apps: ConclaveApp[] = [];
  const contexts: ServerContext[] = [];
  const urls = { direct: "", connect: "" };

  before(async () => {
    for (const kind of ["direct", "connect"] as const) {
      const ctx = await openServerContext({ dataDir: ":memory:" });
      contexts.push(ctx);
      const app = createApp({
        routes: createRoutes(ctx),
        logger: pino({ level: "silent" }),
        interceptors: [errorInterceptor],
        // Room for 100,000 levels as JSON (2.9 MB): only the nesting is refused.
        readMaxBytes: 4 * 1024 * 1024,
        recursionLimit: maxMessageDepth,
        grpcDirectPaths: kind === "direct",
      });
      registerGateway(app);
      app.serveFirst(
        createConnectUnaryFastPath({ pipeline: app.pipeline, peerCommonName: () => undefined }),
      );
      const [url] = await app.listen(["http://127.0.0.1:0"]);
      urls[kind] = url as string;
      apps.push(app);
    }
  });
  after(async () => {
    for (const a of apps) await a.close(0);
    for (const ctx of contexts) await closeServerContext(ctx);
  });

  for (const c of cases) {
    for (const [door, send] of Object.entries(doors)) {
      for (const kind of ["direct", "connect"] as const) {
        it(`${c.name}, ${door}, direct paths ${kind === "direct" ? "on" : "off"}: ${c.message}`, async () => {
          assert.deepEqual(await send(urls[kind], c), {
            code: Code.InvalidArgument,
            message: (door === "JSON gateway" && c.gatewayMessage) || c.message,
          });
        });
      }
    }
  }
});
