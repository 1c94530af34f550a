import assert from "node:assert/strict";
import { test } from "node:test";
import { toRangeEnd, toWatchRange } from "./range-end.js";

test("toRangeEnd: empty is one key, \\0 is to the end, else the exclusive end", () => {
  assert.equal(toRangeEnd(new Uint8Array()), undefined);
  assert.equal(toRangeEnd(new Uint8Array([0])), "infinity");
  const end = new Uint8Array([0x62]);
  assert.equal(toRangeEnd(end), end);
  assert.deepEqual(toRangeEnd(new Uint8Array([0, 0])), new Uint8Array([0, 0]));
});

test("toWatchRange: an empty key is \\0", () => {
  assert.deepEqual(toWatchRange(new Uint8Array(), new Uint8Array([0])), {
    key: new Uint8Array([0]),
    end: "infinity",
  });
  const key = new Uint8Array([0x61]);
  assert.deepEqual(toWatchRange(key, new Uint8Array()), { key, end: undefined });
});
