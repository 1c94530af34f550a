import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLmdbBackend } from "../backend/lmdb-backend.js";
import { createKvApplier } from "../kv/kv-applier.js";
import { b, putReq, rangeReq, s, tempDirs } from "../test-util.js";
import { openKvStore } from "./kv-store.js";

const tempDir = tempDirs("conclave-store-");

async function open(dir: string) {
  const backend = createLmdbBackend({ dir });
  const store = openKvStore({ backend });
  return { backend, store, kv: createKvApplier({ store }) };
}

describe("kv store on lmdb", () => {
  it("restores revision, keys, history and compaction after reopening", async () => {
    const dir = tempDir();
    let { backend, store, kv } = await open(dir);
    await kv.put(putReq("a", "1")); // 2
    await kv.put(putReq("a", "2")); // 3
    await kv.put(putReq("b", "x")); // 4
    await kv.deleteRange({ key: b("b"), rangeEnd: new Uint8Array(0), prevKv: false }); // 5
    await kv.put(putReq("c", "y")); // 6
    await kv.compact({ revision: 3n, physical: true });
    await store.close();
    await backend.close();

    ({ backend, store, kv } = await open(dir));
    assert.equal(store.currentRev(), 6);
    assert.equal(store.compactRev(), 3);
    const r = await kv.range(rangeReq("\0", { rangeEnd: new Uint8Array([0]) }));
    assert.deepEqual(
      r.kvs.map((x) => [s(x.key), s(x.value), x.createRevision, x.modRevision, x.version]),
      [
        ["a", "2", 2n, 3n, 2n],
        ["c", "y", 6n, 6n, 1n],
      ],
    );
    assert.equal(s((await kv.range(rangeReq("b", { revision: 4n }))).kvs[0]?.value ?? b("")), "x");
    await assert.rejects(kv.range(rangeReq("a", { revision: 2n })));
    assert.equal((await kv.put(putReq("a", "3"))).header.revision, 7n);
    const a = (await kv.range(rangeReq("a"))).kvs[0];
    assert.deepEqual([a?.createRevision, a?.version], [2n, 3n]);
    await store.close();
    await backend.close();
  });

  it("history(): changes in revision order, deletes as watchers see them, cut at whole revisions", async () => {
    const dir = tempDir();
    const { backend, store, kv } = await open(dir);
    await kv.put(putReq("a", "1", { lease: 0n })); // 2
    await kv.txn({
      compare: [],
      success: [
        { request: { case: "requestPut", value: putReq("b", "22") } },
        { request: { case: "requestPut", value: putReq("c", "333") } },
      ],
      failure: [],
    }); // 3: two changes
    await kv.deleteRange({ key: b("a"), rangeEnd: new Uint8Array(0), prevKv: false }); // 4
    const show = (from: number, to: number, maxBytes?: number) => {
      const h = store.history(from, to, maxBytes);
      return [h.to, h.changes.map((c) => `${c.type}:${s(c.kv.key)}@${c.kv.modRevision}`)];
    };
    assert.deepEqual(show(2, 4), [4, ["put:a@2", "put:b@3", "put:c@3", "delete:a@4"]]);
    const del = store.history(4, 4).changes[0];
    assert.deepEqual(
      [del?.kv.createRevision, del?.kv.version, del?.kv.lease, del?.kv.value.length],
      [0n, 0n, 0n, 0],
    );
    // One byte is reached by the first record: the read ends with its revision.
    assert.deepEqual(show(2, 4, 1), [2, ["put:a@2"]]);
    // Revision 3 is never split, whatever the budget.
    assert.deepEqual(show(3, 4, 1), [3, ["put:b@3", "put:c@3"]]);
    assert.deepEqual(show(3, 3), [3, ["put:b@3", "put:c@3"]]);
    await store.close();
    await backend.close();
  });

  it("acknowledges concurrent writes in one group and reads only durable data", async () => {
    const dir = tempDir();
    const { backend, store, kv } = await open(dir);
    const writes = [];
    for (let i = 0; i < 500; i++) writes.push(kv.put(putReq(`k${i % 50}`, `${i}`)));
    // Applied but not yet durable: readers still see the old revision.
    assert.equal(store.currentRev(), 501);
    assert.equal((await kv.range(rangeReq("k0"))).header.revision <= 501n, true);
    const revs = (await Promise.all(writes)).map((w) => Number(w.header.revision));
    assert.deepEqual(
      revs,
      Array.from({ length: 500 }, (_, i) => i + 2),
    );
    assert.equal(store.durableRev(), 501);
    assert.equal((await kv.range(rangeReq("k0"))).header.revision, 501n);
    await store.close();
    await backend.close();
  });
});
