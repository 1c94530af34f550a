import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DeadlineHeap } from "./deadline-heap.js";

type Op =
  | { set: [item: number, deadline: number] }
  | { delete: number; was: boolean }
  | { pop: number }
  | { peek: number; deadline: number };

/** Runs ops on a heap, checking each answer, then pops the rest in deadline order. */
function run(ops: Op[], rest: number[]) {
  const h = new DeadlineHeap(2);
  for (const op of ops) {
    if ("set" in op) h.set(...op.set);
    else if ("delete" in op) assert.equal(h.delete(op.delete), op.was, `delete ${op.delete}`);
    else if ("pop" in op) assert.equal(h.pop(), op.pop);
    else {
      assert.equal(h.peek(), op.peek);
      assert.equal(h.peekDeadline(), op.deadline);
    }
  }
  assert.equal(h.size, rest.length);
  const out: number[] = [];
  while (h.size > 0) out.push(h.pop());
  assert.deepEqual(out, rest);
  assert.equal(h.pop(), -1);
  assert.equal(h.peekDeadline(), Number.POSITIVE_INFINITY);
}

describe("DeadlineHeap", () => {
  const cases: Array<{ name: string; ops: Op[]; rest: number[] }> = [
    { name: "empty", ops: [{ peek: -1, deadline: Number.POSITIVE_INFINITY }], rest: [] },
    {
      name: "orders by deadline, not by item",
      ops: [{ set: [0, 30] }, { set: [1, 10] }, { set: [2, 20] }, { peek: 1, deadline: 10 }],
      rest: [1, 2, 0],
    },
    {
      name: "grows past its capacity, items far apart",
      ops: [{ set: [100, 5] }, { set: [7, 3] }, { set: [40, 4] }],
      rest: [7, 40, 100],
    },
    {
      name: "set again moves an item later (a renewal)",
      ops: [{ set: [0, 10] }, { set: [1, 20] }, { set: [0, 30] }, { peek: 1, deadline: 20 }],
      rest: [1, 0],
    },
    {
      name: "set again moves an item earlier",
      ops: [{ set: [0, 10] }, { set: [1, 20] }, { set: [2, 30] }, { set: [2, 5] }],
      rest: [2, 0, 1],
    },
    {
      name: "set to the same deadline changes nothing",
      ops: [{ set: [0, 10] }, { set: [1, 20] }, { set: [1, 20] }],
      rest: [0, 1],
    },
    {
      name: "delete the top, a middle item, the last item, an absent one",
      ops: [
        { set: [0, 1] },
        { set: [1, 2] },
        { set: [2, 3] },
        { set: [3, 4] },
        { set: [4, 5] },
        { delete: 0, was: true },
        { delete: 2, was: true },
        { delete: 4, was: true },
        { delete: 4, was: false },
        { delete: 99, was: false },
      ],
      rest: [1, 3],
    },
    {
      name: "a deleted item can come back",
      ops: [{ set: [0, 1] }, { delete: 0, was: true }, { set: [0, 9] }, { set: [1, 5] }],
      rest: [1, 0],
    },
    {
      name: "moved last item sifts up after a delete",
      // Heap [1:10, 2:50, 3:20, 4:60, 5:70, 6:25]; deleting 4 moves 6 (25) under 2 (50).
      ops: [
        { set: [1, 10] },
        { set: [2, 50] },
        { set: [3, 20] },
        { set: [4, 60] },
        { set: [5, 70] },
        { set: [6, 25] },
        { delete: 4, was: true },
        { pop: 1 },
        { peek: 3, deadline: 20 },
      ],
      rest: [3, 6, 2, 5],
    },
    {
      name: "pop takes the earliest each time",
      ops: [{ set: [3, 3] }, { set: [1, 1] }, { set: [2, 2] }, { pop: 1 }, { pop: 2 }],
      rest: [3],
    },
  ];
  for (const c of cases) it(c.name, () => run(c.ops, c.rest));

  it("refuses items that are not slot numbers", () => {
    const h = new DeadlineHeap();
    for (const bad of [-1, 1.5, Number.NaN]) assert.throws(() => h.set(bad, 1), RangeError);
  });

  it("matches a sorted list over random operations", () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const h = new DeadlineHeap();
    const model = new Map<number, number>();
    for (let i = 0; i < 20_000; i++) {
      const item = rand(300);
      const r = rand(10);
      if (r < 6) {
        const d = rand(1000);
        h.set(item, d);
        model.set(item, d);
      } else if (r < 8) {
        assert.equal(h.delete(item), model.delete(item));
      } else {
        const top = h.pop();
        if (model.size === 0) assert.equal(top, -1);
        else {
          const least = Math.min(...model.values());
          assert.equal(model.get(top), least);
          model.delete(top);
        }
      }
      assert.equal(h.size, model.size);
      assert.equal(h.deadline(item), model.get(item));
    }
  });
});
