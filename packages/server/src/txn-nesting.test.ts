// The deepest txn Conclave runs (maxTxnNesting levels, reachable with a large
// --max-txn-ops) goes through every recursive step — binary decode and
// encode at maxMessageDepth, validation, the auth check with auth on, the
// applier — without reaching the JS stack limit; one level more is etcd's
// "too many operations" whatever --max-txn-ops says.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { KV, type RequestOp, type TxnRequest, TxnRequestSchema } from "@conclave/proto";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { errorInterceptor } from "./error-interceptor.js";
import { createRoutes } from "./routes.js";
import { closeServerContext, openServerContext, type ServerContext } from "./server-context.js";
import { maxMessageDepth, maxTxnNesting } from "./validation.js";

const enc = new TextEncoder();

/** `levels` deep, each level with a compare and the next level; the innermost puts `k`. */
function nested(levels: number): TxnRequest {
  const putK = {
    request: { case: "requestPut", value: { key: enc.encode("k"), value: enc.encode("v") } },
  } as RequestOp;
  let t = create(TxnRequestSchema, { success: [putK] });
  for (let i = 1; i < levels; i++) {
    t = create(TxnRequestSchema, {
      compare: [{ key: enc.encode(`c${i}`), target: 0, result: 0 }],
      success: [{ request: { case: "requestTxn", value: t } }],
    });
  }
  return t;
}

let ctx: ServerContext;
let rootToken = "";

before(async () => {
  ctx = await openServerContext({ dataDir: ":memory:", maxTxnOps: 1_000_000 });
  await ctx.auth.userAdd("root", "rootpw");
  await ctx.auth.roleAdd("root");
  await ctx.auth.userGrantRole("root", "root");
  await ctx.auth.userAdd("alice", "alicepw");
  await ctx.auth.enable();
  rootToken = await ctx.auth.authenticate("root", "rootpw");
});
after(async () => {
  await closeServerContext(ctx);
});

describe(`txns ${maxTxnNesting} levels deep (--max-txn-ops 1000000, auth on)`, () => {
  const transport = () =>
    createRouterTransport(createRoutes(ctx), {
      router: {
        interceptors: [errorInterceptor],
        binaryOptions: { recursionLimit: maxMessageDepth },
      },
      transport: { binaryOptions: { recursionLimit: maxMessageDepth } },
    });

  const cases: Array<{ levels: number; who: string; code?: Code; message?: string }> = [
    { levels: maxTxnNesting, who: "root" },
    {
      levels: maxTxnNesting,
      who: "alice",
      code: Code.PermissionDenied,
      message: "etcdserver: permission denied",
    },
    {
      levels: maxTxnNesting + 1,
      who: "root",
      code: Code.InvalidArgument,
      message: "etcdserver: too many operations in txn request",
    },
  ];
  for (const { levels, who, code, message } of cases) {
    it(`${levels} levels as ${who}: ${code === undefined ? "runs" : message}`, async () => {
      const token = who === "root" ? rootToken : await ctx.auth.authenticate("alice", "alicepw");
      const call = createClient(KV, transport()).txn(nested(levels), { headers: { token } });
      if (code === undefined) {
        const res = await call;
        assert.equal(res.succeeded, true);
        let depth = 1;
        for (let r = res.responses[0]; r?.response.case === "responseTxn"; depth++) {
          r = r.response.value.responses[0];
        }
        assert.equal(depth, levels, "the response nests as deep as the request");
        return;
      }
      await assert.rejects(call, (e) => {
        const ce = ConnectError.from(e);
        assert.deepEqual([ce.code, ce.rawMessage], [code, message]);
        return true;
      });
    });
  }
});
