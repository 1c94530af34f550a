/**
 * etcd's default session TTL, in seconds (its concurrency package's
 * `defaultSessionTTL`): a Lock or Campaign without a lease gets a lease this
 * long. Default 60. The server's v3lock/v3election services and the client's
 * lock and election helpers both use it, so the two sides cannot drift.
 */
export const defaultSessionTtl = 60;
