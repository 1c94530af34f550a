import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { create, toBinary } from "@bufbuild/protobuf";
import { createBboltWriter, createFileSink } from "@conclave/bbolt";
import { etcdPasswordHash, type Revision } from "@conclave/core";
import {
  AlarmMemberSchema,
  leasepb,
  PermissionSchema,
  RoleSchema,
  UserAddOptionsSchema,
  UserSchema,
} from "@conclave/proto";
import type { ServerContext } from "../server-context.js";
import { encodeEtcdKeyValue } from "./encode-etcd-key-value.js";
import {
  EtcdBuckets,
  etcdAuthKeys,
  etcdClusterVersion,
  etcdClusterVersionKey,
  etcdMemberJson,
  etcdMetaKeys,
  etcdRevisionKey,
  uint64Bytes,
} from "./etcd-backend-format.js";

/** Progress of a snapshot being written or restored. */
export interface SnapshotProgress {
  /** Revisions (records of the `key` bucket) done so far. */
  revisions: number;
  /** Bytes of keys and values done so far. */
  bytes: number;
}

export interface WriteEtcdSnapshotOptions {
  /** Told every `progressEveryBytes` of keys and values copied. */
  onProgress?: (p: SnapshotProgress) => void;
  /** Default 64 MiB. */
  progressEveryBytes?: number;
}

/** What {@link writeEtcdSnapshot} wrote. */
export interface EtcdSnapshotInfo {
  /** The revision the snapshot holds (every write up to it, none after). */
  revision: number;
  /** Records in the `key` bucket. */
  revisions: number;
  /** File size in bytes (a multiple of the 4 KiB page). */
  size: number;
}

/** etcd's default peer URL: Conclave has no peers, but etcd's member record names one. */
const defaultPeerUrl = "http://localhost:2380";
const enc = new TextEncoder();
const defaultProgressEveryBytes = 64 * 1024 * 1024;
const tombstoneKv = {
  createRevision: 0n,
  modRevision: 0n,
  version: 0n,
  value: new Uint8Array(0),
  lease: 0n,
};

/**
 * Writes the store as etcd 3.4's backend would hold it — a bbolt file with
 * etcd's buckets and encodings (etcd-backend-format.ts) — so that `etcdctl
 * snapshot status` reads it and `etcdctl snapshot restore` turns it into a
 * data dir a real etcd serves.
 *
 * Consistent at one revision: the durable revision when it starts. Leases,
 * users, roles and alarms are taken then, in one event-loop turn; the key
 * history is copied in batches up to that revision (later writes only add
 * revisions above it), yielding to the event loop between batches so the
 * server keeps serving. A compaction finishing meanwhile may drop records
 * below its revision; the snapshot then names that later compaction
 * revision, so it never offers a partial revision as readable.
 */
