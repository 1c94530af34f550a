import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeInt64, encodeInt64, writeInt64BE } from "./int64-bytes.js";

/** What DataView writes for `n`: the encoding the stored data has always had. */
function viaDataView(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, BigInt(n));
  return b;
}

describe("64-bit big-endian encoding", () => {
  const values = [
    0,
    1,
    255,
    256,
    2 ** 31 - 1,
    2 ** 31,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 32 + 1,
    1234567890123,
    Number.MAX_SAFE_INTEGER,
    -1,
    -256,
    -(2 ** 32),
    -(2 ** 32) - 1,
    Number.MIN_SAFE_INTEGER,
  ];
  for (const n of values) {
    it(`writes ${n} as DataView's setBigInt64 does`, () => {
      const b = new Uint8Array(10).fill(0xaa);
      writeInt64BE(b, 1, n);
      assert.deepEqual(b.subarray(1, 9), viaDataView(n));
      assert.equal(b[0], 0xaa, "nothing before");
      assert.equal(b[9], 0xaa, "nothing after");
      assert.deepEqual(encodeInt64(n), viaDataView(n));
      assert.equal(decodeInt64(encodeInt64(n)), n);
    });
  }

  it("decodes nothing from a value that is absent or not 8 bytes", () => {
    assert.equal(decodeInt64(undefined), undefined);
    assert.equal(decodeInt64(new Uint8Array(7)), undefined);
  });
});
