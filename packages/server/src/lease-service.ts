import type { Lease } from "@conclave/proto";
import type { ServiceImpl } from "@connectrpc/connect";
import { checkLeaseRevoke, checkToken, readableKeys } from "./auth-guard.js";
import { fillHeader } from "./header.js";
import type { ServerContext } from "./server-context.js";

/**
 * etcdserverpb.Lease over the core lessor, with etcd's quirks kept: an
 * unknown lease gives TTL 0 on keep-alive and TTL -1 on TimeToLive rather
 * than an error; TTLs below the minimum are raised, not refused. Every
 * method refuses a bogus token; TimeToLive lists only the attached keys the
 * caller may read.
 */
export function createLeaseService(ctx: ServerContext): Partial<ServiceImpl<typeof Lease>> {
  const { lessor } = ctx;
  return {
    async leaseGrant(req, hctx) {
      checkToken(ctx, hctx); // any user may grant leases, as in etcd
      const { id, ttl } = await lessor.grant(req.ID, Number(req.TTL));
      return { header: fillHeader(ctx), ID: id, TTL: BigInt(ttl), error: "" };
    },
    async leaseRevoke(req, hctx) {
      checkLeaseRevoke(ctx, hctx, req.ID);
      const rev = await lessor.revoke(req.ID);
      return { header: fillHeader(ctx, BigInt(rev)) };
    },
    async *leaseKeepAlive(requests, hctx) {
      // Once per stream: the token clientv3 sends is the stream's metadata.
      checkToken(ctx, hctx);
      for await (const req of requests) {
        if (hctx.signal.aborted) return;
        let ttl = 0;
        try {
          ttl = lessor.renew(req.ID);
        } catch {
          ttl = 0; // unknown or expired lease: TTL 0, no error (as etcd)
        }
        yield { header: fillHeader(ctx), ID: req.ID, TTL: BigInt(ttl) };
      }
    },
    async leaseTimeToLive(req, hctx) {
      checkToken(ctx, hctx);
      const info = lessor.timeToLive(req.ID);
      if (info === undefined) return { header: fillHeader(ctx), ID: req.ID, TTL: -1n };
      return {
        header: fillHeader(ctx),
        ID: req.ID,
        TTL: BigInt(info.remaining),
        grantedTTL: BigInt(info.ttl),
        keys: req.keys ? readableKeys(ctx, hctx, info.keys) : [],
      };
    },
    async leaseLeases(_req, hctx) {
      checkToken(ctx, hctx);
      return { header: fillHeader(ctx), leases: lessor.leases().map((ID: bigint) => ({ ID })) };
    },
  };
}
