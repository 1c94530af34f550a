import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LeaseTable } from "./lease-table.js";

describe("LeaseTable", () => {
  it("keeps each lease's fields by slot, reusing freed slots", () => {
    const t = new LeaseTable();
    const rows = [
      { id: 1n, ttl: 10, deadline: 1000, graced: false },
      { id: 2n ** 62n, ttl: 9_000_000_000, deadline: 9e12, graced: true },
      { id: 77n, ttl: 2, deadline: 3, graced: false },
    ];
    const slots = rows.map((r) => t.add(r.id, r.ttl, r.deadline, r.graced));
    assert.deepEqual(slots, [0, 1, 2]);
    for (const [i, r] of rows.entries()) {
      const s = t.slot(r.id);
      assert.equal(s, i);
      assert.equal(t.id(s), r.id);
      assert.equal(t.ttl(s), r.ttl);
      assert.equal(t.deadline(s), r.deadline);
      assert.equal(t.graced(s), r.graced);
      assert.equal(t.revoking(s), false);
    }
    assert.throws(() => t.add(77n, 1, 1, false));
    t.remove(1);
    assert.equal(t.slot(2n ** 62n), -1);
    assert.equal(t.size, 2);
    assert.equal(t.add(5n, 4, 40, false), 1, "the freed slot");
    assert.equal(t.graced(1), false);
    assert.equal(t.keyCount(1), 0);
    assert.deepEqual([...t.allIds()].sort(), [1n, 5n, 77n]);
    // Many more than the initial arrays hold.
    for (let i = 0; i < 1000; i++) t.add(1000n + BigInt(i), i, i, i % 2 === 0);
    assert.equal(t.ttl(t.slot(1999n)), 999);
    assert.equal(t.graced(t.slot(1998n)), true);
    assert.equal(t.size, 1003);
  });

  it("hands out due leases earliest first, never early, each once", () => {
    const t = new LeaseTable();
    for (const [id, d] of [
      [1n, 300],
      [2n, 100],
      [3n, 200],
      [4n, 100],
    ] as const) {
      t.add(id, 1, d, false);
    }
    const due = (now: number) => {
      const out: bigint[] = [];
      for (let s = t.popDue(now); s >= 0; s = t.popDue(now)) out.push(t.id(s));
      return out;
    };
    assert.deepEqual(due(99), []);
    assert.deepEqual(
      due(100).sort((a, b) => Number(a - b)),
      [2n, 4n],
    );
    assert.deepEqual(due(100), [], "taken once");
    // A renewal moves a lease later; revoking takes it out; un-revoking brings it back.
    t.renew(t.slot(3n), 250);
    t.setRevoking(t.slot(1n), true);
    assert.deepEqual(due(240), []);
    assert.deepEqual(due(1000), [3n]);
    t.setRevoking(t.slot(1n), false);
    assert.deepEqual(due(299), []);
    assert.deepEqual(due(300), [1n]);
    // A popped lease whose revoke failed is put back the same way.
    t.setRevoking(t.slot(2n), false);
    assert.deepEqual(due(1000), [2n]);
    // A removed lease is never due.
    t.add(5n, 1, 10, false);
    t.remove(t.slot(5n));
    assert.deepEqual(due(1000), []);
  });

  it("marks renewed leases for persisting once, forgetting removed ones", () => {
    const t = new LeaseTable();
    const a = t.add(1n, 10, 0, true);
    const b = t.add(2n, 10, 0, false);
    assert.equal(t.hasDirty(), false);
    t.renew(a, 50);
    t.renew(a, 60);
    t.renew(b, 70);
    assert.equal(t.graced(a), false, "a renewal ends the restart grace");
    assert.equal(t.deadline(a), 60);
    assert.deepEqual(t.takeDirty(), [a, b]);
    assert.equal(t.hasDirty(), false);
    assert.deepEqual(t.takeDirty(), []);
    t.renew(b, 80);
    t.remove(b);
    const c = t.add(3n, 10, 0, false);
    assert.equal(c, b, "reused slot");
    assert.deepEqual(t.takeDirty(), [], "the removed lease's mark went with it");
    t.renew(c, 90);
    assert.deepEqual(t.takeDirty(), [c]);
  });

  const keyCases: Array<{ name: string; ops: Array<["+" | "-", string]>; want: string[] }> = [
    { name: "none", ops: [], want: [] },
    { name: "one", ops: [["+", "a"]], want: ["a"] },
    {
      name: "one, attached twice",
      ops: [
        ["+", "a"],
        ["+", "a"],
      ],
      want: ["a"],
    },
    {
      name: "several, sorted by bytes",
      ops: [
        ["+", "b"],
        ["+", "\u00ff"],
        ["+", "a"],
        ["+", "ab"],
      ],
      want: ["a", "ab", "b", "\u00ff"],
    },
    {
      name: "down to one, then none",
      ops: [
        ["+", "a"],
        ["+", "b"],
        ["-", "a"],
        ["-", "b"],
      ],
      want: [],
    },
    {
      name: "down to one, then more again",
      ops: [
        ["+", "a"],
        ["+", "b"],
        ["-", "b"],
        ["+", "c"],
      ],
      want: ["a", "c"],
    },
    {
      name: "detach a key not attached",
      ops: [
        ["-", "x"],
        ["+", "a"],
        ["-", "x"],
        ["+", "b"],
        ["-", "x"],
      ],
      want: ["a", "b"],
    },
  ];
  for (const c of keyCases) {
    it(`attached keys: ${c.name}`, () => {
      const t = new LeaseTable();
      const s = t.add(1n, 10, 0, false);
      const other = t.add(2n, 10, 0, false);
      t.attach(other, "other");
      for (const [op, k] of c.ops) {
        if (op === "+") t.attach(s, k);
        else t.detach(s, k);
      }
      assert.deepEqual(t.sortedKeys(s), c.want);
      assert.equal(t.keyCount(s), c.want.length);
      assert.deepEqual(t.sortedKeys(other), ["other"]);
      t.remove(s);
      assert.equal(t.add(3n, 1, 0, false), s);
      assert.deepEqual(t.sortedKeys(s), [], "a reused slot starts without keys");
    });
  }
});
