import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IdTable } from "./id-table.js";
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

describe("IdTable", () => {
  for (const seed of [1, 7, 99]) {
    it(`answers as a Map does over 5,000 random operations (seed ${seed})`, () => {
      const next = random(seed);
      const ours = new IdTable<{ v: number }>();
      const model = new Map<number, { v: number }>();
      for (let i = 0; i < 5000; i++) {
        // Odd ids spread as HTTP/2 client streams are, with some repeats.
        const id = 2 * Math.floor(next() * 200) + 1 + (next() < 0.1 ? 2 ** 30 : 0);
        const op = next();
        if (op < 0.45) {
          const v = { v: i };
          ours.set(id, v);
          model.set(id, v);
        } else if (op < 0.9) {
          assert.equal(ours.delete(id), model.delete(id));
        } else if (op < 0.995) {
          assert.equal(ours.get(id), model.get(id));
          assert.equal(ours.has(id), model.has(id));
        } else {
          ours.clear();
          model.clear();
        }
        assert.equal(ours.size, model.size);
      }
      const byId = [...model].sort((x, y) => x[0] - y[0]).map(([, v]) => v);
      assert.deepEqual(ours.values(), byId);
    });
  }

  it("values() is a copy: deleting while walking it is safe", () => {
    const t = new IdTable<string>();
    for (const id of [1, 3, 5, 2 ** 31 - 1]) t.set(id, `s${id}`);
    for (const v of t.values()) t.delete(Number(v.slice(1)));
    assert.equal(t.size, 0);
    assert.deepEqual(t.values(), []);
  });

  it("keys of 0 and the largest stream id work", () => {
    const t = new IdTable<string>();
    t.set(0, "zero");
    t.set(2 ** 31 - 1, "max");
    assert.equal(t.get(0), "zero");
    assert.equal(t.get(2 ** 31 - 1), "max");
    assert.equal(t.get(1), undefined);
    assert.equal(t.size, 2);
  });
});
