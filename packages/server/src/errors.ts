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
  errPermissionDenied,
  errPermissionNotGiven,
  errPermissionNotGranted,
  errRoleAlreadyExist,
  errRoleEmpty,
  errRoleNotFound,
  errRoleNotGranted,
  errRootRoleNotExist,
  errRootUserNotExist,
  errUserAlreadyExist,
  errUserEmpty,
  errUserNotFound,
} from "@conclave/core";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  errElectionNoLeader,
  errElectionNotLeader,
  errLostWatcher,
  errMissingLeaderKey,
  RecipeError,
} from "./concurrency.js";
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
  // etcd's Lock/Election servers return these as plain errors: code Unknown.
  [errElectionNotLeader, { code: Code.Unknown, message: errElectionNotLeader.message }],
  [errElectionNoLeader, { code: Code.Unknown, message: errElectionNoLeader.message }],
  [errMissingLeaderKey, { code: Code.Unknown, message: errMissingLeaderKey.message }],
  [errLostWatcher, { code: Code.Unknown, message: errLostWatcher.message }],
]);

/** Error classes whose messages carry names (conclave.v1 API), by class. */
const classTable: Array<[new (...args: never[]) => Error, (e: Error) => Code]> = [
  [ElectionInputError, () => Code.InvalidArgument],
  [ElectionNotFoundError, () => Code.NotFound],
  [
    LineError,
    (e) => ((e as LineError).kind === "candidate_exists" ? Code.AlreadyExists : Code.NotFound),
  ],
];

/** Maps any thrown value to the ConnectError a client must see. */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof RecipeError) return new ConnectError(err.message, Code.Unknown);
  if (err instanceof ConnectError) return err;
  if (err instanceof Error) {
    const known = table.get(err);
    if (known !== undefined) return new ConnectError(known.message, known.code);
    for (const [cls, code] of classTable) {
      if (err instanceof cls) return new ConnectError(err.message, code(err));
    }
  }
  return new ConnectError("etcdserver: internal error", Code.Unknown, undefined, undefined, err);
}

/** The code and message a sentinel maps to (for tests and the JSON gateway). */
export function errorStatus(err: Error): { code: Code; message: string } | undefined {
  return table.get(err);
}
