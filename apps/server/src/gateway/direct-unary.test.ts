// The gateway's unary calls are answered before Fastify routes them
// (ConclaveApp.serveFirst) unless the direct paths are off. Both must put
// the same bytes on the wire: this sends one table of requests to an app
// with and an app without them and compares status, headers (but Date) and
// body, over one keep-alive connection each.
import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KV } from "@conclave/proto";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { pino } from "pino";
import { assertSameAnswers, type RawRequest, useAppPair } from "../assert-same-answers.js";
import { registerCors } from "../cors.js";
import { type ConclaveApp, createApp } from "../create-app.js";
import { registerGateway } from "./create-gateway.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Range answers by key: errors of each kind, a slow answer, the token it was sent. */
function routes(router: ConnectRouter) {
  router.service(KV, {
    async range(req, ctx) {
      const key = decoder.decode(req.key);
      if (key === "missing") throw new ConnectError("etcdserver: key not found", Code.NotFound);
      if (key === "plain") throw new Error("a plain error");
      if (key === "slow") await new Promise((r) => setTimeout(r, 200));
      const token = ctx.requestHeader.get("authorization") ?? "-";
      return {
        kvs: [{ key: req.key, value: encoder.encode(token), lease: req.limit }],
        count: 1n,
      };
    },
    put: () => ({}),
  });
}

const cases: RawRequest[] = [
  { name: "range", path: "/v3/kv/range", body: '{"key":"Zm9v"}' },
  {
    name: "allowed origin",
    path: "/v3/kv/range",
    body: "{}",
    headers: { origin: "https://a.example" },
  },
  {
    name: "other origin",
    path: "/v3/kv/range",
    body: "{}",
    headers: { origin: "https://b.example" },
  },
  {
    name: "camelCase, big integer",
    path: "/v3/kv/range",
    body: '{"key":"Zm9v","limit":9007199254740993}',
  },
  { name: "two values", path: "/v3/kv/range", body: '{"key":"YQ=="} {"key":"Yg=="}' },
  { name: "empty body", path: "/v3/kv/range", body: "" },
  { name: "malformed", path: "/v3/kv/range", body: '{"key":' },
  { name: "not a message", path: "/v3/kv/range", body: '{"key":5}' },
  { name: "NotFound", path: "/v3/kv/range", body: `{"key":"${btoa("missing")}"}` },
  { name: "plain error", path: "/v3/kv/range", body: `{"key":"${btoa("plain")}"}` },
  { name: "token", path: "/v3/kv/range", body: "{}", headers: { authorization: "t0k" } },
  {
    name: "metadata token",
    path: "/v3/kv/range",
    body: "{}",
    headers: { "grpc-metadata-token": "x" },
  },
  { name: "bad timeout", path: "/v3/kv/range", body: "{}", headers: { "grpc-timeout": "soon" } },
  { name: "expired", path: "/v3/kv/range", body: "{}", headers: { "grpc-timeout": "1n" } },
  {
    name: "deadline before the answer",
    path: "/v3/kv/range",
    body: `{"key":"${btoa("slow")}"}`,
    headers: { "grpc-timeout": "20m" },
  },
  { name: "too large", path: "/v3/kv/range", body: `{"key":"${btoa("k".repeat(300))}"}` },
  { name: "put", path: "/v3beta/kv/put", body: '{"key":"Zm9v","value":"YmFy"}' },
  { name: "query string", path: "/v3/kv/range?x=1", body: "{}" },
  {
    name: "form content type",
    path: "/v3/kv/range",
    body: "{}",
    headers: { "content-type": "application/x-www-form-urlencoded" },
  },
];

async function start(grpcDirectPaths: boolean): Promise<{ app: ConclaveApp; url: string }> {
  const app = createApp({
    routes,
    logger: pino({ level: "silent" }),
    grpcDirectPaths,
    readMaxBytes: 256,
  });
  const cors = registerCors(app.app, { allowedOrigins: ["https://a.example"] });
  registerGateway(app, { cors });
  const [url] = await app.listen(["http://127.0.0.1:0"]);
  assert.ok(url);
  return { app, url };
}

describe("gateway unary calls before Fastify", () => {
  const apps = useAppPair(start);

  it("answer as Fastify's routes do, byte for byte, keeping the connection", () =>
    assertSameAnswers(apps().urls, cases));

  it("answer as Fastify's routes do over HTTP/2", () =>
    assertSameAnswers(apps().urls, cases, { http2: true }));
});
