import type { Maintenance } from "@conclave/proto";
import type { ServiceImpl } from "@connectrpc/connect";
import { fillHeader } from "./header.js";
import type { ServerContext } from "./server-context.js";

/**
 * The etcd API version Conclave speaks (what `Status.version` and, later,
 * `/version` report). Our protos follow etcd v3.5's.
 */
export const etcdApiVersion = "3.5.0";

/**
 * etcdserverpb.Maintenance. Status describes this single member as its own
 * leader; the MVCC revision stands in for the raft index, since every applied
 * write is one entry. Other methods land with their issue (Unimplemented).
 */
export function createMaintenanceService(
  ctx: ServerContext,
): Partial<ServiceImpl<typeof Maintenance>> {
  return {
    async status() {
      const rev = BigInt(ctx.store.currentRev());
      return {
        header: fillHeader(ctx),
        version: etcdApiVersion,
        dbSize: BigInt(ctx.backend.sizeBytes()),
        dbSizeInUse: BigInt(ctx.backend.sizeInUseBytes()),
        leader: ctx.memberId,
        raftIndex: rev,
        raftAppliedIndex: rev,
        raftTerm: ctx.raftTerm,
        errors: [],
        isLearner: false,
      };
    },
  };
}
