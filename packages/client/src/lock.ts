import { defaultSessionTtl } from "@conclave/wire";
import { withAsyncDispose } from "./async-dispose.js";
import type { ConclaveServices } from "./conclave-services.js";
import { grantLease, type Lease, type LeaseInput, type LeaseOptions, leaseIdOf } from "./lease.js";
import { type BytesInput, toBytes } from "./to-bytes.js";

/**
 * The abort signal of a lock or leadership held by `lease`: the lease's own
 * signal when it is a {@link Lease} (aborts when it is lost, revoked or
 * closed), else one that never aborts (nothing here watches a bare ID).
 */
export function leaseSignalOf(lease: LeaseInput): AbortSignal {
  return typeof lease === "bigint" ? new AbortController().signal : lease.signal;
}

/**
 * The lease a lock or campaign hangs on: the caller's `lease`, or a new one
 * of `ttl` seconds (etcd's concurrency session) that `own` holds so the
 * caller can revoke it when done or when the call fails.
 */
export async function sessionLease(
  services: ConclaveServices,
  options: { lease?: LeaseInput; ttl?: number },
  sessionOptions: LeaseOptions,
): Promise<{ lease: LeaseInput; own: Lease | undefined }> {
  if (options.lease !== undefined) return { lease: options.lease, own: undefined };
  const own = await grantLease(services, options.ttl ?? defaultSessionTtl, sessionOptions);
  return { lease: own, own };
}

export interface LockOptions {
  /**
   * The lease that holds the lock: when it ends, the lock is released.
   * Default: a new lease of `ttl` seconds that this client keeps alive and
   * revokes on `unlock()` (etcd's concurrency session).
   */
  lease?: LeaseInput;
  /** TTL of the lease created when none is given, in seconds. Default 60. */
  ttl?: number;
  /** Gives up waiting: the call rejects (Canceled) and the place in line is released. */
  signal?: AbortSignal;
}

/**
 * A held lock. `await using` unlocks it at the end of the block
 * (`[Symbol.asyncDispose]` is `unlock()`).
 *
 * @example
 * ```ts
 * {
 *   await using held = await client.lock("jobs");
 *   await runJob({ signal: held.signal });
 * } // unlocked here, also when runJob throws
 * ```
 */
export interface LockHandle extends AsyncDisposable {
  /**
   * The ownership key (`name/<lease hex>`). It exists while the lock is
   * held; its create revision orders holders, so guarding writes with
   * `create_revision(key) > 0` in a Txn fences a holder whose lease ran out.
   */
  readonly key: Uint8Array;
  /** The store revision when the lock was acquired. */
  readonly revision: bigint;
  /** The lease holding the lock (a lease object when the lock created it). */
  readonly lease: LeaseInput;
  /**
   * Aborts when the lease holding the lock ends — lost (the lock may already
   * be someone else's), revoked, or closed with the client — so work done
   * under the lock can stop. Never aborts when the lock hangs on a bare lease ID.
   */
  readonly signal: AbortSignal;
  /** Releases the lock; if the lock created its lease, revokes that too. */
  unlock(): Promise<void>;
}

/**
 * Acquires a named lock through etcd's v3lock service (a unary call that
 * waits in line on the server, so it works from browsers too). Holders are
 * tied to a lease: if this client stops renewing it, the lock frees itself
 * after the TTL. `sessionOptions` apply to the lease created when
 * `options.lease` is not given. `ConclaveClient.lock` is this with the
 * client's services and `close()`.
 *
 * @example
 * ```ts
 * const held = await acquireLock(services, "jobs", { ttl: 10 });
 * try {
 *   await runJob();
 * } finally {
 *   await held.unlock();
 * }
 * ```
 */
export async function acquireLock(
  services: ConclaveServices,
  name: BytesInput,
  options: LockOptions = {},
  sessionOptions: LeaseOptions = {},
): Promise<LockHandle> {
  const { lease, own } = await sessionLease(services, options, sessionOptions);
  try {
    const r = await services.lock.lock(
      { name: toBytes(name), lease: leaseIdOf(lease) },
      { ...(options.signal !== undefined && { signal: options.signal }) },
    );
    const unlock = async () => {
      await services.lock.unlock({ key: r.key });
      await own?.revoke();
    };
    return withAsyncDispose(
      {
        key: r.key,
        revision: r.header?.revision ?? 0n,
        lease,
        signal: leaseSignalOf(lease),
        unlock,
      },
      unlock,
    );
  } catch (err) {
    await own?.revoke().catch(() => undefined);
    throw err;
  }
}
