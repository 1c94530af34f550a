// Nested txns against a real etcd 3.4.23. etcd's only bound on nesting is
// its op budget: with max-txn-ops 128 each level holding a txn spends one
// op, so it runs a txn 128 levels deep ending in a put and 129 levels deep
// ending in an empty txn, and answers one level more with InvalidArgument
// "etcdserver: too many operations in txn request". Conclave must answer
// every depth as etcd does — over gRPC, and over etcd's JSON gateway on
// both — and its other protocols (gRPC-Web, Connect binary and JSON) as
// etcd answers gRPC. protobuf-es's default decoder limit once refused
// anything past 49 levels with Internal "maximum recursion depth".

import assert from "node:assert/strict";
import { connect } from "node:http2";
import { after, before, describe, test } from "node:test";
import { create, toJson } from "@bufbuild/protobuf";
import { KV, type RequestOp, type TxnRequest, TxnRequestSchema } from "@conclave/proto";
import { type RunningServer, startConclave, startEtcd } from "@conclave/testkit";
import { createClient } from "@connectrpc/connect";
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

const varintLength = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4);

/**
 * The binary TxnRequest of {@link nested}(levels) with an empty innermost
 * txn, written outside-in: TxnRequest.success (field 2) holds a RequestOp
 * whose request_txn (field 4) holds the next level.
 */
function deepTxnBytes(levels: number): Uint8Array {
  const txnLength = [0]; // by level from the inside
  const opLength = [0];
  for (let i = 1; i < levels; i++) {
    const inner = txnLength[i - 1] as number;
    opLength[i] = 1 + varintLength(inner) + inner;
    txnLength[i] = 1 + varintLength(opLength[i] as number) + (opLength[i] as number);
  }
  const out = new Uint8Array(txnLength[levels - 1] as number);
  let at = 0;
  const varint = (n: number) => {
    let v = n;
    while (v >= 0x80) {
      out[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    out[at++] = v;
  };
  for (let i = levels - 1; i >= 1; i--) {
    out[at++] = 0x12;
    varint(opLength[i] as number);
    out[at++] = 0x22;
    varint(txnLength[i - 1] as number);
  }
  return out;
}

/** One unary gRPC call over h2c with a raw message; the grpc-status and grpc-message. */
async function grpcUnary(baseUrl: string, path: string, message: Uint8Array) {
  const session = connect(baseUrl);
  try {
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
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

  test("a txn far deeper than any etcd would run is refused, and the server lives on", async () => {
    // Hand-encoded: protobuf-es's own encoder overflows the stack past ~2000 levels.
    for (const levels of [600, 100_000]) {
      const body = deepTxnBytes(levels);
      const connect = await fetch(`${conclave.url}/etcdserverpb.KV/Txn`, {
        method: "POST",
        headers: { "content-type": "application/proto" },
        body,
      });
      assert.notEqual(connect.status, 200, `Connect, ${levels} levels`);
      const grpc = await grpcUnary(conclave.url, "/etcdserverpb.KV/Txn", body);
      assert.notEqual(grpc.status, "0", `gRPC, ${levels} levels`);
      assert.equal(grpc.status, "13", `gRPC, ${levels} levels: ${grpc.message}`);
      assert.match(grpc.message, /maximum recursion depth/);
    }
    const c = createClient(KV, createGrpcTransport({ baseUrl: conclave.url }));
    assert.equal((await c.range({ key: bytes("k1") })).count, 1n);
  });
});
