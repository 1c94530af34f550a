// etcd's grpc-gateway JSON API (POST /v3/...) end to end against the conclave
// CLI, over HTTP/1.1 (fetch, node:http for streams) and h2c (node:http2):
// every route group, success and error, and the streams (watch, lease
// keep-alive, election observe). Responses are compared with a real etcd
// 3.4 for the same requests: status, field names and their order, value
// types — ids and revisions are ignored.
import assert from "node:assert/strict";
import { Agent, request as httpRequest, type IncomingMessage } from "node:http";
import { connect as http2Connect } from "node:http2";
import { after, before, describe, test } from "node:test";
import { type RunningServer, startConclave, startEtcd } from "@conclave/testkit";

let conclave: RunningServer;
let etcd: RunningServer;

before(async () => {
  [conclave, etcd] = await Promise.all([startConclave(), startEtcd()]);
});

after(async () => {
  await Promise.all([conclave?.kill(), etcd?.kill()]);
});

const b64 = (s: string) => Buffer.from(s).toString("base64");
const unb64 = (s: string) => Buffer.from(s, "base64").toString();

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies are checked field by field.
type Json = any;

interface GatewayResponse {
  status: number;
  headers: Headers;
  text: string;
  json: Json;
}

/** POSTs a JSON body (an object, or raw text) the way curl does, with any content type. */
async function post(
  server: RunningServer,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<GatewayResponse> {
  const res = await fetch(server.url + path, {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Calls both servers with the same request. */
async function both(path: string, body: unknown, headers: Record<string, string> = {}) {
  const [c, e] = await Promise.all([
    post(conclave, path, body, headers),
    post(etcd, path, body, headers),
  ]);
  return { c, e };
}

/** The structure of a JSON value: field names in order and value types, without the values. */
function shape(v: unknown): string {
  const walk = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.length === 0 ? [] : [walk(x[0])];
    if (x !== null && typeof x === "object") {
      return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, walk(y)]));
    }
    return typeof x;
  };
  return JSON.stringify(walk(v));
}

function assertSameShape(c: GatewayResponse, e: GatewayResponse, what: string) {
  assert.equal(c.status, e.status, `${what}: status (conclave ${c.text} / etcd ${e.text})`);
  assert.equal(shape(c.json), shape(e.json), `${what}: body shape`);
}

function assertError(r: GatewayResponse, status: number, code: number, message?: string) {
  assert.equal(r.status, status, r.text);
  assert.deepEqual(Object.keys(r.json), ["error", "message", "code"]);
  assert.equal(r.json.code, code);
  assert.equal(r.json.error, r.json.message);
  if (message !== undefined) assert.equal(r.json.message, message);
  assert.equal(r.headers.get("content-type"), "application/json");
}

/**
 * A streaming gateway call over HTTP/1.1: the body is sent at once, the
 * response is read line by line as it arrives.
 */
interface StreamCall {
  status: Promise<number>;
  /** The next complete line, parsed; fails after timeoutMs. */
  next(what: string, timeoutMs?: number): Promise<Json>;
  /** Resolves with the text after the last newline once the response ended. */
  ended: Promise<string>;
  close(): void;
}

