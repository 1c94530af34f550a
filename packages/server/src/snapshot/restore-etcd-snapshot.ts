import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { fromBinary } from "@bufbuild/protobuf";
import { type BboltBucket, filePageSource, openBbolt } from "@conclave/bbolt";
import {
  type AuthState,
  alarmRecordOp,
  authStateOps,
  type Backend,
  type BackendOp,
  leaseRecordOp,
  type PermissionType,
  revisionRecordOp,
  storeMetaOps,
} from "@conclave/core";
import {
  AlarmMemberSchema,
  KeyValueSchema,
  leasepb,
  RoleSchema,
  UserSchema,
} from "@conclave/proto";
import {
  EtcdBuckets,
  etcdAuthKeys,
  etcdMetaKeys,
  parseEtcdRevisionKey,
  readUint64,
} from "./etcd-backend-format.js";
import type { SnapshotProgress } from "./write-etcd-snapshot.js";

export interface RestoreEtcdSnapshotOptions {
  /** Accept a file without the SHA-256 trailer (etcd's `--skip-hash-check`, e.g. a copied `member/snap/db`). */
  skipHashCheck?: boolean;
  /** Told every `progressEveryBytes` of keys and values copied, and at the end. */
  onProgress?: (p: SnapshotProgress) => void;
  /** Default 64 MiB. */
  progressEveryBytes?: number;
}

/** What a restore found in the snapshot. */
export interface RestoredSnapshot {
  /** The store's revision after the restore. */
  revision: number;
  /** The compaction revision, -1 when never compacted. */
  compactRevision: number;
  revisions: number;
  leases: number;
  users: number;
  roles: number;
  authEnabled: boolean;
}

const sha256Size = 32;
const dec = new TextDecoder();
/** Backend writes per commit while copying the history. */
const opsPerCommit = 10_000;

/**
 * etcd's rule for a snapshot file (clientv3/snapshot): a size of 32 past a
 * multiple of 512 means a SHA-256 trailer over what precedes it, which must
 * match; a file without one is taken only with `skipHashCheck`. Returns the
 * size of the database image.
 */
async function checkSnapshotHash(file: string, skipHashCheck: boolean): Promise<number> {
  const { size } = await stat(file);
  const hasHash = size % 512 === sha256Size;
  if (!hasHash) {
    if (!skipHashCheck) throw new Error("snapshot missing hash but --skip-hash-check=false");
    return size;
  }
  const dbSize = size - sha256Size;
  if (skipHashCheck) return dbSize;
  const fh = await open(file, "r");
  const trailer = Buffer.alloc(sha256Size);
  try {
    await fh.read(trailer, 0, sha256Size, dbSize);
  } finally {
    await fh.close();
  }
  const h = createHash("sha256");
  if (dbSize > 0) {
    for await (const chunk of createReadStream(file, { start: 0, end: dbSize - 1 }))
      h.update(chunk);
  }
  const actual = h.digest();
  if (!actual.equals(trailer)) {
    throw new Error(
      `snapshot: expected sha256 ${trailer.toString("hex")}, got ${actual.toString("hex")}`,
    );
  }
  return dbSize;
}

/** The auth buckets as the auth store's state (etcd stores bcrypt hashes, which it verifies). */
function readAuth(
  auth: BboltBucket | undefined,
  users: BboltBucket | undefined,
  roles: BboltBucket | undefined,
): AuthState {
  const state: AuthState = {
    enabled: auth?.get(etcdAuthKeys.enabled)?.[0] === 1,
    revision: Number(readUint64(auth?.get(etcdAuthKeys.revision)) ?? 1n),
    users: [],
    roles: [],
  };
  for (const { value, bucket } of users?.entries() ?? []) {
    if (bucket !== undefined) continue;
    const u = fromBinary(UserSchema, value);
    state.users.push({
      name: dec.decode(u.name),
      passwordHash: dec.decode(u.password),
      roles: [...u.roles].sort(),
      noPassword: u.options?.noPassword ?? false,
    });
  }
  for (const { value, bucket } of roles?.entries() ?? []) {
    if (bucket !== undefined) continue;
    const r = fromBinary(RoleSchema, value);
    state.roles.push({
      name: dec.decode(r.name),
      perms: r.keyPermission.map((p) => ({
        permType: p.permType as number as PermissionType,
        key: p.key,
        rangeEnd: p.rangeEnd,
      })),
    });
  }
  return state;
}

