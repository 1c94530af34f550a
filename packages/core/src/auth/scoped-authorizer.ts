import type { KeyScope, KvAuthorizer } from "../kv/kv-authorizer.js";
import type { AuthInfo, AuthStore } from "./auth-store.js";

/**
 * The checks of a caller acting through an API that authorizes a whole key
 * range rather than the keys each request touches — conclave.v1
 * LeaderElection, whose calls need READ on the election's prefix, and WRITE
 * too for a change, whichever of its keys a step reads or writes. Every
 * request the applier serves for it (range, put, delete, txn) checks READ on
 * `scope`, then WRITE when `scope.write`, inside the read view or write that
 * serves it, like {@link createRequestAuthorizer}'s checks.
 *
 * Carries `scope` so a replica that proposes the request re-creates the same
 * checks in every replica's apply.
 */
export function createScopedAuthorizer(
  auth: AuthStore,
  caller: AuthInfo | undefined,
  scope: KeyScope,
): KvAuthorizer {
  const check = () => {
    auth.checkPermission(caller, scope.key, scope.rangeEnd, "read");
    if (scope.write) auth.checkPermission(caller, scope.key, scope.rangeEnd, "write");
  };
  return { caller, scope, range: check, put: check, deleteRange: check, txn: check };
}
