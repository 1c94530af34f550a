import type { Election, LeaderKey } from "@conclave/proto";
import { defaultSessionTtl, prefixEnd } from "@conclave/wire";
import type { ServiceImpl } from "@connectrpc/connect";
import { checkRecipeJoin, checkRecipeKey, checkRecipeRead } from "./auth-guard.js";
import {
  campaign,
  currentLeader,
  errMissingLeaderKey,
  type LeaderState,
  observe,
  proclaim,
  resign,
} from "./concurrency.js";
import { fillHeader } from "./header.js";
import type { LocalClient } from "./local-client.js";
import type { ServerContext } from "./server-context.js";
import { revocableStream } from "./stream-access.js";

const resume = (l: LeaderKey): LeaderState => ({
  name: l.name,
  key: l.key,
  rev: l.rev,
  lease: l.lease,
});

/**
 * v3electionpb.Election: etcd's Election recipe run server-side. Errors are
 * plain errors (gRPC Unknown) with etcd's exact strings, which clients match:
 * the error table's `"plain"` flavour for this service (errors.ts).
 */
export function createElectionService(
  ctx: ServerContext,
  c: LocalClient,
): Partial<ServiceImpl<typeof Election>> {
  return {
    async campaign(req, hctx) {
      checkRecipeJoin(ctx, hctx, req.name, undefined);
      const lease = req.lease !== 0n ? req.lease : await c.grant(defaultSessionTtl);
      checkRecipeJoin(ctx, hctx, req.name, lease);
      const { leader, header } = await campaign(c, req.name, lease, req.value, hctx.signal);
      return {
        header: fillHeader(ctx, header.revision),
        leader: { name: req.name, key: leader.key, rev: leader.rev, lease },
      };
    },
    async proclaim(req, hctx) {
      if (req.leader === undefined) throw errMissingLeaderKey;
      checkRecipeKey(ctx, hctx, req.leader.key, true);
      const header = await proclaim(c, resume(req.leader), req.value);
      return { header: fillHeader(ctx, header.revision) };
    },
    async leader(req, hctx) {
      checkRecipeRead(ctx, hctx, req.name);
      const { kv, header } = await currentLeader(c, req.name);
      return { header: fillHeader(ctx, header.revision), kv };
    },
    async *observe(req, hctx) {
      checkRecipeRead(ctx, hctx, req.name);
      // READ on `name/`, as checked above, for as long as the stream lasts.
      const pfx = new Uint8Array([...req.name, 0x2f]);
      const stream = revocableStream(ctx, hctx, pfx, prefixEnd(pfx));
      try {
        for await (const { kv, header } of observe(c, req.name, stream.signal)) {
          yield { header: fillHeader(ctx, header.revision), kv };
        }
        stream.throwIfRevoked();
      } finally {
        stream.close();
      }
    },
    async resign(req, hctx) {
      if (req.leader === undefined) throw errMissingLeaderKey;
      checkRecipeKey(ctx, hctx, req.leader.key, true);
      const header = await resign(c, resume(req.leader));
      return { header: fillHeader(ctx, header.revision) };
    },
  };
}
