import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IdMap } from "./id-map.js";

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("IdMap", () => {
  // Each case: how ids are chosen, and how many stay open at most. The
  // table must answer as a Map does after every step.
  const cases = [
    { name: "HTTP/2 stream ids, one open at a time", nextId: (n: number) => 2 * n + 1, open: 1 },
    { name: "HTTP/2 stream ids, up to 100 open", nextId: (n: number) => 2 * n + 1, open: 100 },
    {
      name: "ids that share home slots (multiples of 2^20)",
      nextId: (n: number) => ((n % 2000) + 1) * 2 ** 20 - 1,
      open: 40,
    },
    {
      name: "random ids up to 2^31 − 1",
      nextId: (() => {
        const r = random(7);
        return () => 1 + Math.floor(r() * 0x7fff_fffe);
      })(),
      open: 300,
    },
  ];
  for (const c of cases) {
    it(`answers as a Map does: ${c.name}`, () => {
      const r = random(42);
      const ours = new IdMap<{ id: number }>();
      const model = new Map<number, { id: number }>();
      let n = 0;
      for (let step = 0; step < 20_000; step++) {
        if (model.size < c.open && (model.size === 0 || r() < 0.55)) {
          const id = c.nextId(n++);
          const v = { id };
          ours.set(id, v);
          model.set(id, v);
        } else {
          // Delete an open one (or, now and then, one that is not there).
          const keys = [...model.keys()];
          const id =
            r() < 0.05 ? c.nextId(n + 1_000_003) : (keys[Math.floor(r() * keys.length)] as number);
          assert.equal(ours.delete(id), model.delete(id), `delete ${id} at step ${step}`);
        }
        assert.equal(ours.size, model.size);
        if (step % 97 === 0) {
          for (const [id, v] of model) assert.equal(ours.get(id), v, `get ${id} at step ${step}`);
          const got = ours
            .valuesSnapshot()
            .map((v) => v.id)
            .sort((a, b) => a - b);
          assert.deepEqual(
            got,
            [...model.keys()].sort((a, b) => a - b),
          );
        }
      }
      for (const [id, v] of model) {
        assert.equal(ours.get(id), v);
        assert.ok(ours.has(id));
      }
    });
  }

  it("replaces the value of an id it has", () => {
    const t = new IdMap<string>();
    t.set(3, "a").set(3, "b");
    assert.equal(t.size, 1);
    assert.equal(t.get(3), "b");
  });

  it("refuses ids that are not positive 31-bit integers", () => {
    const t = new IdMap<string>();
    for (const id of [0, -1, 2 ** 31, 1.5, Number.NaN]) {
      assert.throws(() => t.set(id, "x"), RangeError, String(id));
    }
    assert.equal(t.get(0), undefined);
  });

  it("clears, and works on after", () => {
    const t = new IdMap<number>(4);
    for (let i = 1; i <= 50; i++) t.set(i, i);
    t.clear();
    assert.equal(t.size, 0);
    assert.equal(t.get(7), undefined);
    t.set(7, 70);
    assert.equal(t.get(7), 70);
    assert.deepEqual(t.valuesSnapshot(), [70]);
  });
});
