import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type BboltBucket, openBbolt } from "./bbolt-reader.js";
import { createBboltWriter } from "./bbolt-writer.js";
import { PageFlags } from "./page-format.js";
import { bufferPageSource, createMemorySink } from "./page-source.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A bucket tree to write: a Map of key → value bytes, or → nested tree. */
type Tree = Map<string, Uint8Array | Tree>;

function write(tree: Tree, pageSize = 4096): Uint8Array {
  const sink = createMemorySink();
  const w = createBboltWriter({ sink, pageSize });
  const put = (t: Tree) => {
    for (const [k, v] of [...t].sort(([a], [b]) => Buffer.compare(enc.encode(a), enc.encode(b)))) {
      if (v instanceof Map) {
        w.beginBucket(enc.encode(k));
        put(v);
        w.endBucket();
      } else {
        w.put(enc.encode(k), v);
      }
    }
  };
  put(tree);
  const info = w.finish();
  const bytes = sink.bytes();
  assert.equal(bytes.length, info.size);
  assert.equal(info.size % pageSize, 0);
  return bytes;
}

function read(b: BboltBucket): Tree {
  const t: Tree = new Map();
  for (const e of b.entries()) t.set(dec.decode(e.key), e.bucket ? read(e.bucket) : e.value);
  return t;
}

const big = (n: number, seed: number) =>
  Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const many = (n: number, value: (i: number) => Uint8Array): Tree =>
  new Map(Array.from({ length: n }, (_, i) => [`key-${String(i).padStart(7, "0")}`, value(i)]));

const cases: Array<{ name: string; tree: Tree; pageSize?: number }> = [
  { name: "no buckets", tree: new Map() },
  { name: "an empty bucket", tree: new Map([["empty", new Map()]]) },
  {
    name: "small buckets stored inline",
    tree: new Map<string, Tree>([
      ["a", new Map([["x", enc.encode("1")]])],
      ["b", new Map([["y", new Uint8Array(0)]])],
    ]),
  },
  {
    name: "a value larger than a page (overflow)",
    tree: new Map([["big", new Map([["v", big(20_000, 1)]])]]),
  },
  {
    name: "several overflow values between small ones",
    tree: new Map([
      [
        "b",
        new Map([
          ["a", enc.encode("s")],
          ["b", big(9000, 2)],
          ["c", enc.encode("t")],
          ["d", big(70_000, 3)],
        ]),
      ],
    ]),
  },
  {
    name: "many keys (multi-level branches)",
    tree: new Map([["key", many(60_000, (i) => enc.encode(`v${i}`))]]),
  },
  {
    name: "many keys, 1 KiB page",
    pageSize: 1024,
    tree: new Map([["k", many(5_000, (i) => big(i % 300, i))]]),
  },
  {
    name: "nested buckets and keys sharing a bucket",
    tree: new Map([
      [
        "outer",
        new Map<string, Uint8Array | Tree>([
          ["a", enc.encode("plain")],
          ["inner", new Map([["deep", new Map([["z", enc.encode("zz")]])]])],
          ["large", many(2000, (i) => enc.encode(`x${i}`))],
          ["z", enc.encode("last")],
        ]),
      ],
      ["second", new Map()],
    ]),
  },
  {
    name: "many buckets in the root",
    tree: new Map(
      Array.from({ length: 600 }, (_, i) => [`b${i}`, many(3, (j) => enc.encode(`${i}/${j}`))]),
    ),
  },
];

