import {
  type AuthInfo,
  createRequestAuthorizer,
  createScopedAuthorizer,
  errInvalidAuthToken,
  type KvAuthorizer,
  prefixEnd,
  type RequestAuthorizer,
} from "@conclave/core";
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { peerCommonNameKey } from "./peer-identity.js";
import type { ServerContext } from "./server-context.js";

/**
 * The token a request carries: gRPC metadata `token` (clientv3, etcdctl),
 * else the `Authorization` header (etcd's gateway; Connect and browser
 * clients). `Bearer <token>` is accepted as well, the usual browser form.
 */
export function tokenOf(headers: Headers): string | undefined {
  const token = headers.get("token");
  if (token !== null && token !== "") return token;
  const authorization = headers.get("authorization");
  if (authorization === null || authorization === "") return undefined;
  return /^bearer /i.test(authorization) ? authorization.slice(7).trim() : authorization;
}

/** A JWT the auth layer verified for this call, and what it names (undefined: invalid). */
interface VerifiedToken {
  readonly token: string;
  readonly info: AuthInfo | undefined;
}

const verifiedTokenKey = createContextKey<VerifiedToken | undefined>(undefined, {
  description: "conclave verified JWT",
});

/**
 * Verifies the call's JWT, if it carries one, and keeps the outcome in the
 * call's context values for {@link callerOf}. JWT verification is
 * asynchronous (jose) while the checks that use the caller are synchronous —
 * inside the apply — so the auth layer (`withAuthPolicy`) awaits this before
 * every method of a JWT server, and the checks read the result. An invalid
 * token is not refused here: `callerOf` refuses it where it refuses a bad
 * simple token, so a request that fails validation still gets that error
 * first, as in etcd. Simple tokens never come here.
 */
export async function verifyCallerToken(ctx: ServerContext, hctx: HandlerContext): Promise<void> {
  const token = tokenOf(hctx.requestHeader);
  if (token === undefined || hctx.values.get(verifiedTokenKey)?.token === token) return;
  hctx.values.set(verifiedTokenKey, { token, info: await ctx.auth.verifyToken(token) });
}

/** The caller of a JWT that {@link verifyCallerToken} verified for this call. */
function verifiedCaller(hctx: HandlerContext, token: string): AuthInfo | undefined {
  const verified = hctx.values.get(verifiedTokenKey);
  if (verified?.token !== token) {
    // A path that skipped the auth layer: a bug, not the client's fault.
    throw new Error("the auth layer did not verify this call's token");
  }
  return verified.info;
}

/**
 * Who a request acts as — etcd's AuthInfoFromCtx, in one place for every
 * service. A token, when present, must be valid even while auth is off
 * (etcd answers "invalid auth token" then too); without one, the common name
 * of a verified client certificate names the user. Undefined: nobody, which
 * every check refuses while auth is on.
 *
 * Resolved afresh at each check, so a simple token's caller carries the
 * current auth revision; a JWT's carries the token's own `revision` claim
 * (verified once per call, before the handler: {@link verifyCallerToken}),
 * so a token issued before an auth change is refused as old, as in etcd.
 */
export function callerOf(ctx: ServerContext, hctx: HandlerContext): AuthInfo | undefined {
  const token = tokenOf(hctx.requestHeader);
  if (token !== undefined) {
    const info =
      ctx.auth.tokenType === "simple"
        ? ctx.auth.authInfoFromToken(token)
        : verifiedCaller(hctx, token);
    if (info === undefined) throw errInvalidAuthToken;
    return info;
  }
  if (!ctx.auth.isEnabled()) return undefined;
  const cn = hctx.values.get(peerCommonNameKey);
  return cn === undefined || cn === "" ? undefined : ctx.auth.authInfoFromName(cn);
}

const empty = new Uint8Array(0);

/** READ on a key or range (etcd's IsRangePermitted). */
export function checkRead(
  ctx: ServerContext,
  hctx: HandlerContext,
  key: Uint8Array,
  rangeEnd: Uint8Array = empty,
): void {
  ctx.auth.checkPermission(callerOf(ctx, hctx), key, rangeEnd, "read");
}

