import type { Cluster } from "@conclave/proto";
import type { ServiceImpl } from "@connectrpc/connect";
import { clusterHeader } from "./header.js";
import type { ServerContext } from "./server-context.js";

/**
 * etcdserverpb.Cluster: a cluster of exactly this member. Membership changes
 * (add/remove/update/promote) stay Unimplemented: Conclave runs one member.
 */
export function createClusterService(ctx: ServerContext): Partial<ServiceImpl<typeof Cluster>> {
  return {
    async memberList() {
      return {
        header: clusterHeader(ctx),
        members: [
          {
            ID: ctx.memberId,
            name: ctx.name,
            peerURLs: [],
            clientURLs: ctx.clientUrls,
            isLearner: false,
          },
        ],
      };
    },
  };
}
