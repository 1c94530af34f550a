import type { AuthChangeBy, AuthStore } from "@conclave/core";
import { logEntry } from "./propose-entry.js";
import type { ReplicaLog } from "./replica-log.js";

/**
 * The auth store of a replica: reads and checks from the local copy (every
 * replica applies every auth change), changes through the log. What is not
 * deterministic is done once, by the proposer: password hashing, and
 * Authenticate's password check and token — the token is a log entry, so a
 * token issued by one replica is valid on all of them (each keeps its idle
 * TTL by its own use of it). A JWT needs no entry: it carries its own proof,
 * so the proposer checks the password and signs it, and every replica with
 * the key verifies it.
 *
 * A change's caller (`AuthChangeBy`) goes into its log entry, and every
 * replica's apply checks its root role there, against the auth state at that
 * point of the log (etcd's authApplierV3). The proposer refuses a caller
 * without it before hashing a password, as the embedded store does.
 */
export function createReplicatedAuth(local: AuthStore, log: ReplicaLog): AuthStore {
  const change = (request: unknown, by?: AuthChangeBy) =>
    log.propose(logEntry(request as never, by)).then(() => undefined);
  /** The early refusal, before a hash's cost; the apply checks again. */
  const admit = (by: AuthChangeBy | undefined) => {
    if (by !== undefined) local.checkAdmin(by.caller);
  };
  return {
    ...local,
    enable: (by) => change({ case: "authEnable", value: {} }, by),
    disable: (by) => change({ case: "authDisable", value: {} }, by),
    async authenticate(name, password) {
      await log.readIndex();
      if (local.tokenType === "jwt") return local.authenticate(name, password);
      const checkedRevision = await local.checkPassword(name, password);
      const token = local.newToken();
      await change({
        case: "authenticate",
        value: { name, token, checkedRevision: BigInt(checkedRevision) },
      });
      return token;
    },
    async userAdd(name, password, options = {}, by = undefined) {
      admit(by);
      const noPassword = options.noPassword === true;
      const passwordHash = noPassword
        ? ""
        : (options.passwordHash ?? (await local.hashPassword(password)));
      await change({ case: "userAdd", value: { name, passwordHash, noPassword } }, by);
    },
    userDelete: (name, by) => change({ case: "userDelete", value: { name } }, by),
    async userChangePassword(name, password, options = {}, by = undefined) {
      admit(by);
      local.userGet(name); // errUserNotFound before the hash's cost
      const passwordHash = options.passwordHash ?? (await local.hashPassword(password));
      await change({ case: "userChangePassword", value: { name, passwordHash } }, by);
    },
    userGrantRole: (user, role, by) => change({ case: "userGrantRole", value: { user, role } }, by),
    userRevokeRole: (name, role, by) =>
      change({ case: "userRevokeRole", value: { name, role } }, by),
    roleAdd: (name, by) => change({ case: "roleAdd", value: { name } }, by),
    roleDelete: (role, by) => change({ case: "roleDelete", value: { role } }, by),
    roleGrantPermission: (name, perm, by) =>
      change({ case: "roleGrantPermission", value: { name, perm } }, by),
    roleRevokePermission: (role, key, rangeEnd, by) =>
      change({ case: "roleRevokePermission", value: { role, key, rangeEnd } }, by),
    // The local store's token sweep runs with the context; nothing of its own here.
    start: () => undefined,
    close: () => undefined,
  };
}
