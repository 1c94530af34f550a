import assert from "node:assert/strict";
import { test } from "node:test";
import { BTree, bulkLoadBTree } from "./btree.js";

test("a bulk-loaded tree is a valid tree that behaves like one built by set", () => {
  for (const n of [0, 1, 31, 32, 33, 1000, 40_000]) {
    const keys = Array.from({ length: n }, (_, i) => `k${String(i).padStart(6, "0")}`);
    const bulk = bulkLoadBTree(
      keys,
      keys.map((k) => k.length),
    );
    bulk.checkValid();
    assert.equal(bulk.size, n);
    assert.deepEqual([...bulk.keys()], keys);
    // Writes after the load keep it valid and ordered.
    for (let i = 0; i < n; i += 3) bulk.delete(keys[i] as string);
    for (let i = 0; i < 200; i++) bulk.set(`k${String(i * 7).padStart(6, "0")}x`, 1);
    bulk.checkValid();
    const byHand = new BTree<string, number>();
    for (let i = 0; i < n; i++) if (i % 3 !== 0) byHand.set(keys[i] as string, 7);
    for (let i = 0; i < 200; i++) byHand.set(`k${String(i * 7).padStart(6, "0")}x`, 1);
    assert.deepEqual([...bulk.keys()], [...byHand.keys()]);
  }
});
