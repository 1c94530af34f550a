// The defaults of a Conclave member's settings, written once: the CLI's
// flags (apps/server), the server context (packages/server) and the auth
// store read them from here. Each is etcd's default for the flag of the
// same name unless said otherwise.

/** `--name`: the member's name. Default "default". */
export const defaultMemberName = "default";

/**
 * `--listen-client-urls`: where a member listens for clients. Default
 * "http://127.0.0.1:2379", etcd's client port on loopback only.
 */
export const defaultListenClientUrl = "http://127.0.0.1:2379";

/** `--max-txn-ops`: the most operations one transaction may hold. Default 128. */
export const defaultMaxTxnOps = 128;

/** `--max-request-bytes`: the largest client request, in bytes. Default 1 572 864 (1.5 MiB). */
export const defaultMaxRequestBytes = 1.5 * 1024 * 1024;

/** `--auth-token-ttl`: seconds a simple auth token stays valid without use. Default 300. */
export const defaultAuthTokenTtlSeconds = 300;

/**
 * The `ttl` option of `--auth-token jwt,…`: how long a JWT is valid after it
 * is issued, in ms. Default 300 000 (5m, etcd's jwt DefaultTTL).
 */
export const defaultJwtTtlMs = 5 * 60 * 1000;

/**
 * The lease grace after a restart or a takeover of the cluster duties, in ms:
 * a lease gets min(TTL, this) when less is left. Default 10 000 (Conclave's
 * rule; etcd resets every TTL in full).
 */
export const defaultLeaseGraceMs = 10_000;
