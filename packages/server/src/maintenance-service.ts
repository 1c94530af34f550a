import { createHash } from "node:crypto";
import { open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AlarmType, hashBuckets } from "@conclave/core";
import {
  AlarmRequest_AlarmAction,
  type Maintenance,
  AlarmType as ProtoAlarmType,
} from "@conclave/proto";
import type { ServiceImpl } from "@connectrpc/connect";
import { errBadLeaderTransferee, errNotLeader } from "./errors.js";
import { fillHeader } from "./header.js";
import type { ServerContext } from "./server-context.js";
import { writeEtcdSnapshot } from "./snapshot/write-etcd-snapshot.js";

/**
 * The etcd version Conclave answers as (`Status.version`, `/version`'s
 * `etcdserver`, `etcd_server_version`): etcd 3.4.23, the release whose
 * answers the differential tests and etcd's own e2e suite compare it with.
 * Our protos carry etcd 3.5's fields too (a superset on the wire).
 */
export const etcdApiVersion = "3.4.23";

/** The cluster version `/version` reports (etcd 3.4.23 says `3.4.0`). */
export const etcdClusterVersion = "3.4.0";

/** Chunk size of Snapshot messages (etcd sends 32 KiB). */
const snapshotChunk = 32 * 1024;

/**
 * etcdserverpb.Maintenance for a single member. Status describes this member
 * as its own leader; the MVCC revision stands in for the raft index, since
 * every applied write is one entry.
 *
 * - Alarm: the alarm store's (NOSPACE is raised by the quota layer,
 *   quota-interceptor.ts, and persisted). ACTIVATE needs the root role
 *   while auth is on: raising NOSPACE stops every write, which etcd 3.4
 *   lets any caller do. GET and DEACTIVATE stay open to every user, as in
 *   etcd 3.4 (`etcdctl alarm disarm` works for a user without roles).
 * - Who may call what is the auth policy's (auth-policy.ts), applied around
 *   these methods by the auth layer: Status and Alarm need no permission,
 *   but a token, when sent, must be valid; the rest need the root role.
 * - Defragment: the backend rewrites its file with only live pages (reads go
 *   on, writes wait), so the data file shrinks as etcd's does.
 * - Hash / HashKV: CRC-32 over the backend / over history up to a revision.
 *   The values are Conclave's own (etcd hashes bbolt pages), stable across
 *   restarts and equal for equal histories.
 * - MoveLeader: leadership cannot move, so, as etcd 3.4 answers a single
 *   member, a transfer to the leader itself succeeds (an empty response,
 *   no header) and any other target is FailedPrecondition `etcdserver: bad
 *   leader transferee`; a member that is not the leader says `etcdserver:
 *   not leader`, as etcd's followers do. Open to every user, as in etcd.
 * - Snapshot: the store in etcd 3.4's backend format (a bbolt file with
 *   etcd's buckets, writeEtcdSnapshot), consistent at one revision, streamed
 *   in 32 KiB chunks with remaining_bytes, then a last message holding the
 *   SHA-256 of the data, as etcd sends it and `etcdctl snapshot save`
 *   checks it. `etcdctl snapshot restore` and a real etcd take the file.
 */
