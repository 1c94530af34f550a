// The browser-facing surface of the conclave CLI: conclave.v1's server-
// streaming Watch spoken by hand over Connect JSON (plain fetch, HTTP/1.1,
// Connect's streaming envelopes, as curl would), over gRPC-Web and gRPC;
// KeepAliveOnce as curl would call it; CORS preflights; and @conclave/client
// over connect-web's gRPC-Web transport.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createConclaveClient, toText } from "@conclave/client";
import { conclaveWatch, EventReason } from "@conclave/proto";
import { type RunningServer, startConclave } from "@conclave/testkit";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { bytes, etcdClients, text } from "./clients.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** One Connect streaming request body: a single uncompressed JSON envelope. */
function envelope(message: unknown): Uint8Array {
  const json = Buffer.from(JSON.stringify(message));
  const out = new Uint8Array(5 + json.length);
  new DataView(out.buffer).setUint32(1, json.length);
  out.set(json, 5);
  return out;
}

/** Splits a Connect streaming response body into its envelopes (flags + parsed JSON). */
function envelopes(body: Uint8Array): Array<{ flags: number; json: Record<string, unknown> }> {
  const out: Array<{ flags: number; json: Record<string, unknown> }> = [];
  let at = 0;
  while (at < body.length) {
    const view = new DataView(body.buffer, body.byteOffset + at);
    const flags = view.getUint8(0);
    const len = view.getUint32(1);
    out.push({
      flags,
      json: JSON.parse(Buffer.from(body.subarray(at + 5, at + 5 + len)).toString()),
    });
    at += 5 + len;
  }
  return out;
}

/** POSTs a Connect server-streaming call with JSON, as curl or a hand-written fetch would. */
async function connectJsonStream(server: RunningServer, path: string, message: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/connect+json" },
    body: envelope(message),
  });
  return { res, frames: envelopes(new Uint8Array(await res.arrayBuffer())) };
}

