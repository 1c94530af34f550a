import {
  errAuthFailed,
  errAuthNotEnabled,
  errAuthOldRevision,
  errCompacted,
  errFutureRev,
  errInvalidAuthMgmt,
  errInvalidAuthToken,
  errKeyNotFound,
  errLeaseExists,
  errLeaseNotFound,
  errLeaseTTLTooLarge,
  errNoLeader,
  errNoSpace,
  errPermissionDenied,
  errPermissionNotGiven,
  errPermissionNotGranted,
  errRoleAlreadyExist,
  errRoleEmpty,
  errRoleNotFound,
  errRoleNotGranted,
  errRootRoleNotExist,
  errRootUserNotExist,
  errTimeout,
  errUserAlreadyExist,
  errUserEmpty,
  errUserNotFound,
  errVerifyOnly,
} from "@conclave/core";
import { Code, ConnectError } from "@connectrpc/connect";
import { RecipeError } from "./concurrency.js";
import { LineError } from "./leader-election/election-line.js";
import { ElectionInputError, ElectionNotFoundError } from "./leader-election/errors.js";

/**
 * Errors raised by request validation at the API edge (etcd's rpctypes
 * "ErrGRPC…" values that are not domain errors of the store).
 */
export class ApiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ApiError";
  }
}
export const errEmptyKey = new ApiError("etcdserver: key is not provided");
export const errValueProvided = new ApiError("etcdserver: value is provided");
export const errLeaseProvided = new ApiError("etcdserver: lease is provided");
export const errTooManyOps = new ApiError("etcdserver: too many operations in txn request");
export const errDuplicateKey = new ApiError("etcdserver: duplicate key given in txn request");
export const errRequestTooLarge = new ApiError("etcdserver: request is too large");
/** MoveLeader to a member that cannot lead (with one member: any but itself). */
export const errBadLeaderTransferee = new ApiError("etcdserver: bad leader transferee");
/** A call only the leader answers (MoveLeader) reached another member. */
export const errNotLeader = new ApiError("etcdserver: not leader");

/**
 * THE error table: every domain or validation sentinel → the gRPC code and
 * the exact message etcd 3.4 sends, which clients match as strings
 * (clientv3's rpctypes, jetcd, the etcd3 npm package). Anything not in the
 * table is an internal error and is reported as Unknown without details.
 */
