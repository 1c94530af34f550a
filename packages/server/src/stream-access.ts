import { type AuthChange, errInvalidAuthToken } from "@conclave/core";
import type { HandlerContext } from "@connectrpc/connect";
import { callerOf, tokenOf } from "./auth-guard.js";
import type { ServerContext } from "./server-context.js";

/**
 * The right of an open stream (a watch, an Observe, LeaderElection Events)
 * to go on receiving what it was allowed to read when it opened. etcd 3.4
 * checks only when a watch is created, so a user whose role is revoked,
 * whose permission is removed, who is deleted or whose password changes
 * keeps receiving events. Conclave re-checks every open stream on every auth
 * change ({@link AuthStore.onChange}, in force before any later write), so
 * nothing written after the change reaches a reader the new state refuses.
 */
export interface StreamAccess {
  /**
   * Tells the stream about an auth change and re-checks READ on
   * `[key, rangeEnd)` (etcd's range forms): the error a new request would now
   * get, or undefined while the stream may go on.
   */
  recheck(change: AuthChange, key: Uint8Array, rangeEnd: Uint8Array): Error | undefined;
}

/**
 * Remembers who a stream acts as. A stream opened with a token keeps that
 * user until the token is voided by a password change or the user's
 * deletion (an open stream never uses its token again, so its idle expiry is
 * not a revocation); without one, the caller is resolved again at each
 * check (a verified client certificate's CN names a user once auth is on).
 * Throws what {@link callerOf} throws (a bogus token).
 */
export function streamAccess(ctx: ServerContext, hctx: HandlerContext): StreamAccess {
  const viaToken = tokenOf(hctx.requestHeader) !== undefined;
  const opened = viaToken ? callerOf(ctx, hctx)?.username : undefined;
  let voided = false;
  return {
    recheck(change, key, rangeEnd) {
      if (viaToken && change.tokensVoidedFor !== undefined && change.tokensVoidedFor === opened) {
        voided = true;
      }
      if (!ctx.auth.isEnabled()) return undefined;
      try {
        if (voided) throw errInvalidAuthToken;
        const info = opened !== undefined ? ctx.auth.authInfoFromName(opened) : callerOf(ctx, hctx);
        ctx.auth.checkPermission(info, key, rangeEnd, "read");
        return undefined;
      } catch (err) {
        return err instanceof Error ? err : new Error(String(err));
      }
    },
  };
}

/** A server stream that ends when its caller loses READ on what it streams. */
export interface RevocableStream {
  /** Aborts when the call ends or access is revoked: hand it to what produces the stream. */
  readonly signal: AbortSignal;
  /** Throws the refusal once access was revoked; call when the producer stopped. */
  throwIfRevoked(): void;
  /** Stops listening for auth changes. */
  close(): void;
}

/**
 * Watches the auth state for a stream reading `[key, rangeEnd)` (checked by
 * the caller when it opened): on revocation the stream's producer is stopped
 * through `signal` at once, and {@link RevocableStream.throwIfRevoked} turns
 * the stop into the error a new request would get.
 */
export function revocableStream(
  ctx: ServerContext,
  hctx: HandlerContext,
  key: Uint8Array,
  rangeEnd: Uint8Array,
): RevocableStream {
  const access = streamAccess(ctx, hctx);
  const revoked = new AbortController();
  let denial: Error | undefined;
  const unsubscribe = ctx.auth.onChange((change) => {
    if (denial !== undefined) return;
    denial = access.recheck(change, key, rangeEnd);
    if (denial !== undefined) revoked.abort(denial);
  });
  return {
    signal: AbortSignal.any([hctx.signal, revoked.signal]),
    throwIfRevoked() {
      if (denial !== undefined) throw denial;
    },
    close: unsubscribe,
  };
}
