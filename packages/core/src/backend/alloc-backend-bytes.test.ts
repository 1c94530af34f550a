import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { allocBackendBytes } from "./alloc-backend-bytes.js";

describe("allocBackendBytes", () => {
  it("hands out zeroed arrays of the length asked that never overlap", () => {
    const lengths = [0, 1, 8, 16, 300, 4096, 4097, 70_000];
    const got: Uint8Array[] = [];
    // Enough rounds to cross several slabs.
    for (let round = 0; round < 60; round++) {
      for (const n of lengths) {
        const b = allocBackendBytes(n);
        assert.equal(b.length, n);
        assert.ok(
          b.every((x) => x === 0),
          `zeroed (${n} bytes, round ${round})`,
        );
        b.fill(round + 1);
        got.push(b);
      }
    }
    // Every array still holds what was written to it: no later one shared its bytes.
    let i = 0;
    for (let round = 0; round < 60; round++) {
      for (const n of lengths) {
        const b = got[i++] as Uint8Array;
        assert.ok(
          b.every((x) => x === round + 1),
          `kept (${n} bytes, round ${round})`,
        );
      }
    }
  });
});
