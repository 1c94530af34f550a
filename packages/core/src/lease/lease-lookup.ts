/**
 * What the key-value applier needs to know of leases: whether one exists.
 * Declared here, on the consumer side (as etcd's mvcc declares what it needs
 * of the lessor), so the applier does not depend on the lessor's internals.
 */
export interface LeaseLookup {
  exists(id: bigint): boolean;
}

/** A lookup that knows no leases: every non-zero lease is unknown. */
export const noLeases: LeaseLookup = { exists: () => false };
