import { rangeRequest } from "@conclave/core";
import type { Election, LeaderKey } from "@conclave/proto";
import { defaultSessionTtl, prefixEnd } from "@conclave/wire";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { recipeAuthorizer } from "./auth-guard.js";
import {
  campaign,
  currentLeader,
  errMissingLeaderKey,
  type LeaderState,
  observe,
  proclaim,
  recipePrefix,
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
 * v3electionpb.Election: etcd's Election recipe run server-side. Its calls
 * act for the caller (`client.as(recipeAuthorizer(…))`), checked by the
 * applier inside each read view or write as etcd checks v3election's client
 * calls made with the caller's token: READ on `name/` to campaign, observe
 * or ask for the leader, WRITE on the candidate's key (and the keys of the
 * lease it attaches) to campaign, READ and WRITE on the leader key to
 * proclaim or resign.
 *
 * Errors are plain errors (gRPC Unknown) with etcd's exact strings, which
 * clients match: the error table's `"plain"` flavour for this service
 * (errors.ts).
 */
export function createElectionService(
  ctx: ServerContext,
  client: LocalClient,
): Partial<ServiceImpl<typeof Election>> {
  /** The in-process client acting for the call's caller. */
  const callerClient = (hctx: HandlerContext) => client.as(recipeAuthorizer(ctx, hctx));
  return {
    async campaign(req, hctx) {
      const authorize = recipeAuthorizer(ctx, hctx);
      const c = client.as(authorize);
      if (req.lease === 0n) {
        // Not a session lease for a caller the recipe's reads refuse.
        const pfx = recipePrefix(req.name);
        authorize().range(rangeRequest(pfx, { rangeEnd: prefixEnd(pfx) }));
      }
      const lease = req.lease !== 0n ? req.lease : await c.grant(defaultSessionTtl);
      const { leader, header } = await campaign(c, req.name, lease, req.value, hctx.signal);
      return {
        header: fillHeader(ctx, header.revision),
        leader: { name: req.name, key: leader.key, rev: leader.rev, lease },
      };
    },
    async proclaim(req, hctx) {
      if (req.leader === undefined) throw errMissingLeaderKey;
      const header = await proclaim(callerClient(hctx), resume(req.leader), req.value);
      return { header: fillHeader(ctx, header.revision) };
    },
    async leader(req, hctx) {
      const { kv, header } = await currentLeader(callerClient(hctx), req.name);
      return { header: fillHeader(ctx, header.revision), kv };
    },
    async *observe(req, hctx) {
      const c = callerClient(hctx);
      // READ on `name/`, checked by each of the recipe's reads, for as long as the stream lasts.
      const pfx = recipePrefix(req.name);
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
      const header = await resign(callerClient(hctx), resume(req.leader));
      return { header: fillHeader(ctx, header.revision) };
    },
  };
}
