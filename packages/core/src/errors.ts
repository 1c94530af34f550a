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
/** A write while the backend is over its quota, or while the NOSPACE alarm is raised. */
export const errNoSpace = new CoreError("mvcc: database space exceeded");
/**
 * A replica cannot reach the storage it shares with the others, so it cannot
 * order a write or confirm a linearizable read (etcd's ErrNoLeader: a member
 * cut off from its cluster). Clients retry elsewhere.
 */
export const errNoLeader = new CoreError("etcdserver: no leader");
/** A write whose commit could not be confirmed either way (etcd's ErrTimeout). */
export const errTimeout = new CoreError("etcdserver: request timed out");
/** The store was closed; nothing more is accepted. */
export const errStoreClosed = new CoreError("mvcc: closed");

// Auth store errors (etcd's auth package). The server maps each to the
// "etcdserver: …" status clients match; Maintenance admin checks report the
// auth package's own text, as etcd does.
/** AuthEnable without a `root` user. */
export const errRootUserNotExist = new CoreError("auth: root user does not exist");
/** AuthEnable while the `root` user lacks the `root` role. */
export const errRootRoleNotExist = new CoreError("auth: root user does not have root role");
export const errUserAlreadyExist = new CoreError("auth: user already exists");
/** No user name: an empty name in UserAdd, or a request without identity while auth is on. */
export const errUserEmpty = new CoreError("auth: user name is empty");
export const errUserNotFound = new CoreError("auth: user not found");
export const errRoleAlreadyExist = new CoreError("auth: role already exists");
export const errRoleNotFound = new CoreError("auth: role not found");
export const errRoleEmpty = new CoreError("auth: role name is empty");
/** Unknown user, wrong password, or a user added without a password. */
export const errAuthFailed = new CoreError(
  "auth: authentication failed, invalid user ID or password",
);
export const errPermissionDenied = new CoreError("auth: permission denied");
export const errRoleNotGranted = new CoreError("auth: role is not granted to the user");
export const errPermissionNotGranted = new CoreError("auth: permission is not granted to the role");
/** RoleGrantPermission without a permission (etcd 3.4 crashes; 3.5 answers this). */
export const errPermissionNotGiven = new CoreError("auth: permission not given");
export const errAuthNotEnabled = new CoreError("auth: authentication is not enabled");
/** The auth state changed between resolving the caller and checking it. */
export const errAuthOldRevision = new CoreError("auth: revision in header is old");
/** A token that is unknown, expired or revoked (sent even while auth is off). */
export const errInvalidAuthToken = new CoreError("auth: invalid auth token");
/** Deleting `root`, its role, or revoking `root` from it while auth is on. */
export const errInvalidAuthMgmt = new CoreError("auth: invalid auth management");
/**
 * Authenticate on a server that has only the public key of its JWT sign
 * method (`--auth-token jwt,pub-key=…` without `priv-key`): it verifies
 * tokens issued elsewhere but cannot sign one.
 */
export const errVerifyOnly = new CoreError("auth: token signing attempted with verify-only key");
