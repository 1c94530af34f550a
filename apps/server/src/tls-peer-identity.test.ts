import * as assert from "node:assert/strict";
import * as https from "node:https";
import { after, before, describe, it, type TestContext } from "node:test";
import type * as tls from "node:tls";
import { KV, Watch } from "@conclave/proto";
import { peerCommonNameKey } from "@conclave/server";
import { type ConnectRouter, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { createApp } from "./create-app.js";
import { registerGateway } from "./gateway/create-gateway.js";
import { createTestCerts, type TestCerts } from "./tls-test-certs.js";

const limit = { timeout: 5_000 };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A KV service whose Range answers with one key: the peer CN its handler
 * sees, or "-". Watch answers its first request with one event whose key is
 * that CN, to check that streaming gateway calls carry it too.
 */
function routes(router: ConnectRouter) {
  router.service(KV, {
    range: (_req, ctx) => ({
      kvs: [{ key: encoder.encode(ctx.values.get(peerCommonNameKey) ?? "-") }],
    }),
  });
  router.service(Watch, {
    async *watch(requests, ctx) {
      for await (const _ of requests) {
        yield {
          events: [{ kv: { key: encoder.encode(ctx.values.get(peerCommonNameKey) ?? "-") } }],
        };
        return;
      }
    },
  });
}

describe("peer identity from client certificates", () => {
  let certs: TestCerts;
  before(() => {
    certs = createTestCerts();
  });
  after(() => certs.remove());

  async function start(t: TestContext) {
    const server = createApp({
      routes,
      logger: pino({ level: "silent" }),
      tls: {
        key: certs.read(certs.server.key),
        cert: certs.read(certs.server.cert),
        ca: certs.read(certs.ca.cert),
        requestCert: true,
        rejectUnauthorized: true,
      },
    });
    registerGateway(server);
    const [secure, plain] = await server.listen(["https://127.0.0.1:0", "http://127.0.0.1:0"]);
    assert.ok(secure && plain);
    t.after(() => server.close(0));
    return { secure, plain };
  }

  function clientTls(cn: string): tls.ConnectionOptions {
    const files = certs.clients[cn];
    assert.ok(files);
    return {
      ca: certs.read(certs.ca.cert),
      cert: certs.read(files.cert),
      key: certs.read(files.key),
    };
  }

  it("reaches gRPC handlers as peerCommonNameKey", limit, async (t) => {
    const { secure, plain } = await start(t);
    for (const cn of ["root", "alice"]) {
      const kv = createClient(
        KV,
        createGrpcTransport({ baseUrl: secure, nodeOptions: clientTls(cn) }),
      );
      const res = await kv.range({ key: encoder.encode("k") });
      assert.equal(decoder.decode(res.kvs[0]?.key), cn);
    }
    const kv = createClient(KV, createGrpcTransport({ baseUrl: plain }));
    assert.equal(decoder.decode((await kv.range({})).kvs[0]?.key), "-");
  });

  it("reaches handlers called through the JSON gateway", limit, async (t) => {
    const { secure, plain } = await start(t);
    const range = await gatewayPost(`${secure}/v3/kv/range`, clientTls("alice"));
    assert.equal(keyOf(JSON.parse(range).kvs[0]), "alice");
    // A streaming call: one {"result": …} line per response.
    const watch = await gatewayPost(`${secure}/v3/watch`, clientTls("root"), {
      create_request: { key: "YQ==" },
    });
    assert.equal(keyOf(JSON.parse(watch).result.events[0].kv), "root");
    // A client cannot claim a name with a header on a plaintext connection.
    const res = await fetch(`${plain}/v3/kv/range`, {
      method: "POST",
      body: "{}",
      headers: { "grpc-metadata-peer-common-name": "root", "x-ssl-client-cn": "root" },
    });
    assert.equal(keyOf(((await res.json()) as { kvs: unknown[] }).kvs[0]), "-");
  });
});

/** The decoded key of a gateway JSON KeyValue. */
function keyOf(kv: unknown): string {
  return Buffer.from((kv as { key?: string } | undefined)?.key ?? "", "base64").toString();
}

/** POSTs a JSON body to the gateway over HTTPS; resolves with the response text. */
function gatewayPost(
  url: string,
  options: https.RequestOptions,
  body: unknown = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: "POST", agent: false, ...options }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        text += d;
      });
      res.on("end", () =>
        res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode}: ${text}`)),
      );
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}
