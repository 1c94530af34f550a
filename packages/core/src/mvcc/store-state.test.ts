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
      assert.equal(p.writeCount, 2);
      p.deleteWrite(main);
      assert.equal(p.get(main, 0), undefined);
      assert.equal(p.get(main, 1), undefined);
      assert.deepEqual(p.get(main + 1, 0), rec(2));
      assert.equal(p.writeCount, 1);
      p.deleteWrite(main + 1);
      assert.equal(p.writeCount, 0);
    });
  }

  it("a write older than the first staged one (revisions only grow; kept anyway) reads back", () => {
    const p = new PendingRecords();
    p.set(10, 0, rec(10));
    p.set(7, 0, rec(7));
    p.set(7, 1, rec(71));
    assert.deepEqual(p.get(7, 1), rec(71));
    assert.deepEqual(p.get(10, 0), rec(10));
    assert.equal(p.get(8, 0), undefined);
    assert.equal(p.writeCount, 2);
    p.deleteWrite(7);
    assert.equal(p.get(7, 0), undefined);
    assert.deepEqual(p.get(10, 0), rec(10));
    assert.equal(p.writeCount, 1);
  });

  it("a revision never set reads as undefined, and dropping it is a no-op", () => {
    const p = new PendingRecords();
    assert.equal(p.get(1, 0), undefined);
    p.deleteWrite(1);
    assert.equal(p.writeCount, 0);
  });

  for (const seed of [1, 5, 9]) {
    it(`answers as a Map of "main:sub" does, writes dropped out of order too (seed ${seed})`, () => {
      let a = seed;
      const next = () => {
        a = (a * 1103515245 + 12345) % 2 ** 31;
        return a / 2 ** 31;
      };
      const ours = new PendingRecords();
      const model = new Map<string, StoredRecord>();
      const live = new Set<number>();
      let rev = 100;
      for (let i = 0; i < 4000; i++) {
        const op = next();
        if (op < 0.4) {
          rev += next() < 0.1 ? 3 : 1;
          const subs = 1 + Math.floor(next() * 3);
          for (let sub = 0; sub < subs; sub++) {
            ours.set(rev, sub, rec(i * 10 + sub));
            model.set(`${rev}:${sub}`, rec(i * 10 + sub));
          }
          live.add(rev);
        } else if (op < 0.8 && live.size > 0) {
          // Mostly the oldest, sometimes another.
          const revs = [...live].sort((x, y) => x - y);
          const main =
            next() < 0.8 ? (revs[0] as number) : (revs[Math.floor(next() * revs.length)] as number);
          ours.deleteWrite(main);
          for (const k of [...model.keys()]) if (k.startsWith(`${main}:`)) model.delete(k);
          live.delete(main);
        } else {
          const main = rev - Math.floor(next() * 20);
          const sub = Math.floor(next() * 3);
          assert.deepEqual(ours.get(main, sub), model.get(`${main}:${sub}`));
        }
        assert.equal(ours.writeCount, live.size);
      }
    });
  }
});
