import type { Lock } from "@conclave/proto";
import { defaultSessionTtl } from "@conclave/wire";
import type { ServiceImpl } from "@connectrpc/connect";
import { checkRecipeJoin, checkRecipeKey } from "./auth-guard.js";
import { asPlain, lockMutex, RecipeError } from "./concurrency.js";
import { errorStatus } from "./errors.js";
import { fillHeader } from "./header.js";
import type { LocalClient } from "./local-client.js";
import type { ServerContext } from "./server-context.js";

/**
 * v3lockpb.Lock: etcd's Mutex recipe run server-side. The lock key is
 * `name/<lease hex>`; waiters queue in create-revision order and each watches
 * only the key just ahead of it, so a release wakes exactly the next waiter
 * through a watch event, never by polling.
 */
export function createLockService(
  ctx: ServerContext,
  c: LocalClient,
): Partial<ServiceImpl<typeof Lock>> {
  const plain = (err: unknown) => asPlain(err, (e) => errorStatus(e)?.message);
  return {
    async lock(req, hctx) {
      try {
        checkRecipeJoin(ctx, hctx, req.name, undefined);
        const lease = req.lease !== 0n ? req.lease : await c.grant(defaultSessionTtl);
        checkRecipeJoin(ctx, hctx, req.name, lease);
        const { key, header } = await lockMutex(c, req.name, lease, hctx.signal);
        return { header: fillHeader(ctx, header.revision), key };
      } catch (err) {
        throw plain(err);
      }
    },
    async unlock(req, hctx) {
      // etcd's Unlock is a client Delete: an empty key fails the KV API's check.
      if (req.key.length === 0) throw new RecipeError("etcdserver: key is not provided");
      checkRecipeKey(ctx, hctx, req.key, false);
      try {
        const resp = await c.delete(req.key);
        return { header: fillHeader(ctx, resp.header.revision) };
      } catch (err) {
        throw plain(err);
      }
    },
  };
}
