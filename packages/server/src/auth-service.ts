import { type KeyPermission, PermissionType } from "@conclave/core";
import type { Auth, Permission } from "@conclave/proto";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { callerOf, checkAdmin, checkToken } from "./auth-guard.js";
import { fillHeader } from "./header.js";
import type { ServerContext } from "./server-context.js";

const toPermType = (t: number): KeyPermission["permType"] =>
  t === PermissionType.WRITE || t === PermissionType.READWRITE ? t : PermissionType.READ;

/**
 * etcdserverpb.Auth over the core auth store, with etcd 3.4's rules for who
 * may call what: with auth on, every management call needs the root role,
 * except that users may read their own user and the roles they hold;
 * AuthEnable needs nothing while auth is off; Authenticate needs nothing but
 * a valid token if one is sent. Responses carry the usual header (the KV
 * revision), as etcd's do.
 */
export function createAuthService(ctx: ServerContext): ServiceImpl<typeof Auth> {
  const { auth } = ctx;
  const header = () => fillHeader(ctx);
  /** Runs an admin-only change and answers with a header once it is durable. */
  const admin =
    <R>(run: (req: R) => Promise<void>) =>
    async (req: R, hctx: HandlerContext) => {
      checkAdmin(ctx, hctx);
      await run(req);
      return { header: header() };
    };

  return {
    async authEnable(_req, hctx) {
      checkAdmin(ctx, hctx);
      await auth.enable();
      return { header: header() };
    },
    authDisable: admin(() => auth.disable()),
    async authStatus(_req, hctx) {
      checkToken(ctx, hctx);
      return {
        header: header(),
        enabled: auth.isEnabled(),
        authRevision: BigInt(auth.revision()),
      };
    },
    async authenticate(req, hctx) {
      checkToken(ctx, hctx);
      const token = await auth.authenticate(req.name, req.password);
      return { header: header(), token };
    },

    userAdd: admin((req) =>
      auth.userAdd(req.name, req.password, { noPassword: req.options?.noPassword === true }),
    ),
    async userGet(req, hctx) {
      const caller = callerOf(ctx, hctx);
      try {
        auth.checkAdmin(caller);
      } catch (err) {
        if (req.name !== (caller?.username ?? "")) throw err; // one's own user is readable
      }
      return { header: header(), roles: auth.userGet(req.name) };
    },
    async userList(_req, hctx) {
      checkAdmin(ctx, hctx);
      return { header: header(), users: auth.userList() };
    },
    userDelete: admin((req) => auth.userDelete(req.name)),
    userChangePassword: admin((req) => auth.userChangePassword(req.name, req.password)),
    userGrantRole: admin((req) => auth.userGrantRole(req.user, req.role)),
    userRevokeRole: admin((req) => auth.userRevokeRole(req.name, req.role)),

    roleAdd: admin((req) => auth.roleAdd(req.name)),
    async roleGet(req, hctx) {
      const caller = callerOf(ctx, hctx);
      try {
        auth.checkAdmin(caller);
      } catch (err) {
        if (!auth.hasRole(caller?.username ?? "", req.role)) throw err; // a role one holds is readable
      }
      const perm = auth
        .roleGet(req.role)
        .map((p) => ({ permType: p.permType, key: p.key, rangeEnd: p.rangeEnd }) as Permission);
      return { header: header(), perm };
    },
    async roleList(_req, hctx) {
      checkAdmin(ctx, hctx);
      return { header: header(), roles: auth.roleList() };
    },
    roleDelete: admin((req) => auth.roleDelete(req.role)),
    roleGrantPermission: admin((req) =>
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
    roleRevokePermission: admin((req) =>
      auth.roleRevokePermission(req.role, req.key, req.rangeEnd),
    ),
  };
}