const table = new Map<Error, { code: Code; message: string }>([
  [errEmptyKey, { code: Code.InvalidArgument, message: errEmptyKey.message }],
  [errKeyNotFound, { code: Code.InvalidArgument, message: "etcdserver: key not found" }],
  [errValueProvided, { code: Code.InvalidArgument, message: errValueProvided.message }],
  [errLeaseProvided, { code: Code.InvalidArgument, message: errLeaseProvided.message }],
  [errTooManyOps, { code: Code.InvalidArgument, message: errTooManyOps.message }],
  [errDuplicateKey, { code: Code.InvalidArgument, message: errDuplicateKey.message }],
  [errRequestTooLarge, { code: Code.InvalidArgument, message: errRequestTooLarge.message }],
  [
    errBadLeaderTransferee,
    { code: Code.FailedPrecondition, message: errBadLeaderTransferee.message },
  ],
  [errNotLeader, { code: Code.FailedPrecondition, message: errNotLeader.message }],
  [
    errCompacted,
    { code: Code.OutOfRange, message: "etcdserver: mvcc: required revision has been compacted" },
  ],
  [
    errFutureRev,
    { code: Code.OutOfRange, message: "etcdserver: mvcc: required revision is a future revision" },
  ],
  [errLeaseTTLTooLarge, { code: Code.OutOfRange, message: "etcdserver: too large lease TTL" }],
  [errLeaseNotFound, { code: Code.NotFound, message: "etcdserver: requested lease not found" }],
  [errLeaseExists, { code: Code.FailedPrecondition, message: "etcdserver: lease already exists" }],
  [
    errNoSpace,
    { code: Code.ResourceExhausted, message: "etcdserver: mvcc: database space exceeded" },
  ],
  [errNoLeader, { code: Code.Unavailable, message: "etcdserver: no leader" }],
  [errTimeout, { code: Code.Unavailable, message: "etcdserver: request timed out" }],
  // Auth (etcd's rpctypes ErrGRPC… for the auth store's errors).
  [errUserEmpty, { code: Code.InvalidArgument, message: "etcdserver: user name is empty" }],
  [errRoleEmpty, { code: Code.InvalidArgument, message: "etcdserver: role name is empty" }],
  [
    errAuthFailed,
    {
      code: Code.InvalidArgument,
      message: "etcdserver: authentication failed, invalid user ID or password",
    },
  ],
  [
    errInvalidAuthMgmt,
    { code: Code.InvalidArgument, message: "etcdserver: invalid auth management" },
  ],
  [
    errAuthOldRevision,
    { code: Code.InvalidArgument, message: "etcdserver: revision of auth store is old" },
  ],
  [
    errPermissionNotGiven,
    { code: Code.InvalidArgument, message: "etcdserver: permission not given" },
  ],
  [
    errRootUserNotExist,
    { code: Code.FailedPrecondition, message: "etcdserver: root user does not exist" },
  ],
  [
    errRootRoleNotExist,
    { code: Code.FailedPrecondition, message: "etcdserver: root user does not have root role" },
  ],
  [
    errUserAlreadyExist,
    { code: Code.FailedPrecondition, message: "etcdserver: user name already exists" },
  ],
  [errUserNotFound, { code: Code.FailedPrecondition, message: "etcdserver: user name not found" }],
  [
    errRoleAlreadyExist,
    { code: Code.FailedPrecondition, message: "etcdserver: role name already exists" },
  ],
  [errRoleNotFound, { code: Code.FailedPrecondition, message: "etcdserver: role name not found" }],
  [
    errRoleNotGranted,
    { code: Code.FailedPrecondition, message: "etcdserver: role is not granted to the user" },
  ],
  [
    errPermissionNotGranted,
    { code: Code.FailedPrecondition, message: "etcdserver: permission is not granted to the role" },
  ],
  [
    errAuthNotEnabled,
    { code: Code.FailedPrecondition, message: "etcdserver: authentication is not enabled" },
  ],
  [errPermissionDenied, { code: Code.PermissionDenied, message: "etcdserver: permission denied" }],
  [errInvalidAuthToken, { code: Code.Unauthenticated, message: "etcdserver: invalid auth token" }],
  // Not in etcd's rpctypes table: its togRPCError passes it on as Unknown with the auth text.
  [
    errVerifyOnly,
    { code: Code.Unknown, message: "auth: token signing attempted with verify-only key" },
  ],
]);

/**
 * The auth store's sentinels. etcd's authMaintenanceServer returns them as
 * plain errors, with the auth package's own text (see {@link ErrorFlavour}).
 */
const authErrors = new Set<Error>([
  errUserEmpty,
  errRoleEmpty,
  errAuthFailed,
  errInvalidAuthMgmt,
  errAuthOldRevision,
  errPermissionNotGiven,
  errRootUserNotExist,
  errRootRoleNotExist,
  errUserAlreadyExist,
  errUserNotFound,
  errRoleAlreadyExist,
  errRoleNotFound,
  errRoleNotGranted,
  errPermissionNotGranted,
  errAuthNotEnabled,
  errPermissionDenied,
  errInvalidAuthToken,
]);

/**
 * A request of the conclave.v1 API that cannot be served as asked (its
 * message says why, in Conclave's words): InvalidArgument.
 */
export class ValidationError extends Error {
  override name = "ValidationError";
}

/**
 * A request message over the size limit, worded as grpc-go (and so etcd)
 * words it: clients and their tests match "received message larger than
 * max". Raised by the transports, which check sizes before any decoding.
 */
export class MessageTooLargeError extends Error {
  override name = "MessageTooLargeError";
  constructor(size: number, max: number) {
    super(`grpc: received message larger than max (${size} vs. ${max})`);
  }
}

