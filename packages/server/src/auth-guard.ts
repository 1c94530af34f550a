import {
  type AuthInfo,
  type DeleteRangeRequest,
  errInvalidAuthToken,
  type PutRequest,
  prefixEnd,
  type RequestOp,
  type TxnRequest,
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

/** The root role (etcd's IsAdminPermitted). */
export function checkAdmin(ctx: ServerContext, hctx: HandlerContext): void {
  ctx.auth.checkAdmin(callerOf(ctx, hctx));
}

/**
 * Only validates the token, for methods that need no permission (Compact,
 * LeaseGrant, keep-alives, LeaseLeases, Status, Alarm GET/DEACTIVATE,
 * MemberList, …): a bogus token is refused there too rather than treated as
 * anonymous, so a client learns at once that its token is wrong.
 */
export function checkToken(ctx: ServerContext, hctx: HandlerContext): void {
  callerOf(ctx, hctx);
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
 * Put: WRITE on the key, READ too when the previous value is asked for, and
 * WRITE on every key already attached to the lease the put attaches (etcd's
 * checkLeasePuts: a lease revoke deletes them all, so sharing a lease
 * needs the right to delete its keys).
 */
function checkPutWith(ctx: ServerContext, info: AuthInfo | undefined, req: PutRequest): void {
  ctx.auth.checkPermission(info, req.key, empty, "write");
  if (req.prevKv) ctx.auth.checkPermission(info, req.key, empty, "read");
  if (req.lease !== 0n && ctx.auth.isEnabled()) {
    for (const k of ctx.lessor.timeToLive(req.lease)?.keys ?? []) {
      ctx.auth.checkPermission(info, k, empty, "write");
    }
  }
}

function checkDeleteWith(
  ctx: ServerContext,
  info: AuthInfo | undefined,
  req: DeleteRangeRequest,
): void {
  ctx.auth.checkPermission(info, req.key, req.rangeEnd, "write");
  if (req.prevKv) ctx.auth.checkPermission(info, req.key, req.rangeEnd, "read");
}

export function checkPut(ctx: ServerContext, hctx: HandlerContext, req: PutRequest): void {
  checkPutWith(ctx, callerOf(ctx, hctx), req);
}

export function checkDelete(
  ctx: ServerContext,
  hctx: HandlerContext,
  req: DeleteRangeRequest,
): void {
  checkDeleteWith(ctx, callerOf(ctx, hctx), req);
}

/**
 * Txn: READ for every compare and range, the put and delete rules for every
 * write — in both branches and nested txns, whichever would run (etcd's
 * checkTxnAuth), so a txn cannot probe keys through the branch it takes.
 */
export function checkTxn(ctx: ServerContext, hctx: HandlerContext, req: TxnRequest): void {
  const info = callerOf(ctx, hctx);
  if (!ctx.auth.isEnabled()) return;
  const visit = (t: TxnRequest) => {
    for (const c of t.compare) ctx.auth.checkPermission(info, c.key, c.rangeEnd, "read");
    const ops: RequestOp[] = [...t.success, ...t.failure];
    for (const op of ops) {
      const r = op.request;
      switch (r.case) {
        case "requestRange":
          ctx.auth.checkPermission(info, r.value.key, r.value.rangeEnd, "read");
          break;
        case "requestPut":
          checkPutWith(ctx, info, r.value);
          break;
        case "requestDeleteRange":
          checkDeleteWith(ctx, info, r.value);
          break;
        case "requestTxn":
          visit(r.value);
          break;
      }
    }
  };
  visit(req);
}

/** LeaseRevoke deletes the lease's keys: WRITE on each (etcd's authApplierV3.LeaseRevoke). */
export function checkLeaseRevoke(ctx: ServerContext, hctx: HandlerContext, id: bigint): void {
  const info = callerOf(ctx, hctx);
  if (!ctx.auth.isEnabled()) return;
  for (const k of ctx.lessor.timeToLive(id)?.keys ?? []) {
    ctx.auth.checkPermission(info, k, empty, "write");
  }
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

// biome-ignore lint/suspicious/noExplicitAny: wraps methods of any signature
type AnyMethod = (req: any, hctx: HandlerContext) => any;

/**
 * Wraps Maintenance's admin-only methods (etcd 3.4: Defragment, Hash,
 * HashKV, Snapshot) with {@link checkAdmin}; their refusals are worded as
 * etcd's authMaintenanceServer words them by the error table's `"plainAuth"`
 * flavour for these methods (errors.ts). Status, Alarm GET and
 * DEACTIVATE and MoveLeader stay open to every user, as in etcd, and check
 * only the token (maintenance-service.ts; ACTIVATE needs root there).
 */
export function guardMaintenance<T extends object>(ctx: ServerContext, impl: T): T {
  const methods = impl as Record<string, AnyMethod | undefined>;
  const out: Record<string, AnyMethod | undefined> = { ...methods };
  for (const name of ["defragment", "hash", "hashKV"]) {
    const m = methods[name];
    if (m !== undefined) {
      out[name] = (req, hctx) => {
        checkAdmin(ctx, hctx);
        return m.call(impl, req, hctx);
      };
    }
  }
  const snapshot = methods.snapshot;
  if (snapshot !== undefined) {
    out.snapshot = async function* (req, hctx) {
      checkAdmin(ctx, hctx);
      yield* snapshot.call(impl, req, hctx);
    };
  }
  return out as T;
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
