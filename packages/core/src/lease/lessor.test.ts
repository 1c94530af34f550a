import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMemoryBackend } from "../backend/memory-backend.js";
import { errLeaseExists, errLeaseNotFound, errLeaseTTLTooLarge } from "../errors.js";
import { createKvApplier } from "../kv/kv-applier.js";
import { openKvStore } from "../mvcc/kv-store.js";
import { deleteRangeRequest, txnRequest } from "../requests.js";
import { b, putReq, rangeReq } from "../test-util.js";
import type { PutRequest, RequestOp } from "../types.js";
import { createLessor } from "./lessor.js";

const putOp = (value: PutRequest): RequestOp => ({ request: { case: "requestPut", value } });

function setup(
  now?: () => number,
  backend = createMemoryBackend(),
  onExpired?: (id: bigint, keys: number) => void,
) {
  const lessor = createLessor({
    backend,
    checkIntervalMs: 10,
    ...(now && { now }),
    ...(onExpired && { onExpired }),
  });
  const store = openKvStore({ backend, leases: lessor });
  lessor.start(store);
  const kv = createKvApplier({ store, leases: lessor });
  return { backend, lessor, store, kv };
}

describe("lessor", () => {
  it("grants with etcd's TTL rules and IDs", async () => {
    const { lessor } = setup();
    for (const [ttl, want] of [
      [1, 2],
      [0, 2],
      [-5, 2],
      [60, 60],
    ] as const) {
      const g = await lessor.grant(0n, ttl);
      assert.equal(g.ttl, want);
      assert.ok(g.id > 0n);
    }
    assert.deepEqual(await lessor.grant(42n, 10), { id: 42n, ttl: 10 });
    await assert.rejects(lessor.grant(42n, 10), (e) => e === errLeaseExists);
    await assert.rejects(lessor.grant(0n, 9_000_000_001), (e) => e === errLeaseTTLTooLarge);
    await lessor.close();
  });

  it("revoke deletes every attached key in one revision", async () => {
    const { lessor, kv, store } = setup();
    const { id } = await lessor.grant(0n, 60);
    for (const k of ["c", "a", "b"]) await kv.put(putReq(k, "v", { lease: id }));
    await kv.put(putReq("free", "v"));
    assert.equal(store.currentRev(), 5);
    assert.deepEqual(
      lessor.timeToLive(id)?.keys.map((k) => new TextDecoder().decode(k)),
      ["a", "b", "c"],
    );
    const rev = await lessor.revoke(id);
    assert.equal(rev, 6);
    const left = await kv.range(rangeReq("\0", { rangeEnd: new Uint8Array([0]) }));
    assert.deepEqual(
      left.kvs.map((x) => new TextDecoder().decode(x.key)),
      ["free"],
    );
    await assert.rejects(lessor.revoke(id), (e) => e === errLeaseNotFound);
    await assert.rejects(kv.put(putReq("x", "v", { lease: id })), (e) => e === errLeaseNotFound);
    await lessor.close();
  });

  it("moving a key to another lease detaches it from the first", async () => {
    const { lessor, kv } = setup();
    const a = (await lessor.grant(0n, 60)).id;
    const b = (await lessor.grant(0n, 60)).id;
    await kv.put(putReq("k", "v", { lease: a }));
    await kv.put(putReq("k", "v2", { lease: b }));
    assert.equal(lessor.timeToLive(a)?.keys.length, 0);
    assert.equal(lessor.timeToLive(b)?.keys.length, 1);
    await kv.put(putReq("k", "", { ignoreValue: true, ignoreLease: true }));
    assert.equal(lessor.timeToLive(b)?.keys.length, 1);
    await lessor.close();
  });

  it("leaseOf says what each key's latest record says, through puts, deletes, revoke and restart", async () => {
    const backend = createMemoryBackend();
    const { lessor, kv, store } = setup(undefined, backend);
    const a = (await lessor.grant(0n, 60)).id;
    const c = (await lessor.grant(0n, 60)).id;
    const recorded = async (k: string) => (await kv.range(rangeReq(k))).kvs[0]?.lease ?? 0n;
    // [step, what it does, then each key's lease]
    const steps: [string, () => Promise<unknown>, Record<string, bigint>][] = [
      ["put k on a", () => kv.put(putReq("k", "v", { lease: a })), { k: a, j: 0n }],
      ["put j with none", () => kv.put(putReq("j", "v")), { k: a, j: 0n }],
      ["move k to c", () => kv.put(putReq("k", "v", { lease: c })), { k: c, j: 0n }],
      ["put k with none", () => kv.put(putReq("k", "v")), { k: 0n, j: 0n }],
      [
        "put k, j on a in one txn",
        () =>
          kv.txn(
            txnRequest({
              success: [
                putOp(putReq("k", "v", { lease: a })),
                putOp(putReq("j", "v", { lease: a })),
              ],
            }),
          ),
        { k: a, j: a },
      ],
      ["delete j", () => kv.deleteRange(deleteRangeRequest(b("j"))), { k: a, j: 0n }],
      ["revoke a", () => lessor.revoke(a), { k: 0n, j: 0n }],
      ["put k on c", () => kv.put(putReq("k", "v", { lease: c })), { k: c, j: 0n }],
    ];
    for (const [step, run, want] of steps) {
      await run();
      for (const [k, lease] of Object.entries(want)) {
        assert.equal(lessor.leaseOf(k), lease, `${step}: leaseOf(${k})`);
        assert.equal(await recorded(k), lease, `${step}: ${k}'s record`);
      }
    }
    await lessor.close();
    await store.close();
    const again = setup(undefined, backend);
    assert.equal(again.lessor.leaseOf("k"), c, "after a restart");
    assert.equal(again.lessor.leaseOf("j"), 0n, "after a restart");
    await again.lessor.close();
  });

  it("expires a lease shortly after its deadline", async () => {
    let t = 1_000_000;
    const { lessor, kv } = setup(() => t);
    const { id } = await lessor.grant(0n, 5);
    await kv.put(putReq("k", "v", { lease: id }));
    assert.equal(lessor.timeToLive(id)?.remaining, 5);
    t += 2500;
    assert.equal(lessor.timeToLive(id)?.remaining, 2);
    assert.equal(await lessor.renew(id), 5);
    t += 4900;
    await new Promise((r) => setTimeout(r, 40));
    assert.ok(lessor.exists(id));
    t += 200;
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(lessor.exists(id), false);
    assert.equal((await kv.range(rangeReq("k"))).kvs.length, 0);
    await assert.rejects(lessor.renew(id), (e) => e === errLeaseNotFound);
    await lessor.close();
  });

  it("survives a restart once, with grace, but not forever", async () => {
    let t = 1_000_000;
    const backend = createMemoryBackend();
    let s = setup(() => t, backend);
    const { id } = await s.lessor.grant(0n, 30);
    await s.kv.put(putReq("k", "v", { lease: id }));
    await s.lessor.close();
    await s.store.close();
    // Down for 29.5 s: 0.5 s left, so the restart grants min(TTL, 10 s) of grace.
    t += 29_500;
    s = setup(() => t, backend);
    assert.equal(s.lessor.timeToLive(id)?.remaining, 10);
    assert.equal(s.lessor.timeToLive(id)?.keys.length, 1);
    await s.lessor.close();
    await s.store.close();
    // Restarted again without a keep-alive: no second grace, and the lease expires.
    t += 10_500;
    s = setup(() => t, backend);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(s.lessor.exists(id), false);
    assert.equal((await s.kv.range(rangeReq("k"))).kvs.length, 0);
    await s.lessor.close();
  });

  it("expires due leases earliest deadline first, each once, none early", async () => {
    let t = 1_000_000;
    const expired: Array<[bigint, number]> = [];
    const { lessor, kv } = setup(
      () => t,
      undefined,
      (id, keys) => expired.push([id, keys]),
    );
    const ttls = [5, 3, 4, 3, 60];
    const ids: bigint[] = [];
    for (const [i, ttl] of ttls.entries()) {
      const { id } = await lessor.grant(BigInt(i + 1), ttl);
      ids.push(id);
      for (let k = 0; k < i; k++) await kv.put(putReq(`k${i}-${k}`, "v", { lease: id }));
    }
    t += 2999;
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(expired.length, 0, "none before its deadline");
    t += 2001; // 5 s after the grants: all but the 60 s lease are due
    await new Promise((r) => setTimeout(r, 60));
    const order = expired.map(([id]) => id);
    assert.deepEqual(order.slice(0, 2).sort(), [2n, 4n], "the two 3 s leases first");
    assert.deepEqual(order.slice(2), [3n, 1n]);
    assert.deepEqual(
      new Map(expired),
      new Map([
        [1n, 0],
        [2n, 1],
        [3n, 2],
        [4n, 3],
      ]),
    );
    t += 10_000;
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(expired.length, 4, "each once");
    assert.equal(lessor.stats().expired, 4);
    assert.deepEqual(lessor.leases(), [5n]);
    assert.equal((await kv.range(rangeReq("k", { rangeEnd: b("l") }))).kvs.length, 4);
    await lessor.close();
  });

  it("a revoke refused by its caller's check leaves the lease, which still expires", async () => {
    let t = 1_000_000;
    const { lessor, kv } = setup(() => t);
    const { id } = await lessor.grant(0n, 10);
    await kv.put(putReq("k", "v", { lease: id }));
    const refused = new Error("permission denied");
    await assert.rejects(
      lessor.revoke(id, {
        leaseRevoke: () => {
          throw refused;
        },
      }),
      (e) => e === refused,
    );
    assert.ok(lessor.exists(id));
    assert.equal(lessor.timeToLive(id)?.keys.length, 1);
    t += 10_000;
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(lessor.exists(id), false);
    assert.equal((await kv.range(rangeReq("k"))).kvs.length, 0);
    await lessor.close();
  });

  it("keeps the deadline of a renewal across a restart, and keys shared between leases apart", async () => {
    let t = 1_000_000;
    const backend = createMemoryBackend();
    let s = setup(() => t, backend);
    const a = (await s.lessor.grant(0n, 30)).id;
    const c = (await s.lessor.grant(0n, 30)).id;
    for (const k of ["x", "y", "z"]) await s.kv.put(putReq(k, "v", { lease: a }));
    await s.kv.put(putReq("y", "v", { lease: c }));
    await s.kv.put(putReq("x", "v", { lease: c }));
    t += 20_000;
    await s.lessor.renew(a);
    await s.lessor.close();
    await s.store.close();
    t += 5_000;
    s = setup(() => t, backend);
    assert.equal(s.lessor.timeToLive(a)?.remaining, 25, "renewed 5 s before the restart");
    assert.equal(s.lessor.timeToLive(c)?.remaining, 10, "5 s left: the restart's grace");
    assert.deepEqual(
      s.lessor.timeToLive(a)?.keys.map((k) => new TextDecoder().decode(k)),
      ["z"],
    );
    assert.deepEqual(
      s.lessor.timeToLive(c)?.keys.map((k) => new TextDecoder().decode(k)),
      ["x", "y"],
    );
    await s.lessor.close();
  });
});
