import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  type Backend,
  bucketNames,
  createLmdbBackend,
  createMemoryBackend,
  errCompacted,
  type LeaseGrant,
  type LogAppend,
  LogNotEmptyError,
  type LogRecord,
  type ReplicationStorage,
  type SharedLog,
} from "@conclave/core";
import { conclaveLog } from "@conclave/proto";
import {
  assembleServerContext,
  closeServerContext,
  openServerContext,
  type ServerContext,
} from "../server-context.js";
import { migrateEmbeddedStore } from "./migrate-embedded-store.js";
import { createReplicaLog, type Divergence } from "./replica-log.js";
import { loadRestorePrefix, restoreEntries } from "./restore-prefix.js";

const enc = new TextEncoder();
const b = (s: string) => enc.encode(s);
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "conclave-restore-"));
  dirs.push(d);
  return d;
}

/**
 * A shared log in memory, with the contract's restore (for what this file
 * tests; the PostgreSQL one is tested against a real PostgreSQL). Each read
 * and each part a restore takes waits a turn, as a network round trip does.
 */
function memoryLog(): SharedLog & { records: LogRecord[]; leases: LeaseGrant[] } {
  const records: LogRecord[] = [];
  const leases: LeaseGrant[] = [];
  const turn = () => new Promise((r) => setImmediate(r));
  const push = (data: Uint8Array) => {
    records.push({ seq: BigInt(records.length + 1), data });
  };
  return {
    records,
    leases,
    async append(entries: readonly LogAppend[]) {
      await turn();
      for (const e of entries) push(e.data);
      return BigInt(records.length);
    },
    async restore(entries, grants) {
      if (records.length > 0) throw new LogNotEmptyError(BigInt(records.length));
      for (const e of entries) {
        await turn();
        push(e);
      }
      leases.push(...grants);
      return BigInt(records.length);
    },
    async expire() {
      return [];
    },
    async read(afterSeq, limit) {
      await turn();
      return records.slice(Number(afterSeq), Number(afterSeq) + limit);
    },
    async head() {
      return BigInt(records.length);
    },
    onAppended: () => () => undefined,
  };
}

function memoryStorage(log: SharedLog): ReplicationStorage {
  return {
    log,
    leases: {} as ReplicationStorage["leases"],
    cluster: {} as ReplicationStorage["cluster"],
    start: async () => undefined,
    close: async () => undefined,
  };
}

function dump(backend: Backend): string[] {
  const hex = (u: Uint8Array) => Buffer.from(u).toString("hex");
  return bucketNames.flatMap((bucket) =>
    [...backend.range(bucket)].map((e) => `${bucket} ${hex(e.key)} ${hex(e.value)}`),
  );
}

const putReq = (key: string, value: string, lease = 0n) => ({
  key: b(key),
  value: b(value),
  lease,
  prevKv: false,
  ignoreValue: false,
  ignoreLease: false,
});

/** An embedded store with history, a compaction, a lease with a key and auth enabled. */
async function writeEmbeddedStore(dir: string): Promise<{ rev: number; lease: bigint }> {
  const ctx = await openServerContext({ dataDir: dir });
  try {
    for (let i = 0; i < 40; i++) await ctx.kv.put(putReq(`k${i % 7}`, `v${i}`.repeat(20)));
    await ctx.kv.deleteRange({ key: b("k3"), rangeEnd: new Uint8Array(), prevKv: false });
    await ctx.kv.compact({ revision: 20n, physical: true });
    const { id } = await ctx.lessor.grant(0n, 600);
    await ctx.kv.put(putReq("leased", "x", id));
    await ctx.auth.userAdd("root", "pw", {});
    await ctx.auth.roleAdd("root");
    await ctx.auth.userGrantRole("root", "root");
    await ctx.auth.enable();
    return { rev: ctx.store.currentRev(), lease: id };
  } finally {
    await closeServerContext(ctx);
  }
}