export async function writeEtcdSnapshot(
  ctx: ServerContext,
  path: string,
  options: WriteEtcdSnapshotOptions = {},
): Promise<EtcdSnapshotInfo> {
  const { store } = ctx;
  await store.barrier();
  const upTo = store.durableRev();
  const compactAtStart = store.compactRev();
  const leases = ctx.lessor.leases().flatMap((id) => {
    const l = ctx.lessor.timeToLive(id);
    return l === undefined ? [] : [{ id, ttl: l.ttl }];
  });
  const auth = ctx.auth.exportState();
  const alarms = ctx.alarms.list();
  const every = options.progressEveryBytes ?? defaultProgressEveryBytes;

  const sink = createFileSink(path);
  try {
    const w = createBboltWriter({ sink });
    const bucket = (name: string, fill: () => void) => {
      w.beginBucket(enc.encode(name));
      fill();
      w.endBucket();
    };
    bucket(EtcdBuckets.alarm, () => {
      const keys = alarms
        .map((a) =>
          toBinary(
            AlarmMemberSchema,
            create(AlarmMemberSchema, { memberID: a.memberId, alarm: a.type }),
          ),
        )
        .sort(Buffer.compare);
      for (const k of keys) w.put(k, new Uint8Array(0));
    });
    bucket(EtcdBuckets.auth, () => {
      w.put(etcdAuthKeys.enabled, new Uint8Array([auth.enabled ? 1 : 0]));
      w.put(etcdAuthKeys.revision, uint64Bytes(BigInt(auth.revision)));
    });
    bucket(EtcdBuckets.authRoles, () => {
      for (const r of auth.roles) {
        const role = create(RoleSchema, {
          name: enc.encode(r.name),
          keyPermission: r.perms.map((p) =>
            create(PermissionSchema, { permType: p.permType, key: p.key, rangeEnd: p.rangeEnd }),
          ),
        });
        w.put(enc.encode(r.name), toBinary(RoleSchema, role));
      }
    });
    bucket(EtcdBuckets.authUsers, () => {
      for (const u of auth.users) {
        const user = create(UserSchema, {
          name: enc.encode(u.name),
          password: enc.encode(etcdPasswordHash(u.passwordHash)),
          roles: u.roles,
          ...(u.noPassword && { options: create(UserAddOptionsSchema, { noPassword: true }) }),
        });
        w.put(enc.encode(u.name), toBinary(UserSchema, user));
      }
    });
    bucket(EtcdBuckets.cluster, () => {
      w.put(etcdClusterVersionKey, enc.encode(etcdClusterVersion));
    });

    w.beginBucket(enc.encode(EtcdBuckets.key));
    let from: Revision | undefined;
    const progress: SnapshotProgress = { revisions: 0, bytes: 0 };
    let nextReport = every;
    do {
      const batch = store.revisions(from, upTo);
      for (const r of batch.records) {
        // A tombstone is stored as etcd stores one: the key alone.
        const kv = r.tombstone ? { ...tombstoneKv, key: r.kv.key } : r.kv;
        w.put(etcdRevisionKey(r.main, r.sub, r.tombstone), encodeEtcdKeyValue(kv));
        progress.revisions++;
        progress.bytes += r.kv.key.length + r.kv.value.length;
      }
      if (progress.bytes >= nextReport) {
        options.onProgress?.({ ...progress });
        nextReport = progress.bytes + every;
      }
      from = batch.next;
      if (from !== undefined) await yieldToEventLoop();
    } while (from !== undefined);
    w.endBucket();

    bucket(EtcdBuckets.lease, () => {
      for (const l of leases) {
        const value = create(leasepb.LeaseSchema, { ID: l.id, TTL: BigInt(l.ttl) });
        w.put(uint64Bytes(l.id), toBinary(leasepb.LeaseSchema, value));
      }
    });
    bucket(EtcdBuckets.members, () => {
      const member = etcdMemberJson({
        id: ctx.memberId,
        name: ctx.name,
        peerUrls: [defaultPeerUrl],
        clientUrls: ctx.clientUrls,
      });
      w.put(enc.encode(ctx.memberId.toString(16)), enc.encode(member));
    });
    bucket(EtcdBuckets.membersRemoved, () => undefined);
    const compactRev = Math.max(compactAtStart, store.compactRev());
    bucket(EtcdBuckets.meta, () => {
      // etcd's raft index stands in for a revision here, as in Status.
      w.put(etcdMetaKeys.consistentIndex, uint64Bytes(BigInt(upTo)));
      if (compactRev >= 0) {
        w.put(etcdMetaKeys.finishedCompactRev, etcdRevisionKey(compactRev, 0, false));
        w.put(etcdMetaKeys.scheduledCompactRev, etcdRevisionKey(compactRev, 0, false));
      }
    });
    const { size } = w.finish();
    options.onProgress?.({ ...progress });
    return { revision: upTo, revisions: progress.revisions, size };
  } finally {
    sink.close();
  }
}
