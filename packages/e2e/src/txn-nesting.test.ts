// Nested txns against a real etcd 3.4.23. etcd's only bound on nesting is
// its op budget: with max-txn-ops 128 each level holding a txn spends one
// op, so it runs a txn 128 levels deep ending in a put and 129 levels deep
// ending in an empty txn, and answers one level more with InvalidArgument
// "etcdserver: too many operations in txn request". Conclave must answer
// every depth as etcd does — over gRPC, and over etcd's JSON gateway on
// both — and its other protocols (gRPC-Web, Connect binary and JSON) as
// etcd answers gRPC. protobuf-es's default decoder limit once refused
// anything past 49 levels with Internal "maximum recursion depth"; and
// a txn deeper than Conclave's decoders go (600, 100,000 levels) once got
// Internal too, where etcd decodes it and answers "too many operations" (or
// the error of a check its walk meets first) — now on every door, and over
// the gateway as etcd's gateway answers.

import assert from "node:assert/strict";
import { connect } from "node:http2";
import { after, before, describe, test } from "node:test";
import { create, toBinary, toJson } from "@bufbuild/protobuf";
import {
  CompareSchema,
  KV,
  type RequestOp,
  RequestOpSchema,
  type TxnRequest,
  TxnRequestSchema,
} from "@conclave/proto";
import { deepTxnBytes, type RunningServer, startConclave, startEtcd } from "@conclave/testkit";
import { Code, createClient } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { bytes } from "./clients.js";
import type { Op } from "./differential-gen.js";
import {
  describeOutcome,
  kvClient,
  kvTransportOptions,
  sameOutcome,
  send,
} from "./differential-run.js";

/** A txn `levels` deep: each level holds only the next; the innermost a put of `key`, or nothing. */
function nested(levels: number, key: string | undefined): TxnRequest {
  const inner: RequestOp[] =
    key === undefined
      ? []
      : [
          {
            request: { case: "requestPut", value: { key: bytes(key), value: bytes("v") } },
          } as RequestOp,
        ];
  let t = create(TxnRequestSchema, { success: inner });
  for (let i = 1; i < levels; i++) {
    t = create(TxnRequestSchema, { success: [{ request: { case: "requestTxn", value: t } }] });
  }
  return t;
}

/** One unary gRPC call over h2c with a raw message; the grpc-status and grpc-message. */
async function grpcUnary(
  baseUrl: string,
  path: string,
  message: Uint8Array,
  contentType = "application/grpc",
) {
  const session = connect(baseUrl);
  try {
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": contentType,
      te: "trailers",
    });
    req.end(frame);
    return await new Promise<{ status: string; message: string }>((resolve, reject) => {
      const found: Record<string, string> = {};
      const take = (h: Record<string, unknown>) => {
        for (const k of ["grpc-status", "grpc-message"]) {
          if (typeof h[k] === "string") found[k] = h[k] as string;
        }
      };
      req.on("response", take);
      req.on("trailers", take);
      req.on("data", () => {});
      req.on("error", reject);
      req.on("end", () =>
        resolve({
          status: found["grpc-status"] ?? "",
          message: decodeURIComponent(found["grpc-message"] ?? ""),
        }),
      );
    });
  } finally {
    session.close();
  }
}

const enc = new TextEncoder();
const txnPath = "/etcdserverpb.KV/Txn";

/** One gRPC-Web call (HTTP/1.1) with a raw message: the status from the headers or the trailer frame. */
async function grpcWebUnary(baseUrl: string, path: string, message: Uint8Array) {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  const res = await fetch(baseUrl + path, {
    method: "POST",
    headers: { "content-type": "application/grpc-web+proto" },
    body: frame,
  });
  const body = Buffer.from(await res.arrayBuffer());
  const found: Record<string, string> = {};
  for (const k of ["grpc-status", "grpc-message"]) {
    const v = res.headers.get(k);
    if (v !== null) found[k] = v;
  }
  for (let at = 0; at + 5 <= body.length; at += 5 + body.readUInt32BE(at + 1)) {
    if (((body[at] as number) & 0x80) === 0) continue;
    const text = body.subarray(at + 5, at + 5 + body.readUInt32BE(at + 1)).toString();
    for (const line of text.split("\r\n")) {
      const i = line.indexOf(":");
      if (i > 0) found[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
  }
  return {
    status: found["grpc-status"] ?? "",
    message: decodeURIComponent(found["grpc-message"] ?? ""),
  };
}

/**
 * One Connect unary call with a raw body: the error as a gRPC status. With
 * `router`, a timeout header makes Connect's router serve it (the unary fast
 * path leaves such calls to it).
 */
async function connectUnary(
  baseUrl: string,
  body: Uint8Array,
  contentType: string,
  router: boolean,
) {
  const res = await fetch(baseUrl + txnPath, {
    method: "POST",
    headers: { "content-type": contentType, ...(router && { "connect-timeout-ms": "60000" }) },
    body,
  });
  const j = (await res.json()) as { code?: string; message?: string };
  const code = Object.entries(Code).find(
    ([name]) => name.replace(/[A-Z]/g, (c, i) => (i === 0 ? c : `_${c}`)).toLowerCase() === j.code,
  );
  return {
    status: code === undefined ? `HTTP ${res.status}` : String(code[1]),
    message: j.message ?? "",
  };
}

/**
 * One call of the JSON gateway's /v3/kv/txn: status and body, without the ids
 * of the header.
 *
 * Both gateways stop reading a body nested past Go's JSON max depth (10,000)
 * and answer at once, then close the connection with the rest unread (etcd's
 * Go server after reading at most 256 KiB more): a client still sending a
 * 2.9 MB body may get a reset (EPIPE, ECONNRESET) instead of the answer. That
 * is the transport, on either server, not the answer compared here: such a
 * call is sent again, up to three times.
 */
async function gatewayTxn(baseUrl: string, body: string) {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(`${baseUrl}/v3/kv/txn`, { method: "POST", body });
      const text = await res.text();
      return {
        status: res.status,
        body: text.replace(/"(cluster_id|member_id|raft_term)":"\d+",?/g, ""),
      };
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code;
      if (attempt >= 3 || (code !== "EPIPE" && code !== "ECONNRESET")) throw err;
    }
  }
}

