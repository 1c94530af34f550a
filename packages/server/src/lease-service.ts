import { errLeaseNotFound } from "@conclave/core";
import type { Lease } from "@conclave/proto";
import type { ServiceImpl } from "@connectrpc/connect";
import { authorizerOf, readableKeys } from "./auth-guard.js";
import { callAborted } from "./call-context.js";
import { fillHeader } from "./header.js";
import type { ServerContext } from "./server-context.js";

/**
 * etcdserverpb.Lease over the core lessor, with etcd's quirks kept: an
 * unknown lease gives TTL 0 on keep-alive and TTL -1 on TimeToLive rather
 * than an error; TTLs below the minimum are raised, not refused. Every
 * method refuses a bogus token (the auth layer, auth-policy.ts); Revoke's
 * WRITE on the lease's keys is checked inside the revoke's write;
 * TimeToLive lists only the attached keys the caller may read.
 */
export function createLeaseService(ctx: ServerContext): Partial<ServiceImpl<typeof Lease>> {
  const { lessor } = ctx;
  return {
    async leaseGrant(req) {
      const { id, ttl } = await lessor.grant(req.ID, Number(req.TTL));
      return { header: fillHeader(ctx), ID: id, TTL: BigInt(ttl), error: "" };
    },
    async leaseRevoke(req, hctx) {
      const rev = await lessor.revoke(req.ID, authorizerOf(ctx, hctx));
      return { header: fillHeader(ctx, BigInt(rev)) };
    },
    async *leaseKeepAlive(requests, hctx) {
      for await (const req of requests) {
        if (callAborted(hctx)) return;
        let ttl = 0;
        try {
          ttl = await lessor.renew(req.ID);
        } catch (err) {
          // Shared storage out of reach (a replica) is an error, not a lost lease.
          if (err !== errLeaseNotFound) throw err;
          ttl = 0; // unknown or expired lease: TTL 0, no error (as etcd)
        }
        yield { header: fillHeader(ctx), ID: req.ID, TTL: BigInt(ttl) };
      }
    },
    async leaseTimeToLive(req, hctx) {
      const info = await lessor.checkTimeToLive(req.ID);
      if (info === undefined) return { header: fillHeader(ctx), ID: req.ID, TTL: -1n };
      return {
        header: fillHeader(ctx),
        ID: req.ID,
        TTL: BigInt(info.remaining),
        grantedTTL: BigInt(info.ttl),
        keys: req.keys ? readableKeys(ctx, hctx, info.keys) : [],
      };
    },
    async leaseLeases() {
      return { header: fillHeader(ctx), leases: lessor.leases().map((ID: bigint) => ({ ID })) };
    },
  };
}
