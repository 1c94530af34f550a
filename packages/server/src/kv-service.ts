import { toBinary } from "@bufbuild/protobuf";
import {
  DeleteRangeRequestSchema,
  type KV,
  PutRequestSchema,
  TxnRequestSchema,
} from "@conclave/proto";
import type { ServiceImpl } from "@connectrpc/connect";
import { authorizerOf } from "./auth-guard.js";
import { errRequestTooLarge } from "./errors.js";
import { fillHeader } from "./header.js";
import { estimateSlack, estimateTxnBytes } from "./request-size.js";
import type { ServerContext } from "./server-context.js";
import {
  checkDeleteRequest,
  checkPutRequest,
  checkRangeRequest,
  validateTxn,
} from "./validation.js";

/**
 * etcd checks the size of the raft entry it would log, not of the request:
 * the request wrapped in an InternalRaftRequest with a header holding a
 * 64-bit request ID — 17 bytes more for IDs that encode in 9 bytes (etcd's
 * member-derived IDs usually do; some take 10). We use 17.
 */
const raftEnvelopeBytes = 17;

/**
 * etcdserverpb.KV over the core applier. Each method follows etcd's v3rpc
 * adapter shape: validate → size check (writes) → apply → fill the header.
 * The caller's key permissions are checked by the applier itself, inside
 * the write or read view that serves the request (`authorizerOf`, the
 * `"keys"` entries of auth-policy.ts); Compact needs only a valid token,
 * which the auth layer checks. Errors are thrown as sentinels; the router's
 * error interceptor maps them.
 */
export function createKvService(ctx: ServerContext): Partial<ServiceImpl<typeof KV>> {
  const max = ctx.maxRequestBytes;
  return {
    async range(req, hctx) {
      checkRangeRequest(req);
      const resp = await ctx.kv.range(req, authorizerOf(ctx, hctx));
      return { ...resp, header: fillHeader(ctx, resp.header.revision) };
    },
    async put(req, hctx) {
      checkPutRequest(req);
      if (req.key.length + req.value.length > max - estimateSlack) {
        if (toBinary(PutRequestSchema, req).length + raftEnvelopeBytes > max)
          throw errRequestTooLarge;
      }
      const resp = await ctx.kv.put(req, authorizerOf(ctx, hctx));
      return { ...resp, header: fillHeader(ctx, resp.header.revision) };
    },
    async deleteRange(req, hctx) {
      checkDeleteRequest(req);
      if (req.key.length + req.rangeEnd.length > max - estimateSlack) {
        if (toBinary(DeleteRangeRequestSchema, req).length + raftEnvelopeBytes > max) {
          throw errRequestTooLarge;
        }
      }
      const resp = await ctx.kv.deleteRange(req, authorizerOf(ctx, hctx));
      return { ...resp, header: fillHeader(ctx, resp.header.revision) };
    },
    async txn(req, hctx) {
      validateTxn(req, ctx.maxTxnOps);
      // Read-only txns are served without a raft entry in etcd: no size check.
      const readOnly = [...req.success, ...req.failure].every(
        (op) => op.request.case === "requestRange",
      );
      if (!readOnly && estimateTxnBytes(req) > max - estimateSlack) {
        if (toBinary(TxnRequestSchema, req).length + raftEnvelopeBytes > max)
          throw errRequestTooLarge;
      }
      const resp = await ctx.kv.txn(req, authorizerOf(ctx, hctx));
      return { ...resp, header: fillHeader(ctx, resp.header.revision) };
    },
    async compact(req) {
      const resp = await ctx.kv.compact(req);
      return { header: fillHeader(ctx, resp.header.revision) };
    },
  };
}