function openStream(server: RunningServer, path: string, body: string): StreamCall {
  const lines: string[] = [];
  let partial = "";
  let wake: (() => void) | undefined;
  let resolveStatus: (s: number) => void = () => {};
  let resolveEnded: (rest: string) => void = () => {};
  const status = new Promise<number>((r) => {
    resolveStatus = r;
  });
  const ended = new Promise<string>((r) => {
    resolveEnded = r;
  });
  const req = httpRequest(server.url + path, { method: "POST" }, (res: IncomingMessage) => {
    resolveStatus(res.statusCode ?? 0);
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      partial += chunk;
      const parts = partial.split("\n");
      partial = parts.pop() ?? "";
      lines.push(...parts);
      wake?.();
    });
    res.on("end", () => resolveEnded(partial));
    res.on("error", () => resolveEnded(partial));
  });
  req.on("error", () => {});
  req.end(body);
  return {
    status,
    ended,
    async next(what, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (lines.length === 0) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no line for ${what} within ${timeoutMs} ms`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, left);
        });
      }
      return JSON.parse(lines.shift() as string);
    },
    close: () => req.destroy(),
  };
}

describe("kv", () => {
  test("put / range / deleterange round trip, proto field names, int64 as strings", async () => {
    const put = await both("/v3/kv/put", { key: b64("kv/a"), value: b64("1") });
    assertSameShape(put.c, put.e, "put");
    assert.equal(put.c.headers.get("content-type"), "application/json");
    assert.equal(typeof put.c.json.header.revision, "string");
    assert.equal(typeof put.c.json.header.cluster_id, "string");
    await both("/v3/kv/put", { key: b64("kv/b"), value: b64("2") });

    const prev = await both("/v3/kv/put", { key: b64("kv/a"), value: b64("3"), prev_kv: true });
    assertSameShape(prev.c, prev.e, "put prev_kv");
    assert.equal(unb64(prev.c.json.prev_kv.value), "1");

    const range = await both("/v3/kv/range", { key: b64("kv/a") });
    assertSameShape(range.c, range.e, "range");
    const kv = range.c.json.kvs[0];
    assert.equal(unb64(kv.key), "kv/a");
    assert.equal(kv.key, "a3YvYQ=="); // padded base64
    assert.equal(typeof kv.create_revision, "string");
    assert.equal(typeof kv.mod_revision, "string");
    assert.equal(kv.version, "2");
    assert.equal(range.c.json.count, "1");

    // lowerCamel input names and numbers for int64 work as well as proto names.
    for (const body of [
      { key: b64("kv/"), rangeEnd: b64("kv0"), limit: 1, sortOrder: "DESCEND" },
      { key: b64("kv/"), range_end: b64("kv0"), limit: "1", sort_order: 2 },
    ]) {
      const r = await both("/v3/kv/range", body);
      assertSameShape(r.c, r.e, "range rangeEnd");
      assert.equal(r.c.json.kvs.length, 1);
      assert.equal(unb64(r.c.json.kvs[0].key), "kv/b");
      assert.equal(r.c.json.more, true);
      assert.equal(r.c.json.count, "2");
    }

    // Zero values are left out: count_only has no kvs; a miss has no count.
    const countOnly = await both("/v3/kv/range", {
      key: b64("kv/"),
      range_end: b64("kv0"),
      count_only: true,
    });
    assertSameShape(countOnly.c, countOnly.e, "count_only");
    const miss = await both("/v3/kv/range", { key: b64("nothing") });
    assertSameShape(miss.c, miss.e, "miss");
    assert.deepEqual(Object.keys(miss.c.json), ["header"]);

    const del = await both("/v3/kv/deleterange", {
      key: b64("kv/"),
      range_end: b64("kv0"),
      prev_kv: true,
    });
    assertSameShape(del.c, del.e, "deleterange");
    assert.equal(del.c.json.deleted, "2");
    assert.deepEqual(del.c.json.prev_kvs.map((k: Json) => unb64(k.key)).sort(), ["kv/a", "kv/b"]);
  });

  test("txn: compare, success and failure branches, response oneofs", async () => {
    await both("/v3/kv/put", { key: b64("txn/k"), value: b64("v1") });
    const txn = (value: string) => ({
      compare: [{ key: b64("txn/k"), target: "VALUE", result: "EQUAL", value: b64(value) }],
      success: [
        { request_put: { key: b64("txn/k"), value: b64("v2") } },
        { requestRange: { key: b64("txn/k") } },
      ],
      failure: [{ request_delete_range: { key: b64("txn/other") } }],
    });
    const ok = await both("/v3/kv/txn", txn("v1"));
    assertSameShape(ok.c, ok.e, "txn success");
    assert.equal(ok.c.json.succeeded, true);
    assert.deepEqual(Object.keys(ok.c.json.responses[0]), ["response_put"]);
    assert.equal(unb64(ok.c.json.responses[1].response_range.kvs[0].value), "v2");

    const failed = await both("/v3/kv/txn", txn("v1"));
    assertSameShape(failed.c, failed.e, "txn failure");
    assert.equal(failed.c.json.succeeded, undefined);
    assert.deepEqual(Object.keys(failed.c.json.responses[0]), ["response_delete_range"]);
  });

  test("compaction, then a compacted revision is OutOfRange (400, code 11)", async () => {
    for (let i = 0; i < 3; i++) await both("/v3/kv/put", { key: b64("cmp"), value: b64(`${i}`) });
    const [cr, er] = await Promise.all([
      post(conclave, "/v3/kv/range", { key: b64("cmp") }),
      post(etcd, "/v3/kv/range", { key: b64("cmp") }),
    ]);
    const cRev = Number(cr.json.header.revision);
    const eRev = Number(er.json.header.revision);
    const [cc, ec] = await Promise.all([
      post(conclave, "/v3/kv/compaction", { revision: String(cRev - 1), physical: true }),
      post(etcd, "/v3/kv/compaction", { revision: String(eRev - 1), physical: true }),
    ]);
    assertSameShape(cc, ec, "compaction");
    const [c, e] = await Promise.all([
      post(conclave, "/v3/kv/range", { key: b64("cmp"), revision: cRev - 2 }),
      post(etcd, "/v3/kv/range", { key: b64("cmp"), revision: eRev - 2 }),
    ]);
    assertError(c, 400, 11, "etcdserver: mvcc: required revision has been compacted");
    assert.equal(c.text, e.text);
    assert.equal(c.status, e.status);
  });

  test("errors: empty key, malformed JSON, future revision — as etcd", async () => {
    const empty = await both("/v3/kv/put", { key: "", value: b64("x") });
    assertError(empty.c, 400, 3, "etcdserver: key is not provided");
    assert.equal(empty.c.text, empty.e.text);

    // An empty body is an empty request.
    const none = await both("/v3/kv/range", "");
    assertError(none.c, 400, 3, "etcdserver: key is not provided");
    assert.equal(none.c.text, none.e.text);

    const truncated = await both("/v3/kv/range", '{"key":"Zm9v"');
    assertError(truncated.c, 400, 3, "unexpected EOF");
    assert.equal(truncated.c.text, truncated.e.text);

    // Go's decoder reads the first value only: trailing text is ignored.
    const trailing = await both("/v3/kv/range", `{"key":"${b64("nothing")}"} trailing`);
    assertSameShape(trailing.c, trailing.e, "trailing text");

    const badType = await both("/v3/kv/range", '{"key":5}');
    assertError(badType.c, 400, 3);
    assertError(badType.e, 400, 3);

    const future = await both("/v3/kv/range", { key: b64("k"), revision: "1000000" });
    assertError(future.c, 400, 11, "etcdserver: mvcc: required revision is a future revision");
    assert.equal(future.c.text, future.e.text);
  });

  test("curl -d: a form content type (or none, or a bogus one) is read as JSON", async () => {
    for (const contentType of [
      "application/x-www-form-urlencoded",
      "application/json",
      "text/plain",
      "text",
    ]) {
      const r = await both(
        "/v3/kv/put",
        { key: b64("curl"), value: b64(contentType) },
        {
          "content-type": contentType,
        },
      );
      assertSameShape(r.c, r.e, contentType);
      const got = await post(conclave, "/v3/kv/range", { key: b64("curl") });
      assert.equal(unb64(got.json.kvs[0].value), contentType);
    }
  });

  test("/v3beta and /v3alpha prefixes; unknown paths and methods as grpc-gateway", async () => {
    await post(conclave, "/v3/kv/put", { key: b64("beta"), value: b64("b") });
    for (const prefix of ["/v3beta", "/v3alpha"]) {
      const r = await post(conclave, `${prefix}/kv/range`, { key: b64("beta") });
      assert.equal(r.status, 200);
      assert.equal(unb64(r.json.kvs[0].value), "b");
    }
    const beta = await both("/v3beta/kv/range", { key: b64("beta") });
    assert.equal(beta.c.status, beta.e.status);

    const unknown = await both("/v3/kv/nope", {});
    assert.equal(unknown.c.status, 404);
    assert.equal(unknown.c.text, unknown.e.text);
    const [cGet, eGet] = await Promise.all(
      [conclave, etcd].map((s) => fetch(`${s.url}/v3/kv/range`)),
    );
    assert.equal(cGet?.status, 405);
    assert.equal(await cGet?.text(), await eGet?.text());
    const [cOpt, eOpt] = await Promise.all(
      [conclave, etcd].map((s) => fetch(`${s.url}/v3/kv/range`, { method: "OPTIONS" })),
    );
    assert.equal(cOpt?.status, eOpt?.status);
    assert.equal(cOpt?.headers.get("access-control-allow-origin"), "*");
  });

  test("Grpc-Timeout: an expired deadline is DeadlineExceeded (504), as etcd", async () => {
    const r = await both("/v3/kv/range", { key: b64("k") }, { "grpc-timeout": "1n" });
    assertError(r.c, 504, 4, "context deadline exceeded");
    assert.equal(r.c.text, r.e.text);
  });

  test("HTTP/1.1 keep-alive: every answer on one connection keeps it open, as etcd's", async () => {
    // Node's parser ran the call between a body and the end of its message
    // on a reused connection, so every second answer said "Connection: close".
    const cases = [
      { path: "/v3/kv/range", body: { key: b64("k") }, status: 200 },
      { path: "/v3/kv/put", body: { key: b64("k"), value: b64("v") }, status: 200 },
      { path: "/v3/kv/put", body: { key: "" }, status: 400 },
      { path: "/v3/kv/range", body: { key: b64("k") }, status: 200 },
    ];
    for (const server of [conclave, etcd]) {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const sockets = new Set<unknown>();
      try {
        for (const c of cases) {
          const res = await new Promise<IncomingMessage>((resolve, reject) => {
            const req = httpRequest(`${server.url}${c.path}`, { method: "POST", agent }, resolve);
            req.on("socket", (s) => sockets.add(s));
            req.on("error", reject);
            req.end(JSON.stringify(c.body));
          });
          res.resume();
          await new Promise((r) => res.on("end", r));
          assert.equal(res.statusCode, c.status, `${server.url}${c.path}`);
          assert.equal(res.headers.connection ?? "keep-alive", "keep-alive", c.path);
        }
        assert.equal(sockets.size, 1, `${server.url}: one connection for all`);
      } finally {
        agent.destroy();
      }
    }
  });

  test("the Connect routes still parse their own JSON on the same port", async () => {
    const r = await fetch(`${conclave.url}/etcdserverpb.KV/Range`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: b64("beta") }),
    });
    assert.equal(r.status, 200);
    const json = (await r.json()) as Json;
    assert.equal(typeof json.kvs[0].createRevision, "string");
  });
});

describe("lease", () => {
  test("grant / timetolive (+ /v3/kv/lease alias) / leases / revoke", async () => {
    const grant = await both("/v3/lease/grant", { TTL: 60 });
    assertSameShape(grant.c, grant.e, "grant");
    const id = grant.c.json.ID;
    assert.match(id, /^\d+$/);
    assert.equal(grant.c.json.TTL, "60");
    await post(conclave, "/v3/kv/put", { key: b64("leased"), value: b64("v"), lease: id });
    await post(etcd, "/v3/kv/put", { key: b64("leased"), value: b64("v"), lease: grant.e.json.ID });

    for (const path of ["/v3/lease/timetolive", "/v3/kv/lease/timetolive"]) {
      const [c, e] = await Promise.all([
        post(conclave, path, { ID: id, keys: true }),
        post(etcd, path, { ID: grant.e.json.ID, keys: true }),
      ]);
      assertSameShape(c, e, path);
      assert.equal(c.json.grantedTTL, "60");
      assert.deepEqual(c.json.keys.map(unb64), ["leased"]);
    }

    for (const path of ["/v3/lease/leases", "/v3/kv/lease/leases"]) {
      const { c, e } = await both(path, {});
      assertSameShape(c, e, path);
      assert.ok(c.json.leases.some((l: Json) => l.ID === id));
    }

    const [rc, re] = await Promise.all([
      post(conclave, "/v3/lease/revoke", { ID: id }),
      post(etcd, "/v3/kv/lease/revoke", { ID: grant.e.json.ID }),
    ]);
    assertSameShape(rc, re, "revoke");
    const gone = await post(conclave, "/v3/kv/range", { key: b64("leased") });
    assert.equal(gone.json.kvs, undefined);
  });

  test("errors: unknown lease (404, code 5), existing lease ID (412, code 9)", async () => {
    const revoke = await both("/v3/lease/revoke", { ID: "123456" });
    assertError(revoke.c, 404, 5, "etcdserver: requested lease not found");
    assert.equal(revoke.c.text, revoke.e.text);

    const put = await both("/v3/kv/put", { key: b64("x"), lease: "123456" });
    assertError(put.c, 404, 5);
    assert.equal(put.c.text, put.e.text);

    await both("/v3/lease/grant", { ID: "777", TTL: "60" });
    const dup = await both("/v3/lease/grant", { ID: "777", TTL: "60" });
    assertError(dup.c, 412, 9, "etcdserver: lease already exists");
    assert.equal(dup.c.text, dup.e.text);

    const ttl = await both("/v3/lease/timetolive", { ID: "123456" });
    assertSameShape(ttl.c, ttl.e, "timetolive of unknown lease");
    assert.equal(ttl.c.json.TTL, "-1");
  });

  test("keepalive: two concatenated requests, two result lines, then the response ends", async () => {
    const [gc, ge] = await Promise.all([
      post(conclave, "/v3/lease/grant", { TTL: 30 }),
      post(etcd, "/v3/lease/grant", { TTL: 30 }),
    ]);
    const results: Json[][] = [];
    for (const [server, id] of [
      [conclave, gc.json.ID],
      [etcd, ge.json.ID],
    ] as const) {
      const s = openStream(server, "/v3/lease/keepalive", `{"ID":"${id}"}\n{"ID":${id}}`);
      assert.equal(await s.status, 200);
      const lines = [await s.next("keepalive 1"), await s.next("keepalive 2")];
      assert.equal(await s.ended, "");
      results.push(lines);
      for (const line of lines) {
        assert.deepEqual(Object.keys(line), ["result"]);
        assert.equal(line.result.ID, id);
        assert.equal(line.result.TTL, "30");
      }
    }
    assert.equal(shape(results[0]), shape(results[1]));

    // An unknown lease: TTL left out (0), no error.
    const s = openStream(conclave, "/v3/lease/keepalive", '{"ID":"99999"}');
    const line = await s.next("unknown lease");
    assert.equal(line.result.TTL, undefined);
    assert.equal(await s.ended, "");

    // A body that is not JSON: a plain error, Unknown (500), as etcd.
    const bad = await both("/v3/lease/keepalive", '{"ID":');
    assertError(bad.c, 500, 2, "unexpected EOF");
    assert.equal(bad.c.text, bad.e.text);
  });
});

describe("watch", () => {
  test("two creates in one body: created lines first, then events as another client writes", async () => {
    const created: Json[][] = [];
    const events: Json[][] = [];
    for (const server of [conclave, etcd]) {
      const s = openStream(
        server,
        "/v3/watch",
        `{"create_request":{"key":"${b64("w/a")}"}}{"create_request":{"key":"${b64("w/")}","range_end":"${b64("w0")}","prev_kv":true}}`,
      );
      assert.equal(await s.status, 200);
      const first = await s.next("created 0");
      const second = await s.next("created 1");
      created.push([first, second]);
      assert.equal(first.result.created, true);
      assert.equal(first.result.watch_id, undefined); // 0 is left out
      assert.equal(second.result.watch_id, "1");

      await post(server, "/v3/kv/put", { key: b64("w/a"), value: b64("1") });
      await post(server, "/v3/kv/put", { key: b64("w/a"), value: b64("2") });
      await post(server, "/v3/kv/deleterange", { key: b64("w/a") });
      const got: Json[] = [];
      while (got.length < 6) got.push(await s.next(`event ${got.length}`));
      events.push(got);
      // Per watcher, events come in revision order.
      for (const id of [undefined, "1"]) {
        const mine = got.filter((l) => l.result.watch_id === id);
        assert.equal(mine.length, 3);
        assert.deepEqual(
          mine.map((l) => l.result.events[0].type),
          [undefined, undefined, "DELETE"],
        );
        assert.equal(unb64(mine[1].result.events[0].kv.value), "2");
      }
      const withPrev = got.filter((l) => l.result.watch_id === "1");
      assert.equal(unb64(withPrev[1].result.events[0].prev_kv.value), "1");
      s.close();
    }
    assert.equal(shape(created[0]), shape(created[1]));
    const byWatcher = (lines: Json[]) =>
      [undefined, "1"].map((id) => lines.filter((l) => l.result.watch_id === id));
    assert.equal(shape(byWatcher(events[0] ?? [])), shape(byWatcher(events[1] ?? [])));
  });

  test("the watch stays open after the body ended; history from start_revision", async () => {
    const rev = (await post(conclave, "/v3/kv/put", { key: b64("hist"), value: b64("a") })).json
      .header.revision;
    await post(conclave, "/v3/kv/put", { key: b64("hist"), value: b64("b") });
    const s = openStream(
      conclave,
      "/v3/watch",
      `{"create_request":{"key":"${b64("hist")}","start_revision":"${rev}"}}`,
    );
    assert.equal((await s.next("created")).result.created, true);
    const history = await s.next("history");
    assert.deepEqual(
      history.result.events.map((e: Json) => unb64(e.kv.value)),
      ["a", "b"],
    );
    await new Promise((r) => setTimeout(r, 300));
    await post(conclave, "/v3/kv/put", { key: b64("hist"), value: b64("c") });
    const later = await s.next("event after the body ended");
    assert.equal(unb64(later.result.events[0].kv.value), "c");
    s.close();
  });
});

describe("maintenance and cluster", () => {
  test("status, member list, hash", async () => {
    const status = await both("/v3/maintenance/status", {});
    assert.equal(status.c.status, 200);
    // etcd's own (camelCase) proto names are kept.
    for (const field of ["header", "version", "dbSize", "leader", "raftIndex", "raftTerm"]) {
      assert.ok(field in status.c.json, `status has ${field}`);
      assert.ok(field in status.e.json, `etcd status has ${field}`);
    }
    const members = await both("/v3/cluster/member/list", {});
    assert.equal(members.c.status, 200);
    const [me] = members.c.json.members;
    assert.match(me.ID, /^\d+$/);
    assert.deepEqual(me.clientURLs, [conclave.url]);
    assert.ok(Object.keys(me).every((k) => Object.keys(members.e.json.members[0]).includes(k)));

    const hash = await both("/v3/maintenance/hash", {});
    assertSameShape(hash.c, hash.e, "hash");
    assert.equal(typeof hash.c.json.hash, "number"); // uint32: a JSON number
  });

  test("snapshot streams result lines with base64 blobs", async () => {
    const s = openStream(conclave, "/v3/maintenance/snapshot", "{}");
    assert.equal(await s.status, 200);
    const first = await s.next("snapshot chunk", 10_000);
    assert.equal(typeof first.result.blob, "string");
    assert.ok(Buffer.from(first.result.blob, "base64").length > 0);
    await s.ended;
  });

  test("every other route answers JSON, errors with the status of their code", async () => {
    // Whatever is implemented yet: a 200 with a JSON object, or an error
    // whose HTTP status is grpc-gateway's for its code (501 Unimplemented…).
    const statusOf: Record<number, number> = {
      2: 500,
      3: 400,
      5: 404,
      6: 409,
      7: 403,
      9: 412,
      11: 400,
      12: 501,
      14: 503,
      16: 401,
    };
    for (const path of [
      "/v3/maintenance/alarm",
      "/v3/maintenance/defragment",
      "/v3/maintenance/hashkv",
      "/v3/maintenance/transfer-leadership",
      "/v3/cluster/member/add",
      "/v3/cluster/member/remove",
      "/v3/cluster/member/update",
      "/v3/cluster/member/promote",
      "/v3/auth/authenticate",
      "/v3/auth/user/get",
      "/v3/auth/user/list",
      "/v3/auth/user/add",
      "/v3/auth/user/delete",
      "/v3/auth/user/changepw",
      "/v3/auth/user/grant",
      "/v3/auth/user/revoke",
      "/v3/auth/role/add",
      "/v3/auth/role/get",
      "/v3/auth/role/list",
      "/v3/auth/role/delete",
      "/v3/auth/role/grant",
      "/v3/auth/role/revoke",
      "/v3/auth/disable",
    ]) {
      const r = await post(conclave, path, {});
      assert.equal(r.headers.get("content-type"), "application/json", path);
      if (r.status === 200) {
        assert.equal(typeof r.json, "object", path);
        continue;
      }
      assert.deepEqual(Object.keys(r.json), ["error", "message", "code"], path);
      assert.equal(r.status, statusOf[r.json.code], `${path}: ${r.text}`);
    }
  });
});

describe("lock and election", () => {
  test("lock / unlock", async () => {
    const [gc, ge] = await Promise.all([
      post(conclave, "/v3/lease/grant", { TTL: 30 }),
      post(etcd, "/v3/lease/grant", { TTL: 30 }),
    ]);
    const [lc, le] = await Promise.all([
      post(conclave, "/v3/lock/lock", { name: b64("lk"), lease: gc.json.ID }),
      post(etcd, "/v3/lock/lock", { name: b64("lk"), lease: ge.json.ID }),
    ]);
    assertSameShape(lc, le, "lock");
    assert.ok(unb64(lc.json.key).startsWith("lk/"));
    const [uc, ue] = await Promise.all([
      post(conclave, "/v3/lock/unlock", { key: lc.json.key }),
      post(etcd, "/v3/lock/unlock", { key: le.json.key }),
    ]);
    assertSameShape(uc, ue, "unlock");
    const gone = await post(conclave, "/v3/kv/range", { key: lc.json.key });
    assert.equal(gone.json.kvs, undefined);
  });

  test("campaign / leader / observe / proclaim / resign", async () => {
    const leaders: Json[] = [];
    for (const server of [conclave, etcd]) {
      const noLeader = await post(server, "/v3/election/leader", { name: b64("nobody") });
      assertError(noLeader, 500, 2, "election: no leader");

      const lease = (await post(server, "/v3/lease/grant", { TTL: 30 })).json.ID;
      const campaign = await post(server, "/v3/election/campaign", {
        name: b64("el"),
        value: b64("v1"),
        lease,
      });
      assert.equal(campaign.status, 200, campaign.text);
      const leader = campaign.json.leader;
      assert.equal(unb64(leader.name), "el");
      assert.equal(leader.lease, lease);

      const observe = openStream(
        server,
        "/v3/election/observe",
        JSON.stringify({ name: b64("el") }),
      );
      const current = await observe.next("observe current leader");
      assert.equal(unb64(current.result.kv.value), "v1");

      const proclaim = await post(server, "/v3/election/proclaim", {
        leader,
        value: b64("v2"),
      });
      assert.equal(proclaim.status, 200, proclaim.text);
      const changed = await observe.next("observe proclaim");
      assert.equal(unb64(changed.result.kv.value), "v2");

      const got = await post(server, "/v3/election/leader", { name: b64("el") });
      assert.equal(unb64(got.json.kv.value), "v2");
      leaders.push([campaign.json, current, got.json]);

      const resign = await post(server, "/v3/election/resign", { leader });
      assert.equal(resign.status, 200, resign.text);
      observe.close();
      const after = await post(server, "/v3/election/leader", { name: b64("el") });
      assertError(after, 500, 2, "election: no leader");
    }
    assert.equal(shape(leaders[0]), shape(leaders[1]));
  });
});

describe("HTTP/2 (h2c) on the same port", () => {
  test("unary and a streaming call", async () => {
    const session = http2Connect(conclave.url);
    try {
      const call = (path: string, body: string) =>
        new Promise<{ status: number; text: string }>((resolve, reject) => {
          const req = session.request({ ":method": "POST", ":path": path });
          let status = 0;
          let text = "";
          req.setEncoding("utf8");
          req.on("response", (h) => {
            status = Number(h[":status"]);
          });
          req.on("data", (d: string) => {
            text += d;
          });
          req.on("end", () => resolve({ status, text }));
          req.on("error", reject);
          req.end(body);
        });
      await call("/v3/kv/put", JSON.stringify({ key: b64("h2"), value: b64("yes") }));
      const range = await call("/v3/kv/range", JSON.stringify({ key: b64("h2") }));
      assert.equal(range.status, 200);
      assert.equal(unb64(JSON.parse(range.text).kvs[0].value), "yes");

      const lease = JSON.parse((await call("/v3/lease/grant", '{"TTL":20}')).text).ID;
      const ka = await call("/v3/lease/keepalive", `{"ID":"${lease}"}{"ID":"${lease}"}`);
      assert.equal(ka.status, 200);
      const lines = ka.text.split("\n");
      assert.equal(lines.pop(), "");
      assert.equal(lines.length, 2);
      for (const l of lines) assert.equal(JSON.parse(l).result.TTL, "20");

      const err = await call("/v3/kv/put", '{"key":""}');
      assert.equal(err.status, 400);
      assert.equal(JSON.parse(err.text).code, 3);
    } finally {
      session.close();
    }
  });
});
