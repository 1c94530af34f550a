import type { AuthStore } from "@conclave/core";
import { logEntry } from "./propose-entry.js";
import type { ReplicaLog } from "./replica-log.js";

/**
 * The auth store of a replica: reads and checks from the local copy (every
 * replica applies every auth change), changes through the log. What is not
 * deterministic is done once, by the proposer: password hashing, and
 * Authenticate's password check and token — the token is a log entry, so a
 * token issued by one replica is valid on all of them (each keeps its idle
 * TTL by its own use of it).
 */
export function createReplicatedAuth(local: AuthStore, log: ReplicaLog): AuthStore {
  const change = (request: unknown) =>
    log.propose(logEntry(request as never)).then(() => undefined);
  return {
    ...local,
    enable: () => change({ case: "authEnable", value: {} }),
    disable: () => change({ case: "authDisable", value: {} }),
    async authenticate(name, password) {
      await log.readIndex();
      const checkedRevision = await local.checkPassword(name, password);
      const token = local.newToken();
      await change({
        case: "authenticate",
        value: { name, token, checkedRevision: BigInt(checkedRevision) },
      });
      return token;
    },
    async userAdd(name, password, options = {}) {
      const noPassword = options.noPassword === true;
      const passwordHash = noPassword
        ? ""
        : (options.passwordHash ?? (await local.hashPassword(password)));
      await change({ case: "userAdd", value: { name, passwordHash, noPassword } });
    },
    userDelete: (name) => change({ case: "userDelete", value: { name } }),
    async userChangePassword(name, password, options = {}) {
      local.userGet(name); // errUserNotFound before the hash's cost
      const passwordHash = options.passwordHash ?? (await local.hashPassword(password));
      await change({ case: "userChangePassword", value: { name, passwordHash } });
    },
    userGrantRole: (user, role) => change({ case: "userGrantRole", value: { user, role } }),
    userRevokeRole: (name, role) => change({ case: "userRevokeRole", value: { name, role } }),
    roleAdd: (name) => change({ case: "roleAdd", value: { name } }),
    roleDelete: (role) => change({ case: "roleDelete", value: { role } }),
    roleGrantPermission: (name, perm) =>
      change({ case: "roleGrantPermission", value: { name, perm } }),
    roleRevokePermission: (role, key, rangeEnd) =>
      change({ case: "roleRevokePermission", value: { role, key, rangeEnd } }),
    // The local store's token sweep runs with the context; nothing of its own here.
    start: () => undefined,
    close: () => undefined,
  };
}
