// Durability across restarts of the conclave CLI on one data dir: a graceful
// stop keeps everything (keys, history, compaction, IDs); a kill -9 with writes
// in flight loses nothing that was acknowledged and leaves no revision gaps.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, describe, test } from "node:test";
import type { KeyValue } from "@conclave/proto";
import { type RunningServer, startConclave } from "@conclave/testkit";
import { Code } from "@connectrpc/connect";
import {
  bytes,
  type EtcdClients,
  etcdClients,
  expectConnectError,
  prefixEnd,
  text,
  transportFor,
} from "./clients.js";

/** A comparable view of a key-value pair. */
const view = (kv: KeyValue) => ({
  key: text(kv.key),
  value: text(kv.value),
  create: kv.createRevision,
  mod: kv.modRevision,
  version: kv.version,
});

/** Every key at a revision (0 = now), as comparable views. */
async function everything(kv: EtcdClients["kv"], revision = 0n) {
  const r = await kv.range({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]), revision });
  return r.kvs.map(view);
}

describe("restart on the same data dir", () => {
  let server: RunningServer | undefined;
  const dataDirs: string[] = [];

  async function start(dataDir?: string, args?: string[]) {
    server = await startConclave({
      ...(dataDir !== undefined && { dataDir }),
      ...(args !== undefined && { args }),
    });
    if (!dataDirs.includes(server.dataDir)) dataDirs.push(server.dataDir);
    return { server, ...etcdClients(transportFor("grpc", server.url)) };
  }

  after(async () => {
    await server?.kill();
    for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
  });

  test("SIGTERM exits 0; keys, history, compaction, IDs and the revision survive", async () => {
    const first = await start();
    const { kv } = first;
    const rev = async (p: Promise<{ header?: { revision: bigint } }>) =>
      (await p).header?.revision ?? 0n;

    const a1 = await rev(kv.put({ key: bytes("a"), value: bytes("a1") }));
    assert.equal(a1, 2n, "a fresh data dir starts at revision 1");
    const b1 = await rev(kv.put({ key: bytes("b"), value: bytes("b1") }));
    const a2 = await rev(kv.put({ key: bytes("a"), value: bytes("a2") }));
    const delB = await rev(kv.deleteRange({ key: bytes("b") }));
    const c1 = await rev(kv.put({ key: bytes("c"), value: bytes("c1") }));
    const a3 = await rev(kv.put({ key: bytes("a"), value: bytes("a3") }));
    await kv.compact({ revision: a2, physical: true });
    const txn = await rev(
      kv.txn({
        success: [
          { request: { case: "requestPut", value: { key: bytes("d/1"), value: bytes("d1") } } },
          { request: { case: "requestPut", value: { key: bytes("d/2"), value: bytes("d2") } } },
          { request: { case: "requestDeleteRange", value: { key: bytes("c") } } },
        ],
      }),
    );
    const b2 = await rev(kv.put({ key: bytes("b"), value: bytes("b2") }));
    assert.deepEqual([b1, a2, delB, c1, a3, txn, b2], [3n, 4n, 5n, 6n, 7n, 8n, 9n]);

    // What every readable revision looks like before the restart.
    const history = new Map<bigint, Awaited<ReturnType<typeof everything>>>();
    for (let r = a2; r <= b2; r++) history.set(r, await everything(kv, r));
    const statusBefore = await first.maintenance.status({});

    const code = await first.server.stop();
    assert.equal(code, 0, `graceful stop exit code; output:\n${first.server.output()}`);

    const second = await start(first.server.dataDir);
    const kv2 = second.kv;

    const now = await kv2.range({ key: bytes("a") });
    assert.equal(now.header?.revision, b2, "the current revision survives");
    assert.deepEqual(await everything(kv2), [
      { key: "a", value: "a3", create: a1, mod: a3, version: 3n },
      { key: "b", value: "b2", create: b2, mod: b2, version: 1n },
      { key: "d/1", value: "d1", create: txn, mod: txn, version: 1n },
      { key: "d/2", value: "d2", create: txn, mod: txn, version: 1n },
    ]);

    // History, read with the revision field, matches both the expectation and the pre-restart view.
    const expected = new Map<bigint, ReturnType<typeof view>[]>([
      [
        a2,
        [
          { key: "a", value: "a2", create: a1, mod: a2, version: 2n },
          { key: "b", value: "b1", create: b1, mod: b1, version: 1n },
        ],
      ],
      [delB, [{ key: "a", value: "a2", create: a1, mod: a2, version: 2n }]],
      [
        c1,
        [
          { key: "a", value: "a2", create: a1, mod: a2, version: 2n },
          { key: "c", value: "c1", create: c1, mod: c1, version: 1n },
        ],
      ],
      [
        txn,
        [
          { key: "a", value: "a3", create: a1, mod: a3, version: 3n },
          { key: "d/1", value: "d1", create: txn, mod: txn, version: 1n },
          { key: "d/2", value: "d2", create: txn, mod: txn, version: 1n },
        ],
      ],
    ]);
    for (const [r, kvs] of expected) {
      assert.deepEqual(await everything(kv2, r), kvs, `at revision ${r}`);
    }
    for (const [r, kvs] of history) {
      assert.deepEqual(await everything(kv2, r), kvs, `at revision ${r}, as before the restart`);
    }

    // The compaction survives: older revisions stay gone, the compact revision stays readable.
    await expectConnectError(
      kv2.range({ key: bytes("a"), revision: b1 }),
      Code.OutOfRange,
      "etcdserver: mvcc: required revision has been compacted",
    );
    await expectConnectError(
      kv2.compact({ revision: a2 }),
      Code.OutOfRange,
      "etcdserver: mvcc: required revision has been compacted",
    );
    await expectConnectError(
      kv2.range({ key: bytes("a"), revision: b2 + 1n }),
      Code.OutOfRange,
      "etcdserver: mvcc: required revision is a future revision",
    );

    // Member and cluster IDs are per data dir, not per process.
    const statusAfter = await second.maintenance.status({});
    assert.equal(statusAfter.header?.memberId, statusBefore.header?.memberId);
    assert.equal(statusAfter.header?.clusterId, statusBefore.header?.clusterId);
    assert.equal(statusAfter.raftIndex, b2);

    // Writing goes on from the restored revision.
    const next = await kv2.put({ key: bytes("a"), value: bytes("a4"), prevKv: true });
    assert.equal(next.header?.revision, b2 + 1n);
    assert.equal(next.prevKv?.version, 3n);
    const a = await kv2.range({ key: bytes("a") });
    assert.equal(a.kvs[0]?.version, 4n);
    assert.equal(a.kvs[0]?.createRevision, a1);

    assert.equal(await second.server.stop(), 0);
  });

  test("kill -9 with ~200 puts in flight: every acknowledged put survives, no revision gaps", async () => {
    let { server: s, kv } = await start();
    const dataDir = s.dataDir;
    /** key → [value, acknowledged mod_revision] of every put the server acknowledged. */
    const acked = new Map<string, { value: string; rev: bigint }>();
    const sent = new Map<string, string>();
    let next = 0;

    for (let round = 1; round <= 2; round++) {
      const ackedBefore = acked.size;
      let killed = false;
      let outstanding = 0;
      let failed = 0;
      const worker = async () => {
        while (!killed) {
          const key = `k/${String(next++).padStart(6, "0")}`;
          const value = `value of ${key} in round ${round}`;
          sent.set(key, value);
          outstanding++;
          try {
            const r = await kv.put({ key: bytes(key), value: bytes(value) }, { timeoutMs: 10_000 });
            acked.set(key, { value, rev: r.header?.revision ?? 0n });
          } catch {
            failed++;
          } finally {
            outstanding--;
          }
        }
      };
      const workers = Array.from({ length: 200 }, worker);
      while (acked.size - ackedBefore < 300) await new Promise((r) => setTimeout(r, 5));
      const inFlightAtKill = outstanding;
      await s.kill();
      killed = true;
      await Promise.all(workers);
      assert.ok(inFlightAtKill > 0, "puts were in flight when the server was killed");
      assert.ok(failed > 0, "some in-flight puts never got an answer");
      assert.equal(s.proc.signalCode, "SIGKILL");

      ({ server: s, kv } = await start(dataDir));
      const r = await kv.range({ key: bytes("k/"), rangeEnd: prefixEnd("k/") });
      const current = r.header?.revision ?? 0n;
      const found = new Map(r.kvs.map((kv) => [text(kv.key), kv]));

      const lost: string[] = [];
      for (const [key, { value, rev }] of acked) {
        const kv = found.get(key);
        if (kv === undefined) {
          lost.push(`${key}@${rev}`);
          continue;
        }
        assert.equal(text(kv.value), value, `value of acknowledged ${key}`);
        assert.equal(kv.modRevision, rev, `mod_revision of acknowledged ${key}`);
        assert.equal(kv.createRevision, rev, `create_revision of acknowledged ${key}`);
        assert.equal(kv.version, 1n);
      }
      assert.deepEqual(lost, [], `round ${round}: acknowledged puts lost after kill -9`);

      // Unacknowledged puts may or may not have landed; those that did are whole.
      for (const [key, kv] of found) assert.equal(text(kv.value), sent.get(key), `value of ${key}`);

      // Each key was put once, so the mod revisions must be exactly 2..current.
      const revs = r.kvs.map((kv) => kv.modRevision).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
      assert.equal(revs.length, Number(current - 1n), `revisions 2..${current} are all present`);
      revs.forEach((rv, i) => {
        assert.equal(rv, BigInt(i + 2), `revision sequence at position ${i}`);
      });
      let maxAcked = 0n;
      for (const { rev } of acked.values()) if (rev > maxAcked) maxAcked = rev;
      assert.ok(current >= maxAcked, `current ${current} >= highest acknowledged ${maxAcked}`);

      // The recovered store keeps writing from where it was (a k/ key, put
      // once, so the next round's gap check still holds).
      const key = `k/probe-${round}`;
      const probe = await kv.put({ key: bytes(key), value: bytes("probe") });
      assert.equal(probe.header?.revision, current + 1n);
      sent.set(key, "probe");
      acked.set(key, { value: "probe", rev: current + 1n });
    }
    assert.equal(await s.stop(), 0);
  });

  test("kill -9 around index checkpoints: a start from the checkpoint plus replay loses nothing", async () => {
    // The store writes an index checkpoint every 10 000 records (at this
    // size): each round writes past that in txns of 100 puts, 8 in flight,
    // and is killed at a different point after it.
    const args = ["--log-level", "info"];
    let { server: s, kv } = await start(undefined, args);
    const dataDir = s.dataDir;
    const acked = new Map<string, { value: string; rev: bigint }>();
    const sent = new Map<string, string>();
    let next = 0;
    const starts: string[] = [];
    for (const [round, extra] of [1500, 4200, 7700].entries()) {
      const target = acked.size + 10_000 + extra;
      let killed = false;
      const worker = async () => {
        while (!killed) {
          const keys = Array.from({ length: 100 }, () => `c/${String(next++).padStart(7, "0")}`);
          const value = (k: string) => `${k} in round ${round}`;
          for (const k of keys) sent.set(k, value(k));
          try {
            const r = await kv.txn(
              {
                success: keys.map((k) => ({
                  request: {
                    case: "requestPut" as const,
                    value: { key: bytes(k), value: bytes(value(k)) },
                  },
                })),
              },
              { timeoutMs: 10_000 },
            );
            for (const k of keys) acked.set(k, { value: value(k), rev: r.header?.revision ?? 0n });
          } catch {
            // in flight at the kill
          }
        }
      };
      const workers = Array.from({ length: 8 }, worker);
      while (acked.size < target) await new Promise((r) => setTimeout(r, 5));
      await s.kill();
      killed = true;
      await Promise.all(workers);

      ({ server: s, kv } = await start(dataDir, args));
      const opened = /"msg":"storage opened"[^\n]*|[^\n]*"storage opened"[^\n]*/.exec(s.output());
      starts.push(opened?.[0] ?? "");
      const r = await kv.range({ key: bytes("c/"), rangeEnd: prefixEnd("c/") });
      const current = r.header?.revision ?? 0n;
      const found = new Map(r.kvs.map((x) => [text(x.key), x]));
      const lost = [...acked.keys()].filter((k) => !found.has(k));
      assert.deepEqual(lost.slice(0, 5), [], `round ${round}: acknowledged puts lost`);
      for (const [k, { value, rev }] of acked) {
        const x = found.get(k);
        assert.equal(text(x?.value ?? new Uint8Array()), value, `value of ${k}`);
        assert.deepEqual([x?.modRevision, x?.createRevision, x?.version], [rev, rev, 1n], k);
      }
      // Whole txns only, one revision each, 2..current without gaps.
      const perRev = new Map<bigint, number>();
      for (const [k, x] of found) {
        assert.equal(text(x.value), sent.get(k), `value of ${k}`);
        perRev.set(x.modRevision, (perRev.get(x.modRevision) ?? 0) + 1);
      }
      assert.equal(perRev.size, Number(current - 1n), `revisions 2..${current}`);
      for (const [rev, n] of perRev) assert.equal(n, 100, `keys written at revision ${rev}`);
      for (const [k, x] of found)
        if (!acked.has(k)) acked.set(k, { value: text(x.value), rev: x.modRevision });
    }
    assert.ok(
      starts.some((l) => l.includes('"index":"checkpoint"')),
      `some start used the checkpoint:\n${starts.join("\n")}`,
    );
    assert.equal(await s.stop(), 0);
    // A graceful stop leaves a checkpoint of everything: nothing to replay.
    ({ server: s, kv } = await start(dataDir, args));
    assert.match(s.output(), /"index":"checkpoint","recordsRead":0/);
    assert.equal(
      (await kv.range({ key: bytes("c/"), rangeEnd: prefixEnd("c/"), countOnly: true })).count,
      BigInt(acked.size),
    );
    assert.equal(await s.stop(), 0);
  });
});
