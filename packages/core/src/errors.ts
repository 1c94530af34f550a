/**
 * Domain errors of the core, as sentinels (the way etcd's mvcc and etcdserver
 * packages declare them). The transport edge maps each sentinel to a gRPC code
 * and etcd's exact message in one table; the core never knows about gRPC.
 *
 * Compare by identity: `err === errCompacted`.
 */
export class CoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CoreError";
  }
}

/** A read or compaction asked for a revision that compaction already removed. */
export const errCompacted = new CoreError("mvcc: required revision has been compacted");
/** A read or compaction asked for a revision the store has not reached yet. */
export const errFutureRev = new CoreError("mvcc: required revision is a future revision");
/** ignore_value / ignore_lease on a key that does not exist. */
export const errKeyNotFound = new CoreError("etcdserver: key not found");
/** A put or txn names a lease the lessor does not know. */
export const errLeaseNotFound = new CoreError("lease not found");
/** LeaseGrant with an ID that is already in use. */
export const errLeaseExists = new CoreError("lease already exists");
/** LeaseGrant with a TTL above the maximum. */
export const errLeaseTTLTooLarge = new CoreError("too large lease TTL");
/** The store was closed; nothing more is accepted. */
export const errStoreClosed = new CoreError("mvcc: closed");
