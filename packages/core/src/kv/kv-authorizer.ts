import type { DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest } from "../types.js";

/**
 * The permission check of one caller, run by the applier from inside the
 * read view or write transaction that serves the request — etcd's
 * authApplierV3, which wraps its applier so every request passes the check
 * in apply. Because the check runs in the transaction, nothing can come
 * between it and the apply: the auth state (and auth revision) that allowed
 * a write is the one the write happens under. Each method returns, or
 * throws the refusal (a sentinel of the server's error table); a throw
 * aborts the transaction before its first change.
 *
 * Declared here, on the consumer side, so the applier does not depend on the
 * auth store; `createRequestAuthorizer` (auth/) supplies it.
 */
export interface KvAuthorizer {
  /**
   * Who the checks are for (undefined: nobody). An applier that does not
   * apply the request here — a replica proposing it to the shared log —
   * carries this along so every replica re-creates the same check in its own
   * apply.
   */
  readonly caller?: { username: string; revision: number } | undefined;
  /**
   * Set when the checks are not computed from the request but from a key
   * range the caller acts within (`createScopedAuthorizer`); carried along
   * with the caller for the same reason.
   */
  readonly scope?: KeyScope | undefined;
  range(r: RangeRequest): void;
  put(r: PutRequest): void;
  deleteRange(r: DeleteRangeRequest): void;
  txn(r: TxnRequest): void;
}

/** A key range in etcd's forms and the access every request within it needs. */
export interface KeyScope {
  readonly key: Uint8Array;
  /** etcd's range end: empty for the single key, "\0" for every key from `key` on. */
  readonly rangeEnd: Uint8Array;
  /** WRITE as well as READ. */
  readonly write: boolean;
}