/** nested(levels) with an empty innermost txn, as JSON text (built without recursion). */
const deepTxnJson = (levels: number) =>
  `${'{"success":[{"requestTxn":'.repeat(levels - 1)}{}${"}]}".repeat(levels - 1)}`;

/** etcd's gRPC receive limit: --max-request-bytes (1.5 MiB) + 512 KiB. */
const grpcMaxRecv = 2 * 1024 * 1024;

const tooManyOps = { status: "3", message: "etcdserver: too many operations in txn request" };

/**
 * Txns deeper than protobuf decoders go (Conclave's stops at 513 levels):
 * etcd decodes any depth and its depth-first check answers — "too many
 * operations" where the budget runs out, or an earlier check's error. Over
 * its gateway, Go's JSON decoder stops at 10,000 nested values (3,334 txn
 * levels) with a syntax error of its own.
 */
const farCases: Array<{
  name: string;
  binary: () => Uint8Array;
  json: () => string;
  /** What etcd must answer over gRPC, where known. */
  etcd?: { status: string; message: string };
}> = [
  ...[514, 600, 3_334, 3_335, 60_000, 100_000].map((levels) => ({
    name: `${levels} levels`,
    binary: () => deepTxnBytes(levels),
    json: () => deepTxnJson(levels),
    etcd: tooManyOps,
  })),
  {
    name: "600 levels, an empty compare key at level 3",
    ...(() => {
      const t = nested(600, undefined);
      let level3 = t;
      for (let i = 1; i < 3; i++) {
        const op = level3.success[0];
        if (op?.request.case !== "requestTxn") throw new Error("not nested");
        level3 = op.request.value;
      }
      level3.compare.push(create(CompareSchema, { key: new Uint8Array(0) }));
      return {
        binary: () => toBinary(TxnRequestSchema, t),
        json: () => JSON.stringify(toJson(TxnRequestSchema, t)),
      };
    })(),
    etcd: { status: "3", message: "etcdserver: key is not provided" },
  },
  {
    name: "600 levels, a put with an empty key after the nested op at level 1",
    ...(() => {
      const t = nested(600, undefined);
      t.success.push(
        create(RequestOpSchema, {
          request: { case: "requestPut", value: { key: new Uint8Array(0) } },
        }),
      );
      return {
        binary: () => toBinary(TxnRequestSchema, t),
        json: () => JSON.stringify(toJson(TxnRequestSchema, t)),
      };
    })(),
    etcd: tooManyOps,
  },
];

/** Depths around protobuf-es's old limit, the one the task named, and etcd's real bound. */
const cases: Array<{ levels: number; put: boolean }> = [
  ...[1, 49, 50, 51, 100, 101, 102, 127, 128, 129, 130, 200].map((levels) => ({
    levels,
    put: true,
  })),
  ...[50, 101, 102, 128, 129, 130, 131, 300].map((levels) => ({ levels, put: false })),
];

let etcd: RunningServer;
let conclave: RunningServer;

before(async () => {
  [etcd, conclave] = await Promise.all([startEtcd(), startConclave()]);
});
after(async () => {
  await Promise.all([etcd?.stop(), conclave?.stop()]);
});

