import type { Cluster } from "@conclave/proto";
import type { ServiceImpl } from "@connectrpc/connect";
import { clusterHeader } from "./header.js";
import type { ServerContext } from "./server-context.js";

/**
 * etcdserverpb.Cluster: the embedded mode is a cluster of exactly this
 * member; replicas over PostgreSQL list every live replica (from their
 * heartbeats), so clientv3's endpoint auto-sync and etcdctl's `--endpoints`
 * lists find them all. Membership changes (add/remove/update/promote) stay
 * Unimplemented: replicas join by starting and leave by stopping.
 */
export function createClusterService(ctx: ServerContext): Partial<ServiceImpl<typeof Cluster>> {
  return {
    async memberList() {
      return {
        header: clusterHeader(ctx),
        members: (
          (await ctx.cluster?.members()) ?? [
            { id: ctx.memberId, name: ctx.name, peerUrls: [], clientUrls: ctx.clientUrls },
          ]
        ).map((m) => ({
          ID: m.id,
          name: m.name,
          peerURLs: m.peerUrls,
          clientURLs: m.clientUrls,
          isLearner: false,
        })),
      };
    },
  };
}