export function createMaintenanceService(
  ctx: ServerContext,
): Partial<ServiceImpl<typeof Maintenance>> {
  return {
    async status() {
      const rev = BigInt(ctx.store.currentRev());
      return {
        header: fillHeader(ctx),
        version: etcdApiVersion,
        dbSize: BigInt(ctx.store.backend.sizeBytes()),
        dbSizeInUse: BigInt(ctx.store.backend.sizeInUseBytes()),
        // A replica names the one running the cluster duties (0: none known now).
        leader: ctx.cluster?.leader() ?? ctx.memberId,
        raftIndex: rev,
        raftAppliedIndex: rev,
        raftTerm: ctx.raftTerm,
        // etcd lists raised alarms here in Go's compact text form.
        errors: ctx.alarms
          .list()
          .map((a) => `memberID:${a.memberId} alarm:${ProtoAlarmType[a.type] ?? a.type} `),
        isLearner: false,
      };
    },
    async alarm(req) {
      // etcd 3.4 answers without a header. GET with type NONE lists all;
      // ACTIVATE and DEACTIVATE answer the alarm they changed (none: not raised).
      const toProto = (a: { memberId: bigint; type: number }) => ({
        memberID: a.memberId,
        alarm: a.type,
      });
      switch (req.action) {
        case AlarmRequest_AlarmAction.ACTIVATE:
          if (req.alarm === AlarmType.none) return { alarms: [] };
          return { alarms: [toProto(await ctx.alarms.activate(req.memberID, req.alarm))] };
        case AlarmRequest_AlarmAction.DEACTIVATE: {
          const a = await ctx.alarms.deactivate(req.memberID, req.alarm);
          return { alarms: a === undefined ? [] : [toProto(a)] };
        }
        default:
          return { alarms: ctx.alarms.list(req.alarm).map(toProto) };
      }
    },
    async moveLeader(req) {
      if ((ctx.cluster?.leader() ?? ctx.memberId) !== ctx.memberId) throw errNotLeader;
      if (req.targetID !== ctx.memberId) throw errBadLeaderTransferee;
      return {};
    },
    async defragment() {
      await ctx.store.barrier();
      // Logged as etcd logs it ("defragmenting" … "defragmented"): writes
      // wait for the copy, so an operator wants to see when it ran and what
      // it gave back.
      const before = ctx.store.backend.sizeBytes();
      const started = Date.now();
      ctx.log({ bytes: before }, "defrag: copying the live pages to a new file (writes wait)");
      await ctx.store.backend.defragment();
      const after = ctx.store.backend.sizeBytes();
      ctx.log({ bytesBefore: before, bytesAfter: after, ms: Date.now() - started }, "defrag: done");
      return { header: fillHeader(ctx) };
    },
    async hash() {
      await ctx.store.barrier();
      return { header: fillHeader(ctx), hash: hashBuckets(ctx.store.backend) };
    },
    async hashKV(req) {
      const { hash, rev, compactRev } = ctx.store.hashByRev(Number(req.revision));
      return {
        header: fillHeader(ctx),
        hash,
        compactRevision: BigInt(compactRev),
        hashRevision: BigInt(rev),
      };
    },
    async *snapshot(_req, hctx) {
      const file = join(tmpdir(), `conclave-snapshot-${process.pid}-${Date.now()}.db`);
      try {
        const started = Date.now();
        ctx.log({ revision: ctx.store.durableRev() }, "snapshot: writing etcd backend file");
        const info = await writeEtcdSnapshot(ctx, file, {
          onProgress: (p) =>
            ctx.log(
              { revisions: p.revisions, mib: Math.round(p.bytes / 2 ** 20) },
              "snapshot: progress",
            ),
        });
        ctx.log(
          {
            revision: info.revision,
            revisions: info.revisions,
            bytes: info.size,
            ms: Date.now() - started,
          },
          "snapshot: file written, streaming",
        );
        const fh = await open(file, "r");
        try {
          const total = (await fh.stat()).size;
          const sha = createHash("sha256");
          let sent = 0;
          while (sent < total && !hctx.signal.aborted) {
            const buf = Buffer.alloc(Math.min(snapshotChunk, total - sent));
            const { bytesRead } = await fh.read(buf, 0, buf.length, sent);
            if (bytesRead === 0) break;
            const blob = buf.subarray(0, bytesRead);
            sent += bytesRead;
            sha.update(blob);
            yield { remainingBytes: BigInt(total - sent), blob };
          }
          yield { remainingBytes: 0n, blob: sha.digest() };
        } finally {
          await fh.close();
        }
      } finally {
        await rm(file, { force: true });
      }
    },
  };
}
