import {
  createRequestAuthorizer,
  createScopedAuthorizer,
  type KvAuthorizer,
  type RequestAuthorizer,
} from "@conclave/core";
import type { conclaveLog } from "@conclave/proto";
import type { ServerContext } from "../server-context.js";

/** AlarmRequest.AlarmAction values (etcdserverpb). */
const alarmActivate = 1;
const alarmDeactivate = 2;

/**
 * The replica's state machine: applies one log entry to the local copy
 * (`local`: the context over the replica's own backend, with its own
 * applier, lessor, auth and alarm stores) and returns what the proposer
 * answers its client — etcd's applierV3 over an InternalRaftRequest. Every
 * replica applies every entry in the same order and so reaches the same
 * state; errors (a failed compare is not one, a permission refusal is) are
 * part of that determinism, thrown to the proposer and ignored elsewhere.
 *
 * The caller's permissions are checked here, in the apply, against the
 * auth state at this point of the log (etcd's authApplierV3), with the
 * caller and auth revision the proposer resolved.
 */
export async function applyLogEntry(
  local: ServerContext,
  entry: conclaveLog.LogEntry,
): Promise<unknown> {
  const auth = authorizerFor(local, entry.caller);
  // An auth change's caller, whose root role the change checks as it applies.
  const by = entry.caller === undefined ? undefined : { caller: auth?.caller };
  const r = entry.request;
  switch (r.case) {
    case "put":
      return local.kv.put(r.value, auth);
    case "deleteRange":
      return local.kv.deleteRange(r.value, auth);
    case "txn":
      return local.kv.txn(r.value, auth);
    case "compaction":
      return local.kv.compact(r.value);
    case "leaseGrant":
      return local.lessor.grant(r.value.ID, Number(r.value.TTL));
    case "leaseRevoke":
      return local.lessor.revoke(r.value.ID, requestAuthorizerFor(local, entry.caller));
    case "leaseExpire": {
      const keys = local.lessor.timeToLive(r.value.id)?.keys.length ?? 0;
      const rev = await local.lessor.revoke(r.value.id);
      return { rev, keys };
    }
    case "authEnable":
      return local.auth.enable(by);
    case "authDisable":
      return local.auth.disable(by);
    case "authenticate":
      local.auth.assignToken(r.value.name, r.value.token, Number(r.value.checkedRevision));
      return r.value.token;
    case "userAdd":
      return local.auth.userAdd(
        r.value.name,
        "",
        { noPassword: r.value.noPassword, passwordHash: r.value.passwordHash },
        by,
      );
    case "userDelete":
      return local.auth.userDelete(r.value.name, by);
    case "userChangePassword":
      return local.auth.userChangePassword(
        r.value.name,
        "",
        { passwordHash: r.value.passwordHash },
        by,
      );
    case "userGrantRole":
      return local.auth.userGrantRole(r.value.user, r.value.role, by);
    case "userRevokeRole":
      return local.auth.userRevokeRole(r.value.name, r.value.role, by);
    case "roleAdd":
      return local.auth.roleAdd(r.value.name, by);
    case "roleDelete":
      return local.auth.roleDelete(r.value.role, by);
    case "roleGrantPermission":
      return local.auth.roleGrantPermission(r.value.name, r.value.perm, by);
    case "roleRevokePermission":
      return local.auth.roleRevokePermission(r.value.role, r.value.key, r.value.rangeEnd, by);
    case "alarm":
      if (r.value.action === alarmActivate) {
        return local.alarms.activate(r.value.memberID, r.value.alarm);
      }
      if (r.value.action === alarmDeactivate) {
        return local.alarms.deactivate(r.value.memberID, r.value.alarm);
      }
      return undefined;
    case "restore":
      // The replica loads the log's restore prefix before its store opens
      // (loadRestorePrefix); the log stops at a restore entry past it.
      throw new Error("conclave: a restore entry applies only as the log's prefix");
    case undefined:
      return undefined;
  }
}

/** The checks the proposer's authorizer ran: computed from the request, or a scope's. */
function authorizerFor(
  local: ServerContext,
  caller: conclaveLog.Caller | undefined,
): KvAuthorizer | undefined {
  if (caller?.scope === undefined) return requestAuthorizerFor(local, caller);
  const info = { username: caller.username, revision: Number(caller.authRevision) };
  return createScopedAuthorizer(local.auth, info, caller.scope);
}

function requestAuthorizerFor(
  local: ServerContext,
  caller: conclaveLog.Caller | undefined,
): RequestAuthorizer | undefined {
  if (caller === undefined) return undefined;
  return createRequestAuthorizer(
    local.auth,
    { username: caller.username, revision: Number(caller.authRevision) },
    (id) => local.lessor.timeToLive(id)?.keys ?? [],
  );
}
