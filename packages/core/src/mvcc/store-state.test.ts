import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { StoredRecord } from "./record-codec.js";
import { PendingRecords } from "./store-state.js";

const rec = (n: number) => ({ n }) as unknown as StoredRecord;

describe("PendingRecords", () => {
  const mains: Record<string, number> = {
    "a small revision": 5,
    "a revision past 2^32": 2 ** 32 + 7,
    "the largest safe revision": Number.MAX_SAFE_INTEGER,
  };
  for (const [name, main] of Object.entries(mains)) {
    it(`${name}: every sub of a write until the write is dropped`, () => {
      const p = new PendingRecords();
      p.set(main, 0, rec(0));
      p.set(main, 1, rec(1));
      p.set(main + 1, 0, rec(2));
      assert.deepEqual(p.get(main, 0), rec(0));
      assert.deepEqual(p.get(main, 1), rec(1));
      assert.equal(p.get(main, 2), undefined);
      assert.equal(p.writes, 2);
      p.deleteWrite(main);
      assert.equal(p.get(main, 0), undefined);
      assert.equal(p.get(main, 1), undefined);
      assert.deepEqual(p.get(main + 1, 0), rec(2));
      assert.equal(p.writes, 1);
      p.deleteWrite(main + 1);
      assert.equal(p.writes, 0);
    });
  }

  it("a revision never set reads as undefined, and dropping it is a no-op", () => {
    const p = new PendingRecords();
    assert.equal(p.get(1, 0), undefined);
    p.deleteWrite(1);
    assert.equal(p.writes, 0);
  });
});