/** Error classes whose messages carry names or sizes, by class. */
const classTable: Array<[new (...args: never[]) => Error, (e: Error) => Code]> = [
  // etcd's Lock/Election servers return these as plain errors: code Unknown.
  [RecipeError, () => Code.Unknown],
  [ValidationError, () => Code.InvalidArgument],
  [MessageTooLargeError, () => Code.ResourceExhausted],
  [ElectionInputError, () => Code.InvalidArgument],
  [ElectionNotFoundError, () => Code.NotFound],
  [
    LineError,
    (e) => ((e as LineError).kind === "candidate_exists" ? Code.AlreadyExists : Code.NotFound),
  ],
];

/**
 * How one service or method words the errors of the table, where etcd
 * words them differently from its KV API:
 *
 * - `"status"` (the default): the table's code and text.
 * - `"plain"`: etcd's Lock and Election servers run client-side recipes
 *   that call the KV API through a client, so whatever the KV API refused
 *   reaches their callers as a plain Go error — code Unknown with the table's
 *   text (`etcdserver: permission denied`). jetcd matches these strings.
 * - `"plainAuth"`: etcd's authMaintenanceServer returns the auth store's
 *   error as is for its admin-only methods: code Unknown with the auth
 *   package's text (`auth: permission denied`, `auth: invalid auth token`).
 *   Every other error keeps the table's status.
 */
export type ErrorFlavour = "status" | "plain" | "plainAuth";

/**
 * The services and methods whose errors are not worded as `"status"`, by
 * `typeName` or `typeName/Method`. The Maintenance methods are the
 * admin-only ones of the auth policy (auth-policy.ts).
 */
const flavours = new Map<string, ErrorFlavour>([
  ["v3lockpb.Lock", "plain"],
  ["v3electionpb.Election", "plain"],
  ["etcdserverpb.Maintenance/Defragment", "plainAuth"],
  ["etcdserverpb.Maintenance/Hash", "plainAuth"],
  ["etcdserverpb.Maintenance/HashKV", "plainAuth"],
  ["etcdserverpb.Maintenance/Snapshot", "plainAuth"],
]);

/** The flavour of a method's errors: its own entry, else its service's, else `"status"`. */
export function errorFlavourOf(service: string, method: string): ErrorFlavour {
  return flavours.get(`${service}/${method}`) ?? flavours.get(service) ?? "status";
}

/**
 * The status of a domain or validation error in the given flavour, or
 * undefined for what the table does not know (an internal error).
 */
export function statusOf(
  err: Error,
  flavour: ErrorFlavour = "status",
): { code: Code; message: string } | undefined {
  const known = table.get(err);
  if (known !== undefined) {
    if (flavour === "plain") return { code: Code.Unknown, message: known.message };
    if (flavour === "plainAuth" && authErrors.has(err)) {
      return { code: Code.Unknown, message: err.message };
    }
    return known;
  }
  for (const [cls, code] of classTable) {
    if (err instanceof cls) return { code: code(err), message: err.message };
  }
  return undefined;
}

/**
 * Maps any thrown value to the ConnectError a client must see: a
 * ConnectError (a transport's or the deadline's) as it is, the table's
 * errors in `flavour`, anything else as Unknown without details.
 */
export function toConnectError(err: unknown, flavour: ErrorFlavour = "status"): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof Error) {
    const status = statusOf(err, flavour);
    if (status !== undefined) return new ConnectError(status.message, status.code);
  }
  return new ConnectError("etcdserver: internal error", Code.Unknown, undefined, undefined, err);
}

/**
 * What etcd's watch puts in `cancel_reason` when it refuses a create: the
 * gRPC status of the error in Go's text form,
 * `rpc error: code = PermissionDenied desc = etcdserver: permission denied`.
 */
export function cancelReasonOf(err: unknown): string {
  const c = toConnectError(err);
  return `rpc error: code = ${Code[c.code]} desc = ${c.rawMessage}`;
}
