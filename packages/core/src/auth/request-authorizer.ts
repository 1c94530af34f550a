import type { KvAuthorizer } from "../kv/kv-authorizer.js";
import { nestedTxns } from "../requests.js";
import type { DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest } from "../types.js";
import type { AuthInfo, AuthStore } from "./auth-store.js";

/**
 * One caller's key-permission checks, computed from the request the way
 * etcd's authApplierV3 computes them, for the applier and the lessor to run
 * inside the transaction that applies the request. The caller is resolved
 * once, by the server layer, with the auth revision of that moment; every
 * check goes through {@link AuthStore.checkPermission}, which refuses a
 * caller resolved at an older auth revision (`errAuthOldRevision`, as etcd's
 * apply does), so a permission change that lands between resolving the
 * caller and applying the request can never let the request through under
 * the permissions it had before.
 */
export interface RequestAuthorizer extends KvAuthorizer {
  /** LeaseRevoke deletes the lease's keys: WRITE on each (etcd's authApplierV3.LeaseRevoke). */
  leaseRevoke(keys: readonly Uint8Array[]): void;
}

/** The keys attached to a lease, none for an unknown one. */
export type LeaseKeysOf = (lease: bigint) => readonly Uint8Array[];

const empty = new Uint8Array(0);

/**
 * The checks for `caller` (undefined: nobody, refused while auth is on):
 *
 * - Range: READ on its key or range (etcd's IsRangePermitted).
 * - Put: WRITE on the key, READ too when the previous value is asked for,
 *   and WRITE on every key already attached to the lease the put attaches
 *   (etcd's checkLeasePuts: a lease revoke deletes them all, so sharing a
 *   lease needs the right to delete its keys).
 * - DeleteRange: WRITE on the range, READ too with `prev_kv`.
 * - Txn: READ for every compare and range, the put and delete rules for
 *   every write — in both branches and nested txns, whichever would run
 *   (etcd's checkTxnAuth), so a txn cannot probe keys through the branch it
 *   takes.
 * - LeaseRevoke: WRITE on every key of the lease.
 */
export function createRequestAuthorizer(
  auth: AuthStore,
  caller: AuthInfo | undefined,
  leaseKeysOf: LeaseKeysOf,
): RequestAuthorizer {
  return new CallerChecks(auth, caller, leaseKeysOf);
}

/** A class rather than closures: every KV call makes one. */
class CallerChecks implements RequestAuthorizer {
  constructor(
    private readonly auth: AuthStore,
    readonly caller: AuthInfo | undefined,
    private readonly leaseKeysOf: LeaseKeysOf,
  ) {}

  range(r: RangeRequest): void {
    this.auth.checkPermission(this.caller, r.key, r.rangeEnd, "read");
  }

  put(r: PutRequest): void {
    const { auth, caller } = this;
    auth.checkPermission(caller, r.key, empty, "write");
    if (r.prevKv) auth.checkPermission(caller, r.key, empty, "read");
    if (r.lease !== 0n && auth.isEnabled()) {
      for (const k of this.leaseKeysOf(r.lease)) auth.checkPermission(caller, k, empty, "write");
    }
  }

  deleteRange(r: DeleteRangeRequest): void {
    this.auth.checkPermission(this.caller, r.key, r.rangeEnd, "write");
    if (r.prevKv) this.auth.checkPermission(this.caller, r.key, r.rangeEnd, "read");
  }

  txn(r: TxnRequest): void {
    if (!this.auth.isEnabled()) return;
    const { auth, caller } = this;
    for (const t of nestedTxns(r)) {
      for (const c of t.compare) auth.checkPermission(caller, c.key, c.rangeEnd, "read");
      for (const op of [...t.success, ...t.failure]) {
        const q = op.request;
        if (q.case === "requestRange") {
          auth.checkPermission(caller, q.value.key, q.value.rangeEnd, "read");
        } else if (q.case === "requestPut") {
          this.put(q.value);
        } else if (q.case === "requestDeleteRange") {
          this.deleteRange(q.value);
        }
      }
    }
  }

  leaseRevoke(keys: readonly Uint8Array[]): void {
    if (!this.auth.isEnabled()) return;
    for (const k of keys) this.auth.checkPermission(this.caller, k, empty, "write");
  }
}
