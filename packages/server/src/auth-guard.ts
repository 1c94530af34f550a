import {
  type AuthInfo,
  createRequestAuthorizer,
  errInvalidAuthToken,
  prefixEnd,
  type RequestAuthorizer,
} from "@conclave/core";
import type { HandlerContext } from "@connectrpc/connect";
import { leaseKey } from "./concurrency.js";
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

/**
 * Who a request acts as — etcd's AuthInfoFromCtx, in one place for every
 * service. A token, when present, must be valid even while auth is off
 * (etcd answers "invalid auth token" then too); without one, the common name
 * of a verified client certificate names the user. Undefined: nobody, which
 * every check refuses while auth is on.
 *
 * Resolved afresh at each check, so it carries the current auth revision.
 */
export function callerOf(ctx: ServerContext, hctx: HandlerContext): AuthInfo | undefined {
  const token = tokenOf(hctx.requestHeader);
  if (token !== undefined) {
    const info = ctx.auth.authInfoFromToken(token);
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

/** WRITE on a key or range (etcd's IsPutPermitted / IsDeleteRangePermitted). */
export function checkWrite(
  ctx: ServerContext,
  hctx: HandlerContext,
  key: Uint8Array,
  rangeEnd: Uint8Array = empty,
): void {
  ctx.auth.checkPermission(callerOf(ctx, hctx), key, rangeEnd, "write");
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

/** `name/` and the end of its prefix range: where a lock's or election's keys live. */
function recipeRange(name: Uint8Array): [Uint8Array, Uint8Array] {
  const pfx = new Uint8Array(name.length + 1);
  pfx.set(name);
  pfx[name.length] = 0x2f;
  return [pfx, prefixEnd(pfx)];
}

/**
 * Lock and Campaign: the recipe reads every key under `name/` and writes
 * its own `name/<lease hex>` — READ on the prefix, WRITE on that key — with
 * the caller's identity, as etcd's v3lock and v3election pass the caller's
 * token to their client. Pass `lease` undefined to check only the READ part
 * (before a session lease is granted).
 */
export function checkRecipeJoin(
  ctx: ServerContext,
  hctx: HandlerContext,
  name: Uint8Array,
  lease: bigint | undefined,
): void {
  const [pfx, end] = recipeRange(name);
  checkRead(ctx, hctx, pfx, end);
  if (lease !== undefined) checkWrite(ctx, hctx, leaseKey(name, lease));
}

/** Leader and Observe read the keys under `name/`. */
export function checkRecipeRead(ctx: ServerContext, hctx: HandlerContext, name: Uint8Array): void {
  const [pfx, end] = recipeRange(name);
  checkRead(ctx, hctx, pfx, end);
}

/** Unlock deletes the key (WRITE); Proclaim and Resign compare it too (READ). */
export function checkRecipeKey(
  ctx: ServerContext,
  hctx: HandlerContext,
  key: Uint8Array,
  compares: boolean,
): void {
  if (compares) checkRead(ctx, hctx, key);
  checkWrite(ctx, hctx, key);
}

/** READ — and WRITE when `write` — on every key under `prefix` (conclave.v1 LeaderElection). */
export function checkPrefix(
  ctx: ServerContext,
  hctx: HandlerContext,
  prefix: string,
  write: boolean,
): void {
  const pfx = new TextEncoder().encode(prefix);
  const end = prefixEnd(pfx);
  checkRead(ctx, hctx, pfx, end);
  if (write) checkWrite(ctx, hctx, pfx, end);
}