describe("restore prefix", () => {
  it("copies every bucket record for record, in small parts, and a store opens on the copy as on the source", async () => {
    const dir = tempDir();
    const { rev, lease } = await writeEmbeddedStore(dir);
    const source = createLmdbBackend({ dir });
    const log = memoryLog();
    // Small parts: many entries, each written a turn apart while the source is iterated.
    await log.restore(restoreEntries(source, 512), []);
    assert.ok(log.records.length > 10, `${log.records.length} entries`);
    // An ordinary entry after the prefix is not part of it.
    await log.append([
      {
        data: toBinary(
          conclaveLog.LogEntrySchema,
          create(conclaveLog.LogEntrySchema, {
            request: { case: "compaction", value: { revision: 25n } },
          }),
        ),
      },
    ]);
    const copy = createMemoryBackend();
    const last = await loadRestorePrefix(log, copy);
    assert.equal(last?.seq, BigInt(log.records.length - 1));
    assert.ok((last?.data.length ?? 0) < 16, "the prefix ends with an empty part");
    assert.deepEqual(dump(copy), dump(source));
    await source.close();

    const ctx: ServerContext = assembleServerContext(
      copy,
      { memberId: 1n, clusterId: 1n },
      {},
      { expireLocally: false },
    );
    try {
      assert.equal(ctx.store.currentRev(), rev);
      assert.equal(ctx.store.compactRev(), 20);
      assert.throws(() => ctx.store.read().range(b("k"), b("l"), { rev: 19 }), errCompacted);
      assert.equal(ctx.store.read().range(b("k"), b("l"), { rev: 20 }).count, 7);
      assert.deepEqual(
        ctx.lessor.timeToLive(lease)?.keys.map((k) => Buffer.from(k).toString()),
        ["leased"],
      );
      assert.equal(ctx.lessor.timeToLive(lease)?.ttl, 600);
      assert.equal(ctx.auth.isEnabled(), true);
      assert.deepEqual(ctx.auth.userGet("root"), ["root"]);
    } finally {
      await closeServerContext(ctx);
    }
  });

  it("an empty log has no prefix; an empty store is still one entry", async () => {
    const log = memoryLog();
    assert.equal(await loadRestorePrefix(log, createMemoryBackend()), undefined);
    assert.equal([...restoreEntries(createMemoryBackend())].length, 1);
  });

  it("a restore entry past the prefix is a divergence", async () => {
    const log = memoryLog();
    const restore = [...restoreEntries(createMemoryBackend())];
    await log.restore(restore, []);
    const prefix = await loadRestorePrefix(log, createMemoryBackend());
    const applied: string[] = [];
    const replica = createReplicaLog({
      storage: memoryStorage(log),
      memberId: 3n,
      apply: async (e) => {
        applied.push(e.request.case ?? "");
      },
      after: prefix,
    });
    const diverged: Divergence[] = [];
    replica.onDiverged((d) => diverged.push(d));
    await replica.start();
    assert.equal(replica.applied(), 1n);
    // The log started again under the replica.
    log.records.push({ seq: 2n, data: restore[0] ?? new Uint8Array() });
    await assert.rejects(replica.start(), /a restore entry at position 2/);
    assert.deepEqual(diverged, [
      { applied: 1n, head: 2n, reason: "a restore entry at position 2, after the log's prefix" },
    ]);
    assert.deepEqual(applied, []);
    await replica.close();
  });
});

describe("migrateEmbeddedStore", () => {
  it("writes the prefix and a deadline per lease, and reports what it moved", async () => {
    const dir = tempDir();
    const { rev, lease } = await writeEmbeddedStore(dir);
    const log = memoryLog();
    const summary = await migrateEmbeddedStore({ from: dir, to: memoryStorage(log) });
    assert.deepEqual(summary, {
      revision: rev,
      compactRevision: 20,
      keys: 7, // k0…k6 without k3, and leased
      leases: 1,
      entries: 2, // the store's records and the empty last part
      bytes: log.records.reduce((n, r) => n + r.data.length, 0),
    });
    assert.deepEqual(log.leases, [{ id: lease, ttlMs: 600_000 }]);
    await assert.rejects(
      migrateEmbeddedStore({ from: dir, to: memoryStorage(log) }),
      LogNotEmptyError,
    );
  });

  it("refuses a directory without a store", async () => {
    await assert.rejects(
      migrateEmbeddedStore({ from: join(tempDir(), "nothing"), to: memoryStorage(memoryLog()) }),
      /no Conclave store in/,
    );
  });
});