/**
 * The keys among `keys` the caller may READ — all of them while auth is off
 * or for root. LeaseTimeToLive lists a lease's keys to anyone who may call
 * it, so it shows only the names the caller could read anyway (etcd 3.4
 * shows every name, even to anonymous callers).
 */
export function readableKeys(
  ctx: ServerContext,
  hctx: HandlerContext,
  keys: readonly Uint8Array[],
): Uint8Array[] {
  const info = callerOf(ctx, hctx);
  if (!ctx.auth.isEnabled()) return [...keys];
  return keys.filter((k) => ctx.auth.isPermitted(info, k, empty, "read"));
}

/**
 * The caller's key-permission checks for the applier and the lessor to run
 * inside the write that applies the request (core's
 * `createRequestAuthorizer`, etcd's authApplierV3). The caller is resolved
 * here, at the call — after the request's validation, so a bogus token on an
 * invalid request gets the validation error first, as in etcd — with the
 * auth revision of that moment; the checks refuse it if the auth state moved
 * on before the write (`errAuthOldRevision`).
 */
export function authorizerOf(ctx: ServerContext, hctx: HandlerContext): RequestAuthorizer {
  const { lessor } = ctx;
  return createRequestAuthorizer(
    ctx.auth,
    callerOf(ctx, hctx),
    (id) => lessor.timeToLive(id)?.keys ?? [],
  );
}

/**
 * The caller of a call that acts through the in-process client — the Lock
 * and Election recipes, LeaderElection — for each of the client calls it
 * makes, as etcd's v3lock and v3election hand the caller's token to every
 * call of their client. Resolved here, at the call (a bogus token fails
 * now); each client call then gets it with the auth revision of that moment,
 * so its check inside the apply judges it by the auth state it is applied
 * under, and a call that waits (a Lock behind others, a Campaign) is not
 * refused as "old revision" because an unrelated auth change came meanwhile.
 * A caller named by a token stays that user for the whole call, as an open
 * stream does (stream-access.ts): the call uses its token once, so the
 * token's idle expiry during a long wait is no revocation (a streaming call
 * also ends when a password change or the user's deletion voids the token:
 * `revocableStream`). One named by a client certificate is resolved again
 * each time.
 */
export function callerOfCall(ctx: ServerContext, hctx: HandlerContext): () => AuthInfo | undefined {
  const first = callerOf(ctx, hctx);
  if (tokenOf(hctx.requestHeader) === undefined) return () => callerOf(ctx, hctx);
  const username = first?.username ?? "";
  return () => ctx.auth.authInfoFromName(username);
}

/**
 * What the Lock and Election recipes' client calls are checked with: the
 * caller's key permissions computed from each request, as for any KV client
 * (core's `createRequestAuthorizer`; etcd's recipes are clients of its KV
 * API with the caller's token, so its authApplierV3 checks them).
 */
export function recipeAuthorizer(ctx: ServerContext, hctx: HandlerContext): () => KvAuthorizer {
  const caller = callerOfCall(ctx, hctx);
  const { lessor } = ctx;
  const leaseKeysOf = (id: bigint) => lessor.timeToLive(id)?.keys ?? [];
  return () => createRequestAuthorizer(ctx.auth, caller(), leaseKeysOf);
}

/**
 * What LeaderElection's client calls are checked with: READ — and WRITE
 * when `write` — on every key under `prefix` (the election's keys), whatever
 * key a step touches (core's `createScopedAuthorizer`).
 */
export function prefixAuthorizer(
  ctx: ServerContext,
  hctx: HandlerContext,
  prefix: string,
  write: boolean,
): () => KvAuthorizer {
  const caller = callerOfCall(ctx, hctx);
  const key = new TextEncoder().encode(prefix);
  const scope = { key, rangeEnd: prefixEnd(key), write };
  return () => createScopedAuthorizer(ctx.auth, caller(), scope);
}
