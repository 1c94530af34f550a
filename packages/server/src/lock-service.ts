import { prefixEnd, rangeRequest } from "@conclave/core";
import type { Lock } from "@conclave/proto";
import { defaultSessionTtl } from "@conclave/wire";
import type { ServiceImpl } from "@connectrpc/connect";
import { recipeAuthorizer } from "./auth-guard.js";
import { lockMutex, recipePrefix } from "./concurrency.js";
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
 * The recipe's calls act for the caller (`c.as(recipeAuthorizer(…))`): the
 * applier checks the caller's permissions on each of them inside its read
 * view or write, as etcd's authApplierV3 checks v3lock's client calls made
 * with the caller's token — READ on `name/` and WRITE on the lock key (and on
 * the keys of the lease it attaches) to lock, WRITE on the key to unlock.
 *
 * Errors are etcd's plain errors (code Unknown with the KV API's text): the
 * error table's `"plain"` flavour for this service (errors.ts).
 */
export function createLockService(
  ctx: ServerContext,
  client: LocalClient,
): Partial<ServiceImpl<typeof Lock>> {
  return {
    async lock(req, hctx) {
      const authorize = recipeAuthorizer(ctx, hctx);
      const c = client.as(authorize);
      if (req.lease === 0n) {
        // Not a session lease for a caller the recipe's first read refuses.
        const pfx = recipePrefix(req.name);
        authorize().range(rangeRequest(pfx, { rangeEnd: prefixEnd(pfx) }));
      }
      const lease = req.lease !== 0n ? req.lease : await c.grant(defaultSessionTtl);
      const { key, header } = await lockMutex(c, req.name, lease, hctx.signal);
      return { header: fillHeader(ctx, header.revision), key };
    },
    async unlock(req, hctx) {
      // etcd's Unlock is a client Delete: an empty key fails the KV API's check.
      if (req.key.length === 0) throw errEmptyKey;
      const resp = await client.as(recipeAuthorizer(ctx, hctx)).delete(req.key);
      return { header: fillHeader(ctx, resp.header.revision) };
    },
  };
}
