import { type IdentityService, IdentitySource } from "@conclave/proto";
import type { ServiceImpl } from "@connectrpc/connect";
import { callerOf, tokenOf } from "./auth-guard.js";
import type { ServerContext } from "./server-context.js";

/**
 * conclave.v1.IdentityService: whom the server takes a request for — the
 * user `callerOf` names, the one every permission check of the same request
 * would judge (etcd's AuthInfoFromCtx): the token's user, else, with auth on,
 * the CN of the verified client certificate. Read-only and open to anyone,
 * as AuthStatus is; it tells callers only about their own credentials. A
 * bogus token is refused ("invalid auth token") by `callerOf`, as on every
 * method.
 */
export function createIdentityService(ctx: ServerContext): ServiceImpl<typeof IdentityService> {
  return {
    async whoAmI(_req, hctx) {
      const info = callerOf(ctx, hctx);
      const enabled = ctx.auth.isEnabled();
      if (!enabled || info === undefined || info.username === "") {
        return { authEnabled: enabled, user: "", source: IdentitySource.NONE };
      }
      return {
        authEnabled: true,
        user: info.username,
        source:
          tokenOf(hctx.requestHeader) !== undefined
            ? IdentitySource.TOKEN
            : IdentitySource.CLIENT_CERTIFICATE,
      };
    },
  };
}
