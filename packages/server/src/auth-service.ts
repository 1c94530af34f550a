import { type AuthChangeBy, type KeyPermission, PermissionType } from "@conclave/core";
import type { Auth, Permission } from "@conclave/proto";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { callerOf } from "./auth-guard.js";
import { fillHeader } from "./header.js";
import type { ServerContext } from "./server-context.js";

const toPermType = (t: number): KeyPermission["permType"] =>
  t === PermissionType.WRITE || t === PermissionType.READWRITE ? t : PermissionType.READ;

/**
 * etcdserverpb.Auth over the core auth store. Who may call what is etcd
 * 3.4's rule, written in the auth policy (auth-policy.ts): with auth on,
 * every management call needs the root role, except that users may read
 * their own user and the roles they hold; AuthEnable needs nothing while
 * auth is off; Authenticate needs nothing but a valid token if one is sent.
 * Reads are checked by the auth layer before they run; changes hand the
 * caller to the auth store, which checks the root role as it applies the
 * change — after hashing a password (UserAdd, UserChangePassword), as etcd
 * hashes in its API layer and checks in apply. Responses carry the usual
 * header (the KV revision), as etcd's do.
 */
export function createAuthService(ctx: ServerContext): ServiceImpl<typeof Auth> {
  const { auth } = ctx;
  const header = () => fillHeader(ctx);
  /** Runs a change for the caller and answers with a header once it is durable. */
  const change =
    <R>(run: (req: R, by: AuthChangeBy) => Promise<void>) =>
    async (req: R, hctx: HandlerContext) => {
      await run(req, { caller: callerOf(ctx, hctx) });
      return { header: header() };
    };

  return {
    authEnable: change((_req, by) => auth.enable(by)),
    authDisable: change((_req, by) => auth.disable(by)),
    async authStatus() {
      return {
        header: header(),
        enabled: auth.isEnabled(),
        authRevision: BigInt(auth.revision()),
      };
    },
    async authenticate(req) {
      const token = await auth.authenticate(req.name, req.password);
      return { header: header(), token };
    },

    userAdd: change((req, by) =>
      auth.userAdd(req.name, req.password, { noPassword: req.options?.noPassword === true }, by),
    ),
    async userGet(req) {
      return { header: header(), roles: auth.userGet(req.name) };
    },
    async userList() {
      return { header: header(), users: auth.userList() };
    },
    userDelete: change((req, by) => auth.userDelete(req.name, by)),
    userChangePassword: change((req, by) =>
      auth.userChangePassword(req.name, req.password, {}, by),
    ),
    userGrantRole: change((req, by) => auth.userGrantRole(req.user, req.role, by)),
    userRevokeRole: change((req, by) => auth.userRevokeRole(req.name, req.role, by)),

    roleAdd: change((req, by) => auth.roleAdd(req.name, by)),
    async roleGet(req) {
      const perm = auth
        .roleGet(req.role)
        .map((p) => ({ permType: p.permType, key: p.key, rangeEnd: p.rangeEnd }) as Permission);
      return { header: header(), perm };
    },
    async roleList() {
      return { header: header(), roles: auth.roleList() };
    },
    roleDelete: change((req, by) => auth.roleDelete(req.role, by)),
    roleGrantPermission: change((req, by) =>
      auth.roleGrantPermission(
        req.name,
        req.perm === undefined
          ? undefined
          : {
              permType: toPermType(req.perm.permType),
              key: req.perm.key,
              rangeEnd: req.perm.rangeEnd,
            },
        by,
      ),
    ),
    roleRevokePermission: change((req, by) =>
      auth.roleRevokePermission(req.role, req.key, req.rangeEnd, by),
    ),
  };
}
