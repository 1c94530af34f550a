import { Code, ConnectError } from "@connectrpc/connect";
import { withAsyncDispose } from "./async-dispose.js";
import { type BackoffOptions, createBackoff } from "./backoff.js";
import type { ConclaveServices } from "./conclave-services.js";
import { sleep } from "./sleep.js";

/** Why a lease stopped being kept alive. */
export type LeaseEndReason =
  /** The server said the lease no longer exists (it expired or someone revoked it). */
  | "expired"
  /** No keep-alive reached the server before the TTL ran out: assume it expired. */
  | "unreachable"
  /** `revoke()` was called. */
  | "revoked"
  /** `close()` was called, or the client was closed: the lease expires on its own. */
  | "closed";

/** The abort reason of `Lease.signal`, and what `onLost` gets. */
export class LeaseEndedError extends Error {
  override name = "LeaseEndedError";
  constructor(
    readonly leaseId: bigint,
    readonly reason: LeaseEndReason,
    options?: { cause?: unknown },
  ) {
    super(`conclave: lease ${leaseId.toString(16)} ended: ${reason}`, options);
  }
}

export interface LeaseOptions {
  /** The lease ID to ask for. Default 0: the server picks one. */
  id?: bigint;
  /**
   * Renew the lease automatically, every TTL/3 with the unary KeepAliveOnce
   * (so it also works in browsers). Default true.
   */
  keepAlive?: boolean;
  /**
   * Told once when the lease is lost: the server answered that it is gone,
   * or no renewal got through before the TTL ran out (the server may already
   * have deleted the keys attached to it). Not called for `revoke()`/`close()`.
   */
  onLost?: (error: LeaseEndedError) => void;
  /** Stops the keep-alive (as `close()`) when it aborts. */
  signal?: AbortSignal;
  /**
   * Delays between retries of a failed renewal (always cut short so a retry
   * happens before the TTL runs out). Default 200 ms doubling to 15 s, jittered.
   */
  backoff?: BackoffOptions;
}

/**
 * A granted lease, kept alive until it is revoked, closed or lost.
 * `await using` revokes it at the end of the block (`[Symbol.asyncDispose]`
 * is `revoke()`).
 *
 * @example
 * ```ts
 * await using lease = await client.grantLease(10);
 * await client.put("workers/a", "up", { lease }); // deleted when the block ends
 * ```
 */
export interface Lease extends AsyncDisposable {
  readonly id: bigint;
  /** The TTL the server granted, in seconds (updated by each renewal). */
  readonly ttl: number;
  /**
   * Aborted when the lease stops being kept alive, with a
   * {@link LeaseEndedError} as reason: pass it to work that must stop when
   * the lease (and a lock or candidacy tied to it) is gone.
   */
  readonly signal: AbortSignal;
  /** Renews once now; returns the TTL, 0 when the lease is gone (then it counts as lost). */
  keepAliveOnce(): Promise<number>;
  /** Remaining seconds (-1 when the lease does not exist), granted TTL and attached keys. */
  timeToLive(): Promise<{ ttl: number; grantedTtl: number; keys: Uint8Array[] }>;
  /** Stops renewing and revokes: the keys attached to it are deleted now. */
  revoke(): Promise<void>;
  /** Stops renewing without revoking: the lease expires after its TTL. */
  close(): void;
}

/** A lease or its ID, wherever an API takes one. */
export type LeaseInput = Lease | bigint;

/**
 * The ID of a lease or lease ID; 0n (no lease) for `undefined`.
 *
 * @example
 * ```ts
 * leaseIdOf(await client.grantLease(10)); // e.g. 7587883390452127747n
 * ```
 */
export function leaseIdOf(lease: LeaseInput | undefined): bigint {
  return lease === undefined ? 0n : typeof lease === "bigint" ? lease : lease.id;
}

/** Renewals never come closer together than this, in ms, whatever the TTL. */
const minRenewIntervalMs = 250;

