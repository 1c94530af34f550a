import { errLeaseNotFound } from "@conclave/core";
import type { LeaseService } from "@conclave/proto";
import type { ServiceImpl } from "@connectrpc/connect";
import type { ServerContext } from "./server-context.js";

/**
 * conclave.v1.LeaseService: the keep-alive of etcdserverpb.Lease as a unary
 * call, for clients without bidi streams (browsers, curl). Same semantics as
 * one message on etcd's LeaseKeepAlive stream: an unknown, revoked or
 * expired lease answers ttl 0 rather than an error.
 */
export function createConclaveLeaseService(ctx: ServerContext): ServiceImpl<typeof LeaseService> {
  return {
    async keepAliveOnce(req) {
      let ttl = 0;
      try {
        ttl = await ctx.lessor.renew(req.id);
      } catch (err) {
        // Shared storage out of reach (a replica) is an error, not a lost lease.
        if (err !== errLeaseNotFound) throw err;
        ttl = 0; // unknown or expired lease: TTL 0, as etcd's keep-alive
      }
      return { id: req.id, ttl: BigInt(ttl), revision: BigInt(ctx.store.read().rev()) };
    },
  };
}
