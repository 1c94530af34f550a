import type { Lock } from "@conclave/proto";
import { defaultSessionTtl } from "@conclave/wire";
import type { ServiceImpl } from "@connectrpc/connect";
import { checkRecipeJoin, checkRecipeKey } from "./auth-guard.js";
import { lockMutex } from "./concurrency.js";
import { errEmptyKey } from "./errors.js";
import { fillHeader } from "./header.js";
import type { LocalClient } from "./local-client.js";
import type { ServerContext } from "./server-context.js";

/**
 * v3lockpb.Lock: etcd's Mutex recipe run server-side. The lock key is
 * `name/<lease hex>`; waiters queue in create-revision order and each watches
 * only the key just ahead of it, so a release wakes exactly the next waiter
 * through a watch event, never by polling.
 *
 * Errors are etcd's plain errors (code Unknown with the KV API's text): the
 * error table's `"plain"` flavour for this service (errors.ts).
 */
export function createLockService(
  ctx: ServerContext,
  c: LocalClient,
): Partial<ServiceImpl<typeof Lock>> {
  return {
    async lock(req, hctx) {
      checkRecipeJoin(ctx, hctx, req.name, undefined);
      const lease = req.lease !== 0n ? req.lease : await c.grant(defaultSessionTtl);
      checkRecipeJoin(ctx, hctx, req.name, lease);
      const { key, header } = await lockMutex(c, req.name, lease, hctx.signal);
      return { header: fillHeader(ctx, header.revision), key };
    },
    async unlock(req, hctx) {
      // etcd's Unlock is a client Delete: an empty key fails the KV API's check.
      if (req.key.length === 0) throw errEmptyKey;
      checkRecipeKey(ctx, hctx, req.key, false);
      const resp = await c.delete(req.key);
      return { header: fillHeader(ctx, resp.header.revision) };
    },
  };
}
