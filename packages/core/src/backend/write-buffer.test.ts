import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bytesToKeyString } from "../mvcc/key-string.js";
import { b, s } from "../test-util.js";
import type { BackendEntry, BackendOp } from "./backend.js";
import { decodeOps, encodeOps, overlayRange, WriteBuffer } from "./write-buffer.js";

const put = (key: string, value: string): BackendOp => ({
  bucket: "key",
  key: b(key),
  value: b(value),
});
const del = (key: string): BackendOp => ({ bucket: "key", key: b(key), value: undefined });
const stored = (...kv: [string, string][]): BackendEntry[] =>
  kv.map(([k, v]) => ({ key: b(k), value: b(v) }));
const text = (it: Iterable<BackendEntry>) => [...it].map((e) => `${s(e.key)}=${s(e.value)}`);

function generation(seq: number, ...ops: BackendOp[]): WriteBuffer {
  const g = new WriteBuffer();
  g.add(ops, seq);
  return g;
}

describe("write buffer", () => {
  const table: {
    name: string;
    generations: WriteBuffer[];
    stored: BackendEntry[];
    start?: string;
    end?: string;
    want: string[];
  }[] = [
    {
      name: "nothing buffered: the store's entries as they are",
      generations: [new WriteBuffer()],
      stored: stored(["a", "1"], ["c", "3"]),
      want: ["a=1", "c=3"],
    },
    {
      name: "a buffered value replaces the stored one; new keys fall in order",
      generations: [generation(1, put("c", "33"), put("b", "2"), put("d", "4"))],
      stored: stored(["a", "1"], ["c", "3"]),
      want: ["a=1", "b=2", "c=33", "d=4"],
    },
    {
      name: "a buffered delete hides the stored key and a buffered one",
      generations: [generation(1, put("b", "2")), generation(2, del("a"), del("b"))],
      stored: stored(["a", "1"], ["c", "3"]),
      want: ["c=3"],
    },
    {
      name: "the newer generation wins",
      generations: [generation(1, put("a", "old")), generation(2, put("a", "new"))],
      stored: stored(["a", "1"]),
      want: ["a=new"],
    },
    {
      name: "buffered keys outside [start, end) stay out",
      generations: [generation(1, put("a", "x"), put("b", "2"), put("e", "5"))],
      stored: stored(["c", "3"]),
      start: "b",
      end: "e",
      want: ["b=2", "c=3"],
    },
    {
      name: "other buckets do not show",
      generations: [generation(1, { bucket: "lease", key: b("b"), value: b("L") })],
      stored: stored(["a", "1"]),
      want: ["a=1"],
    },
  ];
  for (const t of table) {
    it(t.name, () => {
      const start = t.start === undefined ? undefined : b(t.start);
      const end = t.end === undefined ? undefined : b(t.end);
      assert.deepEqual(text(overlayRange(t.generations, "key", start, end, t.stored)), t.want);
    });
  }

  it("orders keys bytewise (0xff after 0x7f), and sees writes added after a range", () => {
    const g = generation(1, { bucket: "key", key: new Uint8Array([0xff]), value: b("hi") });
    g.add([{ bucket: "key", key: new Uint8Array([0x7f]), value: b("lo") }], 2);
    const firstBytes = () =>
      [...overlayRange([g], "key", undefined, undefined, [])].map((e) => e.key[0]);
    assert.deepEqual(firstBytes(), [0x7f, 0xff]);
    g.add([put("a", "1")], 3);
    assert.deepEqual(firstBytes(), [0x61, 0x7f, 0xff]);
  });

  // The order a generation keeps as writes come (appended, overwritten in
  // place, or dropped by a write out of order) against a plain model: every
  // range after every commit must list what sorting the latest values lists.
  const orderCases = [
    { name: "keys in ascending order, as revisions come", keys: (i: number) => [i * 2] },
    { name: "a key written again after a range", keys: (i: number) => [i, i === 0 ? 0 : i - 1] },
    {
      name: "keys out of order and repeated",
      keys: (i: number) => [(i * 7919) % 23, (i * 31) % 5],
    },
  ];
  for (const c of orderCases) {
    it(`keeps a generation's key order: ${c.name}`, () => {
      const g = new WriteBuffer();
      const model = new Map<string, string | undefined>();
      const key = (n: number) => b(`k${String(n).padStart(3, "0")}`);
      for (let i = 0; i < 40; i++) {
        const ops = c
          .keys(i)
          .map((n, j) => ((i + j) % 5 === 4 ? del(s(key(n))) : put(s(key(n)), `v${i}.${j}`)));
        g.add(ops, i + 1);
        for (const op of ops)
          model.set(s(op.key), op.value === undefined ? undefined : s(op.value));
        const want = [...model]
          .filter(([, v]) => v !== undefined)
          .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
          .map(([k, v]) => `${k}=${v}`);
        assert.deepEqual(
          text(overlayRange([g], "key", undefined, undefined, [])),
          want,
          `after commit ${i + 1}`,
        );
        const from = key(i % 17);
        assert.deepEqual(
          text(overlayRange([g], "key", from, undefined, [])),
          want.filter((w) => (w.split("=")[0] as string) >= s(from)),
          `from ${s(from)} after commit ${i + 1}`,
        );
      }
    });
  }

  it("answers a point read: a value, a delete (undefined), or not buffered (null)", () => {
    const g = generation(3, put("a", "1"), del("b"));
    const k = (t: string) => bytesToKeyString(b(t));
    assert.equal(s(g.get("key", k("a")) as Uint8Array), "1");
    assert.equal(g.get("key", k("b")), undefined);
    assert.equal(g.get("key", k("c")), null);
    assert.equal(g.get("lease", k("a")), null);
    assert.equal(g.lastSeq, 3);
    assert.equal(g.size, 2);
  });

  it("encodes a commit's writes for the log and decodes them back", () => {
    const ops = [put("k", "v"), del("gone"), { bucket: "authUsers", key: b(""), value: b("") }];
    const back = decodeOps(encodeOps(ops));
    assert.deepEqual(
      back.map((o) => [o.bucket, s(o.key), o.value === undefined ? null : s(o.value)]),
      [
        ["key", "k", "v"],
        ["key", "gone", null],
        ["authUsers", "", ""],
      ],
    );
    assert.throws(() => decodeOps(encodeOps(ops).subarray(0, 12)), /malformed|out of range/i);
  });
});
