import assert from "node:assert/strict";
import { test } from "node:test";
import { prefixEnd } from "./prefix-end.js";

const bytes = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));

test("prefixEnd follows etcd's GetPrefixRangeEnd", () => {
  assert.deepEqual(prefixEnd(bytes("a/")), bytes("a0"));
  assert.deepEqual(prefixEnd(new Uint8Array([0x61, 0xff])), bytes("b"));
  assert.deepEqual(prefixEnd(new Uint8Array([0xff])), new Uint8Array([0]));
  assert.deepEqual(prefixEnd(new Uint8Array()), new Uint8Array([0]));
});

test("prefixEnd leaves its argument alone, a Buffer too (whose slice() is a view)", () => {
  for (const p of [new Uint8Array([0x61, 0x62]), Buffer.from("ab")]) {
    assert.deepEqual(prefixEnd(p), bytes("ac"));
    assert.deepEqual([...p], [0x61, 0x62]);
  }
});