/**
 * Grants a lease and keeps it alive. Renewals use conclave.v1's unary
 * KeepAliveOnce on a timer at TTL/3 (etcd's clients renew at the same
 * rate), rather than etcd's bidi LeaseKeepAlive stream, which browsers
 * cannot open. A failed renewal is retried with backoff until the TTL,
 * counted from the last renewal that got through, runs out; then the lease
 * is reported lost.
 *
 * In Node the renewal timer keeps the process alive: `revoke()` or `close()`
 * the lease when done (or hold it with `await using`).
 *
 * @example
 * ```ts
 * const lease = await grantLease(services, 10, { onLost: (e) => console.warn(e.message) });
 * await services.kv.put({ key: toBytes("workers/a"), value: toBytes("up"), lease: lease.id });
 * await lease.revoke();
 * ```
 */
export async function grantLease(
  services: ConclaveServices,
  ttlSeconds: number,
  options: LeaseOptions = {},
): Promise<Lease> {
  const sentAt = Date.now();
  const granted = await services.lease.leaseGrant({
    TTL: BigInt(ttlSeconds),
    ID: options.id ?? 0n,
  });
  if (granted.error !== "") throw new ConnectError(granted.error, Code.Unknown);
  const id = granted.ID;
  let ttl = Number(granted.TTL);
  let deadline = sentAt + ttl * 1000;
  // Aborted with a LeaseEndedError, whichever way the lease ends.
  const stop = new AbortController();
  const backoff = createBackoff(options.backoff);

  const onCallerAbort = () => end("closed");
  const end = (reason: LeaseEndReason, cause?: unknown) => {
    if (stop.signal.aborted) return;
    options.signal?.removeEventListener("abort", onCallerAbort);
    const error = new LeaseEndedError(id, reason, { cause });
    stop.abort(error);
    if (reason === "expired" || reason === "unreachable") options.onLost?.(error);
  };
  if (options.signal?.aborted) end("closed");
  else options.signal?.addEventListener("abort", onCallerAbort, { once: true });

  async function renew(): Promise<number> {
    const at = Date.now();
    const r = await services.keepAlive.keepAliveOnce(
      { id },
      { signal: stop.signal, timeoutMs: Math.max(deadline - at, 1000) },
    );
    if (r.ttl === 0n) {
      end("expired");
      return 0;
    }
    ttl = Number(r.ttl);
    deadline = at + ttl * 1000;
    return ttl;
  }

  async function keepAliveLoop() {
    let retryInMs: number | undefined;
    while (!stop.signal.aborted) {
      try {
        await sleep(retryInMs ?? Math.max((ttl * 1000) / 3, minRenewIntervalMs), stop.signal);
      } catch {
        return;
      }
      try {
        if ((await renew()) === 0) return;
        retryInMs = undefined;
        backoff.reset();
      } catch (err) {
        if (stop.signal.aborted) return;
        const left = deadline - Date.now();
        if (left <= 0) {
          end("unreachable", err);
          return;
        }
        retryInMs = Math.min(backoff.next(), left);
      }
    }
  }

  const lease: Lease = withAsyncDispose(
    {
      id,
      get ttl() {
        return ttl;
      },
      signal: stop.signal,
      keepAliveOnce: renew,
      async timeToLive() {
        const r = await services.lease.leaseTimeToLive({ ID: id, keys: true });
        return { ttl: Number(r.TTL), grantedTtl: Number(r.grantedTTL), keys: r.keys };
      },
      async revoke() {
        end("revoked");
        try {
          await services.lease.leaseRevoke({ ID: id });
        } catch (err) {
          // Already gone (expired, or revoked elsewhere): that is what was asked.
          if (!(err instanceof ConnectError && err.code === Code.NotFound)) throw err;
        }
      },
      close() {
        end("closed");
      },
    },
    () => lease.revoke(),
  );
  if (options.keepAlive ?? true) void keepAliveLoop();
  return lease;
}