describe("nested txns answer as etcd 3.4.23 answers", () => {
  test("gRPC: every depth, one request after the other on both", async () => {
    const [e, c] = [kvClient(etcd.url), kvClient(conclave.url)];
    for (const { levels, put } of cases) {
      const op: Op = { kind: "txn", req: nested(levels, put ? `k${levels}` : undefined) };
      const [eo, co] = [await send(e, op), await send(c, op)];
      assert.ok(
        sameOutcome(eo, co),
        `${levels} levels${put ? " + put" : ""}:\netcd ${describeOutcome(eo)}\nconclave ${describeOutcome(co)}`,
      );
      if (levels === 129 && put) {
        assert.deepEqual(eo, {
          ok: false,
          code: "InvalidArgument",
          message: "etcdserver: too many operations in txn request",
        });
      }
      if (levels === 129 && !put) assert.equal(eo.ok, true, "etcd runs 129 levels ending empty");
    }
  });

  test("gRPC-Web and Connect (binary, JSON) on Conclave answer as etcd's gRPC", async () => {
    const e = kvClient(etcd.url);
    const transports = {
      "grpc-web": createGrpcWebTransport({
        baseUrl: conclave.url,
        httpVersion: "1.1",
        ...kvTransportOptions,
      }),
      "connect-binary": createConnectTransport({
        baseUrl: conclave.url,
        httpVersion: "1.1",
        useBinaryFormat: true,
        ...kvTransportOptions,
      }),
      "connect-json": createConnectTransport({
        baseUrl: conclave.url,
        httpVersion: "1.1",
        ...kvTransportOptions,
      }),
      grpc: createGrpcTransport({ baseUrl: conclave.url, ...kvTransportOptions }),
    };
    // Read-only ends (no revision bump), so every protocol sees the same state.
    for (const { levels, put } of cases.filter((x) => !x.put)) {
      const op: Op = { kind: "txn", req: nested(levels, put ? "k" : undefined) };
      const eo = await send(e, op);
      for (const [name, transport] of Object.entries(transports)) {
        const co = await send(createClient(KV, transport), op);
        assert.ok(
          sameOutcome(eo, co),
          `${name}, ${levels} levels:\netcd ${describeOutcome(eo)}\nconclave ${describeOutcome(co)}`,
        );
      }
    }
  });

  test("etcd's JSON gateway (/v3/kv/txn) on both", async () => {
    for (const { levels, put } of cases.filter((x) => !x.put)) {
      const body = JSON.stringify(toJson(TxnRequestSchema, nested(levels, put ? "k" : undefined)));
      const [er, cr] = await Promise.all(
        [etcd, conclave].map((s) => fetch(`${s.url}/v3/kv/txn`, { method: "POST", body })),
      );
      const [ej, cj] = [(await er?.json()) as object, (await cr?.json()) as object];
      assert.equal(cr?.status, er?.status, `${levels} levels: HTTP status`);
      const strip = (j: object) =>
        JSON.stringify(j).replace(/"(cluster_id|member_id|raft_term)":"\d+",?/g, "");
      assert.equal(strip(cj), strip(ej), `${levels} levels`);
    }
  });

  test("txns far deeper than any etcd would run: etcd's answer on every door", async () => {
    for (const c of farCases) {
      const binary = c.binary();
      const json = c.json();
      const etcdGrpc = await grpcUnary(etcd.url, txnPath, binary);
      const [etcdGateway, conclaveGateway] = await Promise.all(
        [etcd, conclave].map((s) => gatewayTxn(s.url, json)),
      );
      if (c.etcd !== undefined) {
        assert.deepEqual(etcdGrpc, c.etcd, `${c.name}: what etcd answers over gRPC`);
      }
      assert.deepEqual(conclaveGateway, etcdGateway, `${c.name}: the JSON gateway`);
      const doors: Record<string, () => Promise<{ status: string; message: string }>> = {
        gRPC: () => grpcUnary(conclave.url, txnPath, binary),
        // Connect's gRPC handler: the direct path takes only these exact content types.
        "gRPC, Connect's handler": () =>
          grpcUnary(conclave.url, txnPath, binary, "application/GRPC+proto"),
        "gRPC JSON": () =>
          grpcUnary(conclave.url, txnPath, enc.encode(json), "application/grpc+json"),
        "gRPC-Web": () => grpcWebUnary(conclave.url, txnPath, binary),
        "Connect binary": () => connectUnary(conclave.url, binary, "application/proto", false),
        "Connect JSON": () =>
          connectUnary(conclave.url, enc.encode(json), "application/json", false),
        "Connect binary, Connect's router": () =>
          connectUnary(conclave.url, binary, "application/proto", true),
        "Connect JSON, Connect's router": () =>
          connectUnary(conclave.url, enc.encode(json), "application/json", true),
      };
      for (const [door, send] of Object.entries(doors)) {
        // 100,000 levels as JSON is 2.9 MB, over the 2 MiB every door takes:
        // refused by size as any request that large (60,000 levels fit).
        if (door.includes("JSON") && json.length > grpcMaxRecv) continue;
        assert.deepEqual(await send(), etcdGrpc, `${c.name}, ${door}`);
      }
    }
    const c = createClient(KV, createGrpcTransport({ baseUrl: conclave.url }));
    assert.equal((await c.range({ key: bytes("k1") })).count, 1n);
  });
});