describe("bbolt writer and reader", () => {
  for (const c of cases) {
    it(`round-trips ${c.name}`, () => {
      const bytes = write(c.tree, c.pageSize);
      const r = openBbolt(bufferPageSource(bytes));
      assert.equal(r.pageSize, c.pageSize ?? 4096);
      assert.deepEqual(read(r), c.tree);
    });
  }

  it("finds keys with get and bucket", () => {
    const tree: Tree = new Map([
      ["key", many(20_000, (i) => enc.encode(`v${i}`))],
      ["meta", new Map([["m", enc.encode("1")]])],
    ]);
    const r = openBbolt(bufferPageSource(write(tree)));
    const key = r.bucket("key");
    assert.ok(key);
    for (const i of [0, 1, 777, 12_345, 19_999]) {
      assert.equal(dec.decode(key.get(enc.encode(`key-${String(i).padStart(7, "0")}`))), `v${i}`);
    }
    assert.equal(key.get(enc.encode("key-")), undefined);
    assert.equal(key.get(enc.encode("zzz")), undefined);
    assert.equal(r.bucket("meta")?.get(enc.encode("m"))?.[0], "1".charCodeAt(0));
    assert.equal(r.bucket("nope"), undefined);
    assert.equal(r.get(enc.encode("key")), undefined, "a bucket's name has no plain value");
  });

  it("writes two valid metas naming an empty freelist and every page reachable", () => {
    const bytes = write(new Map([["key", many(5000, (i) => big(i % 50, i))]]));
    const v = new DataView(bytes.buffer, bytes.byteOffset);
    for (const pgid of [0, 1]) {
      assert.equal(v.getUint16(pgid * 4096 + 8, true), PageFlags.meta);
      assert.equal(v.getUint32(pgid * 4096 + 16, true), 0xed0cdaed);
    }
    assert.equal(v.getUint16(2 * 4096 + 8, true), PageFlags.freelist);
    assert.equal(v.getUint16(2 * 4096 + 10, true), 0);
    const r = openBbolt(bufferPageSource(bytes));
    assert.equal(r.txid, 1n);
    assert.equal(r.freelist, 2);
    assert.equal(r.pages * 4096, bytes.length);
  });

  it("falls back to the other meta when one is torn, and refuses a file with none", () => {
    const bytes = write(new Map([["b", new Map([["k", enc.encode("v")]])]])).slice();
    const flip = (at: number) => bytes.set([(bytes[at] as number) ^ 0xff], at);
    flip(4096 + 16 + 20); // meta 1's root: checksum no longer matches
    const r = openBbolt(bufferPageSource(bytes));
    assert.equal(r.txid, 0n);
    assert.deepEqual(read(r).get("b"), new Map([["k", enc.encode("v")]]));
    flip(16 + 20);
    assert.throws(() => openBbolt(bufferPageSource(bytes)), /invalid database/);
  });

  it("refuses keys out of order", () => {
    const w = createBboltWriter({ sink: createMemorySink() });
    w.beginBucket(enc.encode("b"));
    w.put(enc.encode("2"), new Uint8Array(0));
    assert.throws(() => w.put(enc.encode("1"), new Uint8Array(0)), /ascending/);
    assert.throws(() => w.put(enc.encode("2"), new Uint8Array(0)), /ascending/);
  });

  // bbolt itself, when etcdctl is installed: `snapshot status` opens the file
  // with bbolt, runs its consistency check (every page reachable or free,
  // none twice) and walks every bucket.
  it("passes bbolt's own check (etcdctl snapshot status)", (t) => {
    try {
      execFileSync("etcdctl", ["version"], { stdio: "ignore" });
    } catch {
      t.skip("etcdctl not installed");
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), "bbolt-test-"));
    try {
      const tree: Tree = new Map<string, Uint8Array | Tree>([
        ["big", new Map([["v", big(50_000, 9)]])],
        ["empty", new Map()],
        ["many", many(30_000, (i) => big(i % 100, i))],
        ["small", new Map([["x", enc.encode("1")]])],
      ]);
      const file = join(dir, "db");
      writeFileSync(file, write(tree));
      const out = execFileSync("etcdctl", ["snapshot", "status", file, "-w", "json"], {
        encoding: "utf8",
      });
      const status = JSON.parse(out) as { totalKey: number; totalSize: number };
      assert.equal(status.totalKey, 30_002);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
