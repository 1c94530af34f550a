/**
 * etcd 3.4's backend layout (its bbolt file, which `etcdctl snapshot save`
 * copies): bucket names, meta keys and the revision key encoding, from
 * mvcc/kvstore.go and revision.go, lease/lessor.go, auth/store.go,
 * etcdserver/api/membership/store.go and v3alarm/alarms.go.
 *
 * - `key`: revision (8-byte big-endian main, `_`, 8-byte sub; a trailing
 *   `t` marks a tombstone) → mvccpb.KeyValue (a tombstone's holds only the key).
 * - `meta`: `consistent_index` (8 bytes big-endian), `scheduledCompactRev`
 *   and `finishedCompactRev` (revision bytes, sub 0).
 * - `lease`: lease ID (8 bytes big-endian) → leasepb.Lease {ID, TTL}.
 * - `auth`: `authEnabled` (one byte, 1 or 0), `authRevision` (8 bytes
 *   big-endian); `authUsers`: name → authpb.User (bcrypt password hash);
 *   `authRoles`: name → authpb.Role.
 * - `members`: member ID in hex → the member as JSON; `members_removed`:
 *   removed IDs → "removed"; `cluster`: `clusterVersion` → "3.4.0".
 * - `alarm`: etcdserverpb.AlarmMember (marshalled) → empty.
 */
export const EtcdBuckets = {
  alarm: "alarm",
  auth: "auth",
  authRoles: "authRoles",
  authUsers: "authUsers",
  cluster: "cluster",
  key: "key",
  lease: "lease",
  members: "members",
  membersRemoved: "members_removed",
  meta: "meta",
} as const;

const enc = new TextEncoder();

export const etcdMetaKeys = {
  consistentIndex: enc.encode("consistent_index"),
  scheduledCompactRev: enc.encode("scheduledCompactRev"),
  finishedCompactRev: enc.encode("finishedCompactRev"),
} as const;

export const etcdAuthKeys = {
  enabled: enc.encode("authEnabled"),
  revision: enc.encode("authRevision"),
} as const;

export const etcdClusterVersionKey = enc.encode("clusterVersion");
/** The cluster version a snapshot names: the API Conclave speaks. */
export const etcdClusterVersion = "3.4.0";

/** Bytes of a revision key; one more for a tombstone's `t`. */
export const etcdRevisionBytes = 17;
const tombstoneMark = 0x74; // 't'

/** etcd's revision key: main and sub big-endian around a `_`, plus `t` for a tombstone. */
export function etcdRevisionKey(main: number, sub: number, tombstone: boolean): Uint8Array {
  const b = new Uint8Array(etcdRevisionBytes + (tombstone ? 1 : 0));
  // Revisions are non-negative safe integers: two 32-bit halves each, no BigInt
  // (a snapshot writes one key per revision).
  const v = new DataView(b.buffer);
  v.setUint32(0, Math.floor(main / 2 ** 32));
  v.setUint32(4, main >>> 0);
  b[8] = 0x5f; // '_'
  v.setUint32(9, Math.floor(sub / 2 ** 32));
  v.setUint32(13, sub >>> 0);
  if (tombstone) b[etcdRevisionBytes] = tombstoneMark;
  return b;
}

/** Parses a revision key; undefined when it is not one. */
export function parseEtcdRevisionKey(
  b: Uint8Array,
): { main: number; sub: number; tombstone: boolean } | undefined {
  if (b.length !== etcdRevisionBytes && b.length !== etcdRevisionBytes + 1) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    main: Number(v.getBigInt64(0)),
    sub: Number(v.getBigInt64(9)),
    tombstone: b.length === etcdRevisionBytes + 1 && b[etcdRevisionBytes] === tombstoneMark,
  };
}

/** An unsigned 64-bit big-endian integer, as etcd stores IDs, indexes and the auth revision. */
export function uint64Bytes(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n);
  return b;
}

export function readUint64(b: Uint8Array | undefined): bigint | undefined {
  if (b === undefined || b.length !== 8) return undefined;
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0);
}

/**
 * A member as etcd's membership store marshals it (Go's encoding/json of
 * `Member`: id as a number, peerURLs, name and clientURLs when set).
 */
export function etcdMemberJson(m: {
  id: bigint;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
}): string {
  const parts = [`"id":${m.id.toString()}`, `"peerURLs":${JSON.stringify(m.peerUrls)}`];
  if (m.name !== "") parts.push(`"name":${JSON.stringify(m.name)}`);
  if (m.clientUrls.length > 0) parts.push(`"clientURLs":${JSON.stringify(m.clientUrls)}`);
  return `{${parts.join(",")}}`;
}
