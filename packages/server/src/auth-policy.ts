import type { DescService } from "@bufbuild/protobuf";
import {
  AlarmRequest_AlarmAction,
  Auth,
  Cluster,
  conclaveWatch,
  Election,
  IdentityService,
  KV,
  LeaderElectionService,
  Lease,
  LeaseService,
  Lock,
  Maintenance,
  Watch,
} from "@conclave/proto";
import type { MethodImpl } from "@connectrpc/connect";

/**
 * What a method needs of its caller (etcd 3.4's rules, see docs/design.md,
 * Auth). Every need validates a token the request carries, also where no
 * permission is needed, so a bogus token is never taken for anonymous.
 *
 * - `"token"`: no permission (Compact, LeaseGrant, Status, MemberList, …).
 * - `"admin"`: the root role (etcd's IsAdminPermitted), checked by the layer
 *   before the handler runs.
 * - `{ adminUnlessOwn }`: the root role, unless the caller reads its own
 *   user (`"user"`) or a role it holds (`"role"`) named `name`.
 * - `"adminInApply"`: the root role, checked by the auth store as it applies
 *   the change (`AuthChangeBy`: after a password is hashed, in the same
 *   step as the change; etcd's authApplierV3 checks IsAdminPermitted in
 *   apply), so a root role revoked meanwhile is honoured. The handler hands
 *   the caller over (`callerOf`, which also validates a token).
 * - `"keys"`: key permissions computed from the request by core's
 *   `createRequestAuthorizer` and checked by the applier or the lessor inside
 *   the write (or read view) that applies it; the handler hands over
 *   `authorizerOf(ctx, hctx)` (auth-guard.ts) and cannot apply without it
 *   being run there.
 * - `"serviceKeys"`: key permissions of the calls the service makes: the
 *   Lock and Election recipes and LeaderElection act through the in-process
 *   client for the caller (`LocalClient.as`), so the applier checks each of
 *   their reads and writes inside the apply — the recipes' by the request,
 *   as any KV client's, LeaderElection's as READ/WRITE on the election's
 *   prefix (`prefixAuthorizer`); watch creates are checked by the watch
 *   services at each create of a stream.
 * - `"unimplemented"`: Conclave answers Unimplemented (single member).
 */
export type AuthNeed =
  | "token"
  | "admin"
  | "adminInApply"
  | { readonly adminUnlessOwn: "user" | "role"; readonly name: string }
  | "keys"
  | "serviceKeys"
  | "unimplemented";

/** A method's need, fixed or read from its request (Alarm: ACTIVATE needs root). */
export type MethodNeed<Req> = AuthNeed | ((req: Req) => AuthNeed);

/** One service's entries: every method, typed by its request, checked by the compiler. */
export type ServiceNeeds<S extends DescService> = {
  readonly [M in keyof S["method"]]: MethodNeed<Parameters<MethodImpl<S["method"][M]>>[0]>;
};

function needs<S extends DescService>(
  service: S,
  table: ServiceNeeds<S>,
): [string, Readonly<Record<string, MethodNeed<never>>>] {
  return [service.typeName, table as Record<string, MethodNeed<never>>];
}

/**
 * THE auth policy: for every method of every service, what it needs. The
 * layer (`withAuthPolicy`, with-auth-policy.ts) applies the `"token"`,
 * `"admin"` and `adminUnlessOwn` entries before the handler; `"keys"` are
 * checked inside the apply. Keyed by service type name, then the method's
 * local name (as in Connect's ServiceImpl).
 */
export const authPolicy: ReadonlyMap<string, Readonly<Record<string, MethodNeed<never>>>> = new Map(
  [
    needs(KV, {
      range: "keys",
      put: "keys",
      deleteRange: "keys",
      txn: "keys",
      compact: "token", // etcd lets any user compact
    }),
    needs(Watch, { watch: "serviceKeys" }),
    needs(Lease, {
      leaseGrant: "token", // any user may grant leases, as in etcd
      leaseRevoke: "keys", // WRITE on every attached key
      leaseKeepAlive: "token", // once per stream: clientv3 sends the token as the stream's metadata
      leaseTimeToLive: "token", // lists only the keys the caller may READ (lease-service.ts)
      leaseLeases: "token",
    }),
    needs(Maintenance, {
      // ACTIVATE (NOSPACE stops every write) needs root; GET and DEACTIVATE are open, as in etcd 3.4.
      alarm: (req) => (req.action === AlarmRequest_AlarmAction.ACTIVATE ? "admin" : "token"),
      status: "token",
      // etcd 3.4's authMaintenanceServer: admin only (their refusals are the
      // error table's "plainAuth" flavour, errors.ts).
      defragment: "admin",
      hash: "admin",
      hashKV: "admin",
      snapshot: "admin",
      moveLeader: "token", // etcd 3.4 lets anyone ask (a single member only "moves" to itself)
      downgrade: "unimplemented",
    }),
    needs(Cluster, {
      memberAdd: "unimplemented",
      memberRemove: "unimplemented",
      memberUpdate: "unimplemented",
      memberList: "token",
      memberPromote: "unimplemented",
    }),
    needs(Auth, {
      authEnable: "adminInApply", // passes while auth is off: nobody could be root yet
      authDisable: "adminInApply",
      authStatus: "token",
      authenticate: "token",
      userAdd: "adminInApply",
      userGet: (req) => ({ adminUnlessOwn: "user", name: req.name }),
      userList: "admin",
      userDelete: "adminInApply",
      userChangePassword: "adminInApply",
      userGrantRole: "adminInApply",
      userRevokeRole: "adminInApply",
      roleAdd: "adminInApply",
      roleGet: (req) => ({ adminUnlessOwn: "role", name: req.role }),
      roleList: "admin",
      roleDelete: "adminInApply",
      roleGrantPermission: "adminInApply",
      roleRevokePermission: "adminInApply",
    }),
    needs(Lock, { lock: "serviceKeys", unlock: "serviceKeys" }),
    needs(Election, {
      campaign: "serviceKeys",
      proclaim: "serviceKeys",
      leader: "serviceKeys",
      observe: "serviceKeys",
      resign: "serviceKeys",
    }),
    needs(LeaderElectionService, {
      create: "serviceKeys",
      close: "serviceKeys",
      // Lists only the elections whose keys the caller may READ.
      list: "serviceKeys",
      enter: "serviceKeys",
      withdraw: "serviceKeys",
      evict: "serviceKeys",
      anoint: "serviceKeys",
      promote: "serviceKeys",
      demote: "serviceKeys",
      getTerm: "serviceKeys",
      events: "serviceKeys",
    }),
    needs(conclaveWatch.WatchService, { watch: "serviceKeys" }),
    needs(LeaseService, { keepAliveOnce: "token" }),
    // Answers only about the request's own credentials, as AuthStatus needs nothing.
    needs(IdentityService, { whoAmI: "token" }),
  ],
);
