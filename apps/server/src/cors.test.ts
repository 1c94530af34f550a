import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { conclaveWatch } from "@conclave/proto";
import { pino } from "pino";
import { createCorsHeaders, registerCors } from "./cors.js";
import { createApp } from "./create-app.js";
import { FlagError, parseFlags } from "./flags.js";

const path = "/conclave.v1.WatchService/Watch";

/** An app with one Connect service (never called) and CORS; requests go through inject(). */
async function appWith(allowedOrigins?: string[]) {
  const server = createApp({
    routes: (router) => router.service(conclaveWatch.WatchService, {}),
    logger: pino({ level: "silent" }),
  });
  server.app.get("/health", async () => ({ health: "true" }));
  registerCors(server.app, allowedOrigins === undefined ? {} : { allowedOrigins });
  await server.app.ready();
  return server;
}

const preflight = (origin: string) => ({
  method: "OPTIONS" as const,
  url: path,
  headers: {
    origin,
    "access-control-request-method": "POST",
    "access-control-request-headers":
      "content-type,connect-protocol-version,x-grpc-web,authorization,token",
  },
});

describe("CORS", () => {
  it("answers preflights for any origin by default, with Connect's methods and headers and the auth headers", async () => {
    const server = await appWith();
    try {
      const res = await server.app.inject(preflight("https://dash.example.com"));
      assert.equal(res.statusCode, 200); // optionsSuccessStatus, as etcd's gateway
      assert.equal(res.headers["access-control-allow-origin"], "*");
      assert.match(String(res.headers["access-control-allow-methods"]), /POST/);
      const allowed = String(res.headers["access-control-allow-headers"]).toLowerCase();
      const names = allowed.split(",").map((h) => h.trim());
      for (const h of [
        "content-type",
        "connect-protocol-version",
        "x-grpc-web",
        "grpc-timeout",
        // The token headers (auth-guard.ts): without them a browser page on
        // another origin can only call anonymously.
        "authorization",
        "token",
      ]) {
        assert.ok(names.includes(h), `${h} allowed`);
      }
      const get = await server.app.inject({
        url: "/health",
        headers: { origin: "https://dash.example.com" },
      });
      assert.equal(get.headers["access-control-allow-origin"], "*");
      const exposed = String(get.headers["access-control-expose-headers"]).toLowerCase();
      assert.ok(exposed.includes("grpc-status") && exposed.includes("grpc-message"));
    } finally {
      await server.close(0);
    }
  });

  it("with a list, answers only the listed origins", async () => {
    const server = await appWith(["https://dash.example.com"]);
    try {
      const ok = await server.app.inject(preflight("https://dash.example.com"));
      assert.equal(ok.headers["access-control-allow-origin"], "https://dash.example.com");
      assert.match(String(ok.headers.vary), /Origin/i);
      const other = await server.app.inject(preflight("https://evil.example"));
      assert.equal(other.headers["access-control-allow-origin"], undefined);
    } finally {
      await server.close(0);
    }
  });

  it("createCorsHeaders gives what the plugin adds to a reply, in its order", async () => {
    const configs: (string[] | undefined)[] = [undefined, ["*"], [], ["https://a.example"]];
    const origins = [undefined, "https://a.example", "https://b.example"];
    for (const allowedOrigins of configs) {
      const server = createApp({ routes: () => {}, logger: pino({ level: "silent" }) });
      server.app.post("/x", async (_req, reply) => reply.send(Buffer.from("{}")));
      const cors = registerCors(server.app, allowedOrigins === undefined ? {} : { allowedOrigins });
      await server.app.ready();
      try {
        for (const origin of origins) {
          const res = await server.app.inject({
            method: "POST",
            url: "/x",
            ...(origin !== undefined && { headers: { origin } }),
          });
          const fromPlugin = Object.entries(res.headers).filter(
            ([name]) => name.startsWith("access-control-") || name === "vary",
          );
          const direct = createCorsHeaders(allowedOrigins === undefined ? {} : { allowedOrigins })(
            origin,
          );
          const what = `${JSON.stringify(allowedOrigins)} ${origin}`;
          assert.deepEqual(fromPlugin, Object.entries(direct), what);
          assert.deepEqual(cors(origin), direct, what);
        }
      } finally {
        await server.close(0);
      }
    }
  });

  it("--cors takes etcd's comma-separated origins; empty or * means any", () => {
    assert.equal(parseFlags([]).cors, undefined);
    assert.deepEqual(parseFlags(["--cors", "*"]).cors, ["*"]);
    assert.deepEqual(parseFlags(["--cors="]).cors, ["*"]);
    assert.deepEqual(parseFlags(["--cors", "https://a.example, http://localhost:5173"]).cors, [
      "https://a.example",
      "http://localhost:5173",
    ]);
    assert.deepEqual(parseFlags([], { ETCD_CORS: "https://b.example/" }).cors, [
      "https://b.example",
    ]);
    assert.throws(() => parseFlags(["--cors", "dash.example.com"]), FlagError);
    assert.throws(() => parseFlags(["--cors", "https://a.example/path"]), FlagError);
  });
});
