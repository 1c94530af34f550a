import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createBackoff } from "./backoff.js";

describe("createBackoff", () => {
  it("doubles from the initial delay up to the cap, each delay in the upper half of its step", () => {
    const low = createBackoff({ initialMs: 100, maxMs: 1000 }, () => 0);
    const high = createBackoff({ initialMs: 100, maxMs: 1000 }, () => 0.999999);
    const lows = Array.from({ length: 6 }, () => low.next());
    const highs = Array.from({ length: 6 }, () => Math.round(high.next()));
    assert.deepEqual(lows, [50, 100, 200, 400, 500, 500]);
    assert.deepEqual(highs, [100, 200, 400, 800, 1000, 1000]);
    assert.equal(low.attempts, 6);
  });

  it("reset() starts over; defaults are 200 ms to 15 s", () => {
    const b = createBackoff({}, () => 1);
    for (let i = 0; i < 20; i++) b.next();
    assert.equal(b.next(), 15_000);
    b.reset();
    assert.equal(b.attempts, 0);
    assert.equal(b.next(), 200);
  });

  it("jitters with Math.random by default", () => {
    const b = createBackoff({ initialMs: 1000 });
    const d = b.next();
    assert.ok(d >= 500 && d <= 1000, `${d}`);
  });
});
