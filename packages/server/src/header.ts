import { create } from "@bufbuild/protobuf";
import { type ResponseHeader, ResponseHeaderSchema } from "@conclave/proto";
import type { ServerContext } from "./server-context.js";

/**
 * etcd's header.fill: every top-level response carries the cluster and member
 * IDs, the raft term and a revision (the current one when the handler left it 0).
 */
export function fillHeader(ctx: ServerContext, revision?: bigint): ResponseHeader {
  return create(ResponseHeaderSchema, {
    clusterId: ctx.clusterId,
    memberId: ctx.memberId,
    raftTerm: ctx.raftTerm,
    revision: revision === undefined || revision === 0n ? BigInt(ctx.store.read().rev()) : revision,
  });
}

/** The header etcd's Cluster service sends: IDs and term, no revision. */
export function clusterHeader(ctx: ServerContext): ResponseHeader {
  return create(ResponseHeaderSchema, {
    clusterId: ctx.clusterId,
    memberId: ctx.memberId,
    raftTerm: ctx.raftTerm,
  });
}
