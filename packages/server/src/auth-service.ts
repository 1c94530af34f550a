import { type KeyPermission, PermissionType } from "@conclave/core";
import type { Auth, Permission } from "@conclave/proto";
import type { ServiceImpl } from "@connectrpc/connect";
import { fillHeader } from "./header.js";
import type { ServerContext } from "./server-context.js";

const toPermType = (t: number): KeyPermission["permType"] =>
  t === PermissionType.WRITE || t === PermissionType.READWRITE ? t : PermissionType.READ;

/**
 * etcdserverpb.Auth over the core auth store. Who may call what is etcd
 * 3.4's rule, written in the auth policy (auth-policy.ts) and checked by the
 * auth layer before these methods run: with auth on, every management call
 * needs the root role, except that users may read their own user and the
 * roles they hold; AuthEnable needs nothing while auth is off; Authenticate
 * needs nothing but a valid token if one is sent. Responses carry the usual
 * header (the KV revision), as etcd's do.
 */
export function createAuthService(ctx: ServerContext): ServiceImpl<typeof Auth> {
  const { auth } = ctx;
  const header = () => fillHeader(ctx);
  /** Runs a change and answers with a header once it is durable. */
  const change =
    <R>(run: (req: R) => Promise<void>) =>
    async (req: R) => {
      await run(req);
      return { header: header() };
    };

  return {
    authEnable: change(() => auth.enable()),
    authDisable: change(() => auth.disable()),
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

    userAdd: change((req) =>
      auth.userAdd(req.name, req.password, { noPassword: req.options?.noPassword === true }),
    ),
    async userGet(req) {
      return { header: header(), roles: auth.userGet(req.name) };
    },
    async userList() {
      return { header: header(), users: auth.userList() };
    },
    userDelete: change((req) => auth.userDelete(req.name)),
    userChangePassword: change((req) => auth.userChangePassword(req.name, req.password)),
    userGrantRole: change((req) => auth.userGrantRole(req.user, req.role)),
    userRevokeRole: change((req) => auth.userRevokeRole(req.name, req.role)),

    roleAdd: change((req) => auth.roleAdd(req.name)),
    async roleGet(req) {
      const perm = auth
        .roleGet(req.role)
        .map((p) => ({ permType: p.permType, key: p.key, rangeEnd: p.rangeEnd }) as Permission);
      return { header: header(), perm };
    },
    async roleList() {
      return { header: header(), roles: auth.roleList() };
    },
    roleDelete: change((req) => auth.roleDelete(req.role)),
    roleGrantPermission: change((req) =>
      auth.roleGrantPermission(
        req.name,
        req.perm === undefined
          ? undefined
          : {
              permType: toPermType(req.perm.permType),
              key: req.perm.key,
              rangeEnd: req.perm.rangeEnd,
            },
      ),
    ),
    roleRevokePermission: change((req) =>
      auth.roleRevokePermission(req.role, req.key, req.rangeEnd),
    ),
  };
}
