// Connect's unary JSON/binary calls served beside its router
// (connect-unary-fast-path.ts) must put the same bytes on the wire as
// Connect: one table of requests to an app with and an app without the
// path; status, headers (but Date) and body compared, over one keep-alive
// connection each.
import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { KV, RangeRequestSchema } from "@conclave/proto";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { pino } from "pino";
import { assertSameAnswers, type RawRequest, useAppPair } from "./assert-same-answers.js";
import { createConnectUnaryFastPath } from "./connect-unary-fast-path.js";
import { registerCors } from "./cors.js";
import { type ConclaveApp, createApp } from "./create-app.js";
import { verifiedPeerCommonName } from "./tls-peer-identity.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Range answers by key: errors of each kind, headers and trailers, the token it was sent. */
function routes(router: ConnectRouter) {
  router.service(KV, {
    range(req, ctx) {
      const key = decoder.decode(req.key);
      if (key === "missing") throw new ConnectError("etcdserver: key not found", Code.NotFound);
      if (key === "meta") {
        throw new ConnectError("with metadata", Code.FailedPrecondition, { "x-why": "because" });
      }
      if (key === "plain") throw new Error("a plain error");
      if (key === "trailers") {
        ctx.responseHeader.set("x-h", "1");
        ctx.responseTrailer.set("x-t", "2");
      }
      const token = ctx.requestHeader.get("authorization") ?? "-";
      return { kvs: [{ key: req.key, value: encoder.encode(token) }], count: 1n };
    },
    put: () => ({}),
  });
}

const json = "application/json";
const b64 = (s: string) => Buffer.from(s).toString("base64");
const cases: {
  name: string;
  path?: string;
  type: string;
  body: string | Buffer;
  headers?: Record<string, string>;
}[] = [
  { name: "range", type: json, body: `{"key":"${b64("foo")}"}` },
  {
    name: "binary",
    type: "application/proto",
    body: Buffer.from(
      toBinary(RangeRequestSchema, create(RangeRequestSchema, { key: encoder.encode("foo") })),
    ),
  },
  { name: "allowed origin", type: json, body: "{}", headers: { origin: "https://a.example" } },
  { name: "other origin", type: json, body: "{}", headers: { origin: "https://b.example" } },
  { name: "version 1", type: json, body: "{}", headers: { "connect-protocol-version": "1" } },
  { name: "token", type: json, body: "{}", headers: { authorization: "t0k" } },
  { name: "empty body", type: json, body: "" },
  { name: "malformed", type: json, body: '{"key":' },
  { name: "unknown field", type: json, body: '{"nope":1}' },
  { name: "bad binary", type: "application/proto", body: Buffer.from([0xff, 0xff]) },
  { name: "NotFound", type: json, body: `{"key":"${b64("missing")}"}` },
  { name: "metadata", type: json, body: `{"key":"${b64("meta")}"}` },
  { name: "plain error", type: json, body: `{"key":"${b64("plain")}"}` },
  { name: "headers and trailers", type: json, body: `{"key":"${b64("trailers")}"}` },
  { name: "put", path: "/etcdserverpb.KV/Put", type: json, body: `{"key":"${b64("k")}"}` },
  { name: "charset (Connect's)", type: "application/json; charset=utf-8", body: "{}" },
  {
    name: "timeout (Connect's)",
    type: json,
    body: "{}",
    headers: { "connect-timeout-ms": "1000" },
  },
  { name: "too large (Connect's)", type: json, body: `{"key":"${b64("k".repeat(300))}"}` },
];

async function start(fastPath: boolean): Promise<{ app: ConclaveApp; url: string }> {
  const app = createApp({ routes, logger: pino({ level: "silent" }), readMaxBytes: 256 });
  const cors = registerCors(app.app, { allowedOrigins: ["https://a.example"] });
  if (fastPath) {
    app.serveFirst(
      createConnectUnaryFastPath({
        pipeline: app.pipeline,
        peerCommonName: verifiedPeerCommonName,
        cors,
      }),
    );
  }
  const [url] = await app.listen(["http://127.0.0.1:0"]);
  assert.ok(url);
  return { app, url };
}

/** The table as raw requests: Range unless a path is given. */
const requests: RawRequest[] = cases.map((c) => ({
  name: c.name,
  path: c.path ?? "/etcdserverpb.KV/Range",
  headers: { "content-type": c.type, ...c.headers },
  body: c.body,
}));

describe("Connect unary calls beside the router", () => {
  const apps = useAppPair(start);

  it("answer as Connect does, byte for byte, keeping the connection", () =>
    assertSameAnswers(apps().urls, requests));

  it("answer as Connect does over HTTP/2", () =>
    assertSameAnswers(apps().urls, requests, { http2: true }));
});
