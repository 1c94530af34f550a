import type { DescMethod } from "@bufbuild/protobuf";
import { Auth, Cluster, Election, KV, Lease, Lock, Maintenance, Watch } from "@conclave/proto";

/** One JSON gateway endpoint: `POST <prefix><path>` calls `method`. */
export interface GatewayRoute {
  /** The path below the version prefix, e.g. "/kv/range". */
  readonly path: string;
  readonly method: DescMethod;
}

/**
 * The version prefixes the gateway answers under. etcd 3.4 serves `/v3` and
 * rewrites `/v3beta` to it; `/v3alpha` is what etcd 3.2 and 3.3 served, kept
 * so that their clients (and old curl recipes) keep working.
 */
export const gatewayPrefixes: readonly string[] = ["/v3", "/v3beta", "/v3alpha"];

/**
 * The grpc-gateway endpoints of etcd (the `google.api.http` options of its
 * protos, all `POST` with body `*`), each mapped to the RPC it forwards to.
 * `/maintenance/hashkv`, `/maintenance/downgrade` and `/auth/status` are
 * etcd 3.5 additions; the rest is etcd 3.4's list.
 */
export const gatewayRoutes: readonly GatewayRoute[] = [
  { path: "/kv/range", method: KV.method.range },
  { path: "/kv/put", method: KV.method.put },
  { path: "/kv/deleterange", method: KV.method.deleteRange },
  { path: "/kv/txn", method: KV.method.txn },
  { path: "/kv/compaction", method: KV.method.compact },

  { path: "/watch", method: Watch.method.watch },

  { path: "/lease/grant", method: Lease.method.leaseGrant },
  { path: "/lease/revoke", method: Lease.method.leaseRevoke },
  { path: "/kv/lease/revoke", method: Lease.method.leaseRevoke },
  { path: "/lease/keepalive", method: Lease.method.leaseKeepAlive },
  { path: "/lease/timetolive", method: Lease.method.leaseTimeToLive },
  { path: "/kv/lease/timetolive", method: Lease.method.leaseTimeToLive },
  { path: "/lease/leases", method: Lease.method.leaseLeases },
  { path: "/kv/lease/leases", method: Lease.method.leaseLeases },

  { path: "/cluster/member/add", method: Cluster.method.memberAdd },
  { path: "/cluster/member/remove", method: Cluster.method.memberRemove },
  { path: "/cluster/member/update", method: Cluster.method.memberUpdate },
  { path: "/cluster/member/list", method: Cluster.method.memberList },
  { path: "/cluster/member/promote", method: Cluster.method.memberPromote },

  { path: "/maintenance/alarm", method: Maintenance.method.alarm },
  { path: "/maintenance/status", method: Maintenance.method.status },
  { path: "/maintenance/defragment", method: Maintenance.method.defragment },
  { path: "/maintenance/hash", method: Maintenance.method.hash },
  { path: "/maintenance/hashkv", method: Maintenance.method.hashKV },
  { path: "/maintenance/snapshot", method: Maintenance.method.snapshot },
  { path: "/maintenance/transfer-leadership", method: Maintenance.method.moveLeader },
  { path: "/maintenance/downgrade", method: Maintenance.method.downgrade },

  { path: "/auth/enable", method: Auth.method.authEnable },
  { path: "/auth/disable", method: Auth.method.authDisable },
  { path: "/auth/status", method: Auth.method.authStatus },
  { path: "/auth/authenticate", method: Auth.method.authenticate },
  { path: "/auth/user/add", method: Auth.method.userAdd },
  { path: "/auth/user/get", method: Auth.method.userGet },
  { path: "/auth/user/list", method: Auth.method.userList },
  { path: "/auth/user/delete", method: Auth.method.userDelete },
  { path: "/auth/user/changepw", method: Auth.method.userChangePassword },
  { path: "/auth/user/grant", method: Auth.method.userGrantRole },
  { path: "/auth/user/revoke", method: Auth.method.userRevokeRole },
  { path: "/auth/role/add", method: Auth.method.roleAdd },
  { path: "/auth/role/get", method: Auth.method.roleGet },
  { path: "/auth/role/list", method: Auth.method.roleList },
  { path: "/auth/role/delete", method: Auth.method.roleDelete },
  { path: "/auth/role/grant", method: Auth.method.roleGrantPermission },
  { path: "/auth/role/revoke", method: Auth.method.roleRevokePermission },

  { path: "/lock/lock", method: Lock.method.lock },
  { path: "/lock/unlock", method: Lock.method.unlock },

  { path: "/election/campaign", method: Election.method.campaign },
  { path: "/election/proclaim", method: Election.method.proclaim },
  { path: "/election/leader", method: Election.method.leader },
  { path: "/election/observe", method: Election.method.observe },
  { path: "/election/resign", method: Election.method.resign },
];