describe("conclave.v1 for browsers and curl", () => {
  let server: RunningServer;
  let restricted: RunningServer | undefined;
  before(async () => {
    server = await startConclave();
  });
  after(async () => {
    await server.stop();
    await restricted?.stop();
  });

  test("Watch over Connect JSON (fetch, HTTP/1.1) replays history and ends itself at end_revision", async () => {
    const { kv } = etcdClients(createGrpcTransport({ baseUrl: server.url }));
    const put = async (k: string, v: string) =>
      (await kv.put({ key: bytes(k), value: bytes(v) })).header?.revision ?? 0n;
    const r1 = await put("json/a", "1");
    const r2 = await put("json/b", "2");
    await put("json/c", "3"); // after end_revision
    const { res, frames } = await connectJsonStream(server, "/conclave.v1.WatchService/Watch", {
      key: b64("json/"),
      prefix: true,
      startRevision: String(r1),
      endRevision: String(r2),
      prevKv: true,
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/connect+json");
    const messages = frames.filter((f) => f.flags === 0).map((f) => f.json);
    const end = frames.at(-1);
    assert.equal(end?.flags, 2, "the stream ends with an end-stream envelope");
    assert.deepEqual(end?.json, {}, "with no error");
    assert.deepEqual(messages[0], { revision: String(r1 - 1n), created: true });
    const events = messages.slice(1).flatMap((m) => m.events as Array<{ kv: { key: string } }>);
    assert.deepEqual(
      events.map((e) => Buffer.from(e.kv.key, "base64").toString()),
      ["json/a", "json/b"],
    );
    assert.equal(messages.at(-1)?.revision, String(r2));
  });

  test("Watch over Connect JSON reports compaction as a message, then ends OK", async () => {
    const { kv } = etcdClients(createGrpcTransport({ baseUrl: server.url }));
    await kv.put({ key: bytes("cj"), value: bytes("1") });
    const r = (await kv.put({ key: bytes("cj"), value: bytes("2") })).header?.revision ?? 0n;
    await kv.compact({ revision: r });
    const { frames } = await connectJsonStream(server, "/conclave.v1.WatchService/Watch", {
      key: b64("cj"),
      startRevision: "1",
    });
    assert.deepEqual(
      frames.map((f) => [f.flags, f.json]),
      [
        [0, { created: true }],
        [0, { compactRevision: String(r) }],
        [2, {}],
      ],
    );
  });

  test("Watch over gRPC-Web (connect-web, fetch) and gRPC, with progress notifications", async () => {
    const { kv } = etcdClients(createGrpcTransport({ baseUrl: server.url }));
    for (const transport of [
      createGrpcWebTransport({ baseUrl: server.url }),
      createGrpcTransport({ baseUrl: server.url }),
    ]) {
      const watch = createClient(conclaveWatch.WatchService, transport);
      const start =
        (await kv.put({ key: bytes("gw/a"), value: bytes("1") })).header?.revision ?? 0n;
      const stream = watch.watch({
        key: bytes("gw/"),
        prefix: true,
        startRevision: start,
        endRevision: start + 2n,
        progressIntervalMs: 100,
      });
      const got: conclaveWatch.WatchResponse[] = [];
      const reading = (async () => {
        for await (const m of stream) got.push(m);
      })();
      await new Promise((r) => setTimeout(r, 400)); // idle: progress notifications
      await kv.put({ key: bytes("other"), value: bytes("x") }); // start + 1, outside
      await kv.put({ key: bytes("gw/b"), value: bytes("2") }); // start + 2
      await reading; // ends by itself at end_revision
      assert.equal(got[0]?.created, true);
      const events = got.flatMap((m) => m.events.map((e) => text(e.kv?.key ?? new Uint8Array())));
      assert.deepEqual(events, ["gw/a", "gw/b"]);
      const progress = got.filter((m) => !m.created && m.events.length === 0);
      // While idle they confirm `start`; one may land between the two later puts.
      assert.ok(progress.filter((m) => m.revision === start).length >= 2, `${progress.length}`);
      assert.ok(progress.every((m) => m.revision === start || m.revision === start + 1n));
    }
  });

  test("KeepAliveOnce over Connect JSON, as curl sends it", async () => {
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${server.url}${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 200);
      return (await res.json()) as Record<string, string>;
    };
    const grant = await post("/etcdserverpb.Lease/LeaseGrant", { TTL: "60" });
    const renewed = await post("/conclave.v1.LeaseService/KeepAliveOnce", { id: grant.ID });
    assert.equal(renewed.id, grant.ID);
    assert.equal(renewed.ttl, "60");
    const unknown = await post("/conclave.v1.LeaseService/KeepAliveOnce", { id: "12345" });
    assert.equal(unknown.ttl, undefined, "ttl 0 (the JSON default, left out) for an unknown lease");
  });

  test("CORS: preflights allow Connect and gRPC-Web from any origin; responses expose grpc-status", async () => {
    const origin = "https://dashboard.example.com";
    const pre = await fetch(`${server.url}/conclave.v1.WatchService/Watch`, {
      method: "OPTIONS",
      headers: {
        Origin: origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,connect-protocol-version,x-grpc-web",
      },
    });
    assert.equal(pre.status, 200); // optionsSuccessStatus, as etcd's gateway
    assert.equal(pre.headers.get("access-control-allow-origin"), "*");
    assert.match(pre.headers.get("access-control-allow-methods") ?? "", /POST/);
    const allowed = (pre.headers.get("access-control-allow-headers") ?? "").toLowerCase();
    for (const h of ["content-type", "connect-protocol-version", "x-grpc-web", "grpc-timeout"]) {
      assert.ok(allowed.includes(h), `allows ${h}`);
    }
    const res = await fetch(`${server.url}/etcdserverpb.KV/Range`, {
      method: "POST",
      headers: { Origin: origin, "Content-Type": "application/json" },
      body: JSON.stringify({ key: b64("nothing") }),
    });
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    const exposed = (res.headers.get("access-control-expose-headers") ?? "").toLowerCase();
    assert.ok(exposed.includes("grpc-status") && exposed.includes("grpc-message"));
  });

  test("CORS with --cors: only the listed origins", async () => {
    restricted = await startConclave({ args: ["--cors", "https://dash.example.com"] });
    const preflight = (origin: string) =>
      fetch(`${restricted?.url}/etcdserverpb.KV/Range`, {
        method: "OPTIONS",
        headers: { Origin: origin, "Access-Control-Request-Method": "POST" },
      });
    const ok = await preflight("https://dash.example.com");
    assert.equal(ok.headers.get("access-control-allow-origin"), "https://dash.example.com");
    const other = await preflight("https://elsewhere.example.com");
    assert.equal(other.headers.get("access-control-allow-origin"), null);
  });

  test("@conclave/client over connect-web's gRPC-Web transport: KV, lease, watch, lock, elections", async () => {
    const client = createConclaveClient(createGrpcWebTransport({ baseUrl: server.url }));
    try {
      const lease = await client.grantLease(10);
      await client.put("web/k", "v", { lease });
      assert.equal(toText((await client.get("web/k"))?.value), "v");
      assert.equal(await lease.keepAliveOnce(), 10);

      const start = (await client.put("web/w", "0")).revision;
      const w = client.watch("web/w", { startRevision: start, endRevision: start + 1n });
      const pending = (async () => {
        const revs: bigint[] = [];
        for await (const u of w) {
          if (u.type === "events") revs.push(...u.events.map((e) => e.kv?.modRevision ?? 0n));
        }
        return revs;
      })();
      const next = await client.put("web/w", "1");
      assert.deepEqual(await pending, [start, next.revision]);

      const lock = await client.lock("web/lock", { lease });
      await lock.unlock();

      const e = client.election("web/e");
      const lead = await e.campaign("me", { lease });
      assert.equal(toText((await e.leader())?.value), "me");
      await lead.resign();

      const le = client.leaderElection("web-le");
      await le.enter("a", { lease });
      const events = le.events();
      const it = events[Symbol.asyncIterator]();
      const first = (await it.next()).value;
      assert.deepEqual([first?.reason, first?.term.leader], [EventReason.CURRENT, "a"]);
      events.close();
      await le.withdraw("a");
      await lease.revoke();
      assert.equal(await client.get("web/k"), undefined);
    } finally {
      client.close();
    }
  });
});
