import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bytesToRevision, revisionToBytes, writeInt64BE } from "./revision.js";
import { decodeMetaNumber, encodeMetaNumber } from "./store-meta.js";

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
      assert.deepEqual(encodeMetaNumber(n), viaDataView(n));
      assert.equal(decodeMetaNumber(encodeMetaNumber(n)), n);
    });
  }

  it("keeps revision order as byte order, and round-trips", () => {
    const revs = [
      [0, 0],
      [1, 0],
      [1, 1],
      [255, 2 ** 32],
      [2 ** 32 - 1, 0],
      [2 ** 32, 0],
      [2 ** 40 + 3, 7],
    ] as const;
    const encoded = revs.map(([main, sub]) => revisionToBytes(main, sub));
    for (let i = 0; i < revs.length; i++) {
      const [main, sub] = revs[i] as readonly [number, number];
      assert.deepEqual(bytesToRevision(encoded[i] as Uint8Array), { main, sub });
      if (i > 0) {
        assert.equal(
          Buffer.compare(encoded[i - 1] as Uint8Array, encoded[i] as Uint8Array),
          -1,
          `${revs[i - 1]} < ${revs[i]}`,
        );
      }
    }
  });
});