/**
 * Builds a Conclave store in `backend` (fresh and empty) from a snapshot in
 * etcd 3.4's backend format — one saved by `etcdctl snapshot save` from a
 * real etcd or from Conclave: the whole key history with its revisions,
 * versions and tombstones, the compaction revision, leases (each gets its
 * full TTL from the server's first start, as etcd restarts them), users with
 * their password hashes, roles, the auth flag and revision, and alarms.
 * Members are not carried over: the new data dir gets IDs of its own, as
 * `etcdctl snapshot restore` gives the restored member new ones.
 */
export async function restoreEtcdSnapshot(
  file: string,
  backend: Backend,
  options: RestoreEtcdSnapshotOptions = {},
): Promise<RestoredSnapshot> {
  const dbSize = await checkSnapshotHash(file, options.skipHashCheck ?? false);
  const source = filePageSource(file, dbSize);
  try {
    const db = openBbolt(source);
    const every = options.progressEveryBytes ?? 64 * 1024 * 1024;
    const progress: SnapshotProgress = { revisions: 0, bytes: 0 };
    let nextReport = every;
    let ops: BackendOp[] = [];
    const flush = async () => {
      if (ops.length === 0) return;
      const batch = ops;
      ops = [];
      await backend.commit(batch);
    };
    let lastMain = 1;
    for (const { key, value, bucket } of db.bucket(EtcdBuckets.key)?.entries() ?? []) {
      const rev = bucket === undefined ? parseEtcdRevisionKey(key) : undefined;
      if (rev === undefined) continue;
      const kv = fromBinary(KeyValueSchema, value);
      ops.push(
        revisionRecordOp({
          main: rev.main,
          sub: rev.sub,
          tombstone: rev.tombstone,
          kv: rev.tombstone
            ? {
                key: kv.key,
                value: new Uint8Array(0),
                createRevision: 0n,
                modRevision: BigInt(rev.main),
                version: 0n,
                lease: 0n,
              }
            : {
                key: kv.key,
                value: kv.value,
                createRevision: kv.createRevision,
                modRevision: kv.modRevision,
                version: kv.version,
                lease: kv.lease,
              },
        }),
      );
      if (rev.main > lastMain) lastMain = rev.main;
      progress.revisions++;
      progress.bytes += kv.key.length + kv.value.length;
      if (ops.length >= opsPerCommit) await flush();
      if (progress.bytes >= nextReport) {
        options.onProgress?.({ ...progress });
        nextReport = progress.bytes + every;
      }
    }
    const meta = db.bucket(EtcdBuckets.meta);
    const compactOf = (k: Uint8Array) => {
      const b = meta?.get(k);
      return b === undefined ? undefined : parseEtcdRevisionKey(b)?.main;
    };
    // etcd redoes a compaction that was scheduled but not finished; so does Conclave's store.
    const compactRevision =
      compactOf(etcdMetaKeys.scheduledCompactRev) ??
      compactOf(etcdMetaKeys.finishedCompactRev) ??
      -1;
    const revision = Math.max(lastMain, compactRevision);
    ops.push(...storeMetaOps(revision, compactRevision));

    let leases = 0;
    for (const { value, bucket } of db.bucket(EtcdBuckets.lease)?.entries() ?? []) {
      if (bucket !== undefined) continue;
      const l = fromBinary(leasepb.LeaseSchema, value);
      ops.push(leaseRecordOp(l.ID, Number(l.TTL)));
      leases++;
    }
    const auth = readAuth(
      db.bucket(EtcdBuckets.auth),
      db.bucket(EtcdBuckets.authUsers),
      db.bucket(EtcdBuckets.authRoles),
    );
    ops.push(...authStateOps(auth));
    for (const { key, bucket } of db.bucket(EtcdBuckets.alarm)?.entries() ?? []) {
      if (bucket !== undefined) continue;
      const a = fromBinary(AlarmMemberSchema, key);
      ops.push(alarmRecordOp({ memberId: a.memberID, type: a.alarm }));
    }
    await flush();
    options.onProgress?.({ ...progress });
    return {
      revision,
      compactRevision,
      revisions: progress.revisions,
      leases,
      users: auth.users.length,
      roles: auth.roles.length,
      authEnabled: auth.enabled,
    };
  } finally {
    source.close();
  }
}
