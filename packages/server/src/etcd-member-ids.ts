import { createHash } from "node:crypto";

/** etcd's `--initial-cluster-token` default. */
export const defaultInitialClusterToken = "etcd-cluster";

/** etcd's `--initial-advertise-peer-urls` default. */
export const defaultInitialAdvertisePeerUrls = ["http://localhost:2380"];

/** First 8 bytes of a SHA-1, big-endian, as etcd turns hashes into IDs. */
function idOfHash(data: Uint8Array): bigint {
  return createHash("sha1").update(data).digest().readBigUInt64BE(0);
}

/**
 * A member ID as etcd derives it when it creates a data dir
 * (membership.NewMember): SHA-1 of the member's peer URLs, sorted and
 * concatenated, followed by the cluster token. So a default etcd is member
 * 8e9e05c52164694d, and a Conclave started with the same flags is too.
 */
export function etcdMemberId(peerUrls: readonly string[], clusterToken: string): bigint {
  return idOfHash(Buffer.from([...peerUrls].sort().join("") + clusterToken));
}

/**
 * A cluster ID as etcd derives it (RaftCluster.genID): SHA-1 of the sorted
 * member IDs, 8 big-endian bytes each. A default etcd's is cdf818194e3a8c32.
 */
export function etcdClusterId(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => {
    buf.writeBigUInt64BE(id, 8 * i);
  });
  return idOfHash(buf);
}

/** What etcd's bootstrap flags say about the cluster a new data dir joins. */
export interface InitialCluster {
  /** `--name`: which entry of `members` is this member. */
  name: string;
  /** `--initial-cluster`, grouped: member name → its peer URLs. */
  members: ReadonlyMap<string, readonly string[]>;
  /** `--initial-cluster-token`. */
  token: string;
}

/**
 * The member and cluster IDs etcd would give a new data dir started with
 * these flags. Only an ID's bits matter to clients (headers, `member list`,
 * alarms), but etcd's e2e tests and operators' runbooks compare them.
 */
export function etcdIdsOf(cluster: InitialCluster): { memberId: bigint; clusterId: bigint } {
  const ids = new Map<string, bigint>();
  for (const [name, urls] of cluster.members) ids.set(name, etcdMemberId(urls, cluster.token));
  const memberId = ids.get(cluster.name);
  if (memberId === undefined) {
    throw new Error(`couldn't find local name "${cluster.name}" in the initial cluster`);
  }
  return { memberId, clusterId: etcdClusterId([...ids.values()]) };
}
