import { defaultSessionTtl } from "@conclave/wire";
import type { ConclaveServices } from "./conclave-services.js";
import { grantLease, type Lease, type LeaseInput, type LeaseOptions, leaseIdOf } from "./lease.js";
import { type BytesInput, toBytes } from "./to-bytes.js";

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

/** A held lock. */
export interface LockHandle {
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
  /** Releases the lock; if the lock created its lease, revokes that too. */
  unlock(): Promise<void>;
}

/**
 * Acquires a named lock through etcd's v3lock service (a unary call that
 * waits in line on the server, so it works from browsers too). Holders are
 * tied to a lease: if this client stops renewing it, the lock frees itself
 * after the TTL. `sessionOptions` apply to the lease created when
 * `options.lease` is not given.
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
    return {
      key: r.key,
      revision: r.header?.revision ?? 0n,
      lease,
      async unlock() {
        await services.lock.unlock({ key: r.key });
        await own?.revoke();
      },
    };
  } catch (err) {
    await own?.revoke().catch(() => undefined);
    throw err;
  }
}
