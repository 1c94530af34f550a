import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IndexedSet } from "./indexed-set.js";

/** A small deterministic generator (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sorted = <T>(xs: Iterable<T>, key: (x: T) => number) =>
  [...xs].sort((a, b) => key(a) - key(b));

describe("IndexedSet", () => {
  for (const seed of [1, 2, 3, 42]) {
    it(`answers as a Set does over 5,000 random operations (seed ${seed})`, () => {
      const next = random(seed);
      const objects = Array.from({ length: 64 }, (_, id) => ({ id }));
      const ours = new IndexedSet<{ id: number }>();
      const model = new Set<{ id: number }>();
      for (let i = 0; i < 5000; i++) {
        const o = objects[Math.floor(next() * objects.length)] as { id: number };
        const op = next();
        if (op < 0.45) {
          ours.add(o);
          model.add(o);
        } else if (op < 0.9) {
          assert.equal(ours.delete(o), model.delete(o));
        } else if (op < 0.99) {
          assert.equal(ours.has(o), model.has(o));
        } else {
          ours.clear();
          model.clear();
        }
        assert.equal(ours.size, model.size);
      }
      assert.deepEqual(
        sorted(ours, (o) => o.id),
        sorted(model, (o) => o.id),
      );
    });
  }

  it("visits each member once in place, as iteration lists them", () => {
    const objects = Array.from({ length: 10 }, (_, id) => ({ id }));
    const set = new IndexedSet<{ id: number }>();
    for (const o of objects) set.add(o);
    for (const o of objects.slice(0, 4)) set.delete(o);
    const seen: { id: number }[] = [];
    set.forEach((o) => {
      seen.push(o);
    });
    assert.deepEqual(seen, [...set]);
    assert.deepEqual(
      sorted(seen, (o) => o.id).map((o) => o.id),
      [4, 5, 6, 7, 8, 9],
    );
  });

  const cases: Record<string, (s: IndexedSet<object>, a: object, b: object) => void> = {
    "adding twice keeps one": (s, a) => {
      s.add(a);
      s.add(a);
      assert.equal(s.size, 1);
    },
    "deleting a non-member is false and changes nothing": (s, a, b) => {
      s.add(a);
      assert.equal(s.delete(b), false);
      assert.deepEqual([...s], [a]);
    },
    "deleting the first moves the last into its place": (s, a, b) => {
      s.add(a);
      s.add(b);
      assert.equal(s.delete(a), true);
      assert.equal(s.has(a), false);
      assert.equal(s.has(b), true);
      assert.equal(s.delete(b), true);
      assert.equal(s.size, 0);
    },
    "an object can be in two sets": (s, a) => {
      const other = new IndexedSet<object>();
      s.add(a);
      other.add(a);
      other.delete(a);
      assert.equal(s.has(a), true);
      assert.equal(other.has(a), false);
    },
    "the snapshot does not change with the set": (s, a, b) => {
      s.add(a);
      s.add(b);
      const snap = s.snapshot();
      s.clear();
      assert.equal(snap.length, 2);
      assert.equal(s.size, 0);
      assert.equal(s.has(a), false);
    },
    "iterating while deleting visits every member once": (s, a, b) => {
      s.add(a);
      s.add(b);
      const seen: object[] = [];
      for (const x of s) {
        seen.push(x);
        s.delete(x);
      }
      assert.equal(seen.length, 2);
      assert.equal(s.size, 0);
    },
    "functions are objects too": (s) => {
      const f = () => {};
      s.add(f);
      assert.equal(s.has(f), true);
      assert.equal(s.delete(f), true);
    },
  };
  for (const [name, run] of Object.entries(cases)) {
    it(name, () => run(new IndexedSet<object>(), { a: 1 }, { b: 2 }));
  }
});
