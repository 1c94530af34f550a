import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createKeyIndex,
  type IndexEntry,
  type KeyIndex,
  type KeyRevisions,
  singleSlotLength,
} from "./key-index.js";

/** a: live at 2; b: deleted (tombstone at 3); c: live at 4.1; d: two revisions, 5 and 6. */
const loaded: Array<[string, KeyRevisions]> = [
  ["a", [2, 1, 2, 0]],
  ["b", [0, 0, 3, 1]],
  ["c", [4, 1, 4, 2]],
  ["d", [5, 2, 5, 0, 6, 0]],
];

/** The same index bulk-loaded with arrays, or with single-revision keys as table slots. */
function load(asSlots: boolean): KeyIndex {
  const index = createKeyIndex();
  const singles = new Float64Array(loaded.length * singleSlotLength);
  const entries: IndexEntry[] = loaded.map(([, e], i) => {
    if (!asSlots || e.length !== 4) return [...e];
    singles.set(e, i * singleSlotLength);
    return i;
  });
  index.load(
    loaded.map(([k]) => k),
    entries,
    singles,
  );
  return index;
}

function dump(index: KeyIndex) {
  const all: Array<[string, number[]]> = [];
  index.forEach((k, e) => {
    all.push([k, [...e]]);
  });
  const visible: string[] = [];
  for (const at of [1, 2, 3, 4, 5, 6, 7, 8]) {
    index.range("", null, at, (k, r) => {
      visible.push(`${at}:${k}@${r.main}.${r.sub}/${r.created}/${r.version}/${r.latest}`);
      return true;
    });
  }
  return { all, visible, size: index.size, live: index.live };
}

const steps: Array<{ name: string; run: (index: KeyIndex) => unknown }> = [
  { name: "nothing", run: () => undefined },
  {
    name: "latest and get",
    run: (i) => [i.latest("a"), i.latest("b"), i.get("c", 4), i.get("c", 3)],
  },
  { name: "put on a single-revision key", run: (i) => i.put("a", { main: 7, sub: 0 }) },
  { name: "put on a deleted key", run: (i) => i.put("b", { main: 7, sub: 0 }) },
  { name: "tombstone of a single-revision key", run: (i) => i.tombstone("c", { main: 7, sub: 0 }) },
  { name: "compact at 3 (drops b's tombstone)", run: (i) => i.compact(3) },
  { name: "compact at 6, then a put", run: (i) => [i.compact(6), i.put("c", { main: 7, sub: 1 })] },
];

describe("key index: single-revision keys loaded as table slots", () => {
  for (const step of steps) {
    it(`behave as arrays: ${step.name}`, () => {
      const slots = load(true);
      const arrays = load(false);
      assert.deepEqual(step.run(slots), step.run(arrays));
      assert.deepEqual(dump(slots), dump(arrays));
    });
  }
});

describe("key index: range bounds", () => {
  // Over `loaded` at revision 6 (b is deleted there): which keys a range
  // visits, and where a callback that returns false stops it.
  const cases: Array<{
    name: string;
    start: string;
    end: string | null;
    stopAt?: string;
    want: string[];
  }> = [
    { name: "[a, end of keys)", start: "a", end: null, want: ["a", "c", "d"] },
    { name: "[b, d): d left out, b deleted", start: "b", end: "d", want: ["c"] },
    { name: "[a, c) with a key between keys", start: "a", end: "bz", want: ["a"] },
    { name: "[c, end of keys) from a key inside", start: "c", end: null, want: ["c", "d"] },
    { name: "[e, end of keys): past the last key", start: "e", end: null, want: [] },
    { name: "[c, c): empty", start: "c", end: "c", want: [] },
    { name: "[d, a): end before start", start: "d", end: "a", want: [] },
    { name: "stopped at its first key", start: "a", end: null, stopAt: "a", want: ["a"] },
    { name: "stopped in the middle", start: "a", end: "e", stopAt: "c", want: ["a", "c"] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const seen: string[] = [];
      load(false).range(c.start, c.end, 6, (k) => {
        seen.push(k);
        return k !== c.stopAt;
      });
      assert.deepEqual(seen, c.want);
    });
  }

  it("an empty index has nothing to the end of keys", () => {
    const seen: string[] = [];
    createKeyIndex().range("", null, 1, (k) => {
      seen.push(k);
      return true;
    });
    assert.deepEqual(seen, []);
  });
});
