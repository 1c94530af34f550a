import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bytesToRevision, revisionToBytes } from "./revision.js";

describe("revision keys", () => {
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
