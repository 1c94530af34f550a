import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { describe, it } from "node:test";
import { bytesToKeyString, keyStringToBytes } from "./key-string.js";

const every = new Uint8Array(256).map((_, i) => i);
const backing = new Uint8Array([9, 9, 0x66, 0x6f, 0x6f, 0xff, 9]);

const cases: Record<string, Uint8Array> = {
  empty: new Uint8Array(0),
  "every byte value": every,
  "a view into a larger buffer": backing.subarray(2, 6),
  "a Buffer from the pool": Buffer.from("bench/key/42"),
  "a view at an offset of its own ArrayBuffer": new Uint8Array(every.buffer, 250, 6),
};

describe("bytesToKeyString", () => {
  for (const [name, bytes] of Object.entries(cases)) {
    it(`${name}: one code unit per byte, and back`, () => {
      const s = bytesToKeyString(bytes);
      assert.equal(s.length, bytes.byteLength);
      assert.equal(s, Buffer.from(bytes).toString("latin1"));
      for (let i = 0; i < bytes.byteLength; i++) assert.equal(s.charCodeAt(i), bytes[i]);
      assert.deepEqual(keyStringToBytes(s), new Uint8Array(bytes));
    });
  }

  it("orders keys bytewise", () => {
    const keys = [[0x61], [0x61, 0], [0x80], [0x7f, 0xff], []].map((k) => new Uint8Array(k));
    const sorted = [...keys].sort((a, b) => Buffer.compare(a, b)).map(bytesToKeyString);
    assert.deepEqual(keys.map(bytesToKeyString).sort(), sorted);
  });
});
