import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { countBodyBytes, countEnvelopedBytes } from "./count-message-bytes.js";

const envelope = (flags: number, size: number) => {
  const e = new Uint8Array(5 + size);
  e[0] = flags;
  new DataView(e.buffer).setUint32(1, size);
  return e;
};

async function drain(body: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of body) n += c.length;
  return n;
}

async function* chunked(all: Uint8Array, size: number) {
  for (let i = 0; i < all.length; i += size) yield all.subarray(i, i + size);
}

describe("countEnvelopedBytes", () => {
  it("counts each message's length, across chunk borders, not the end-of-stream envelope", async () => {
    const parts = [envelope(0, 3), envelope(0, 0), envelope(0, 10), envelope(0b10, 7)];
    const all = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    for (const size of [1, 2, 4, 7, all.length]) {
      const seen: number[] = [];
      const passed = await drain(countEnvelopedBytes(chunked(all, size), (n) => seen.push(n)));
      assert.equal(passed, all.length);
      assert.deepEqual(seen, [3, 0, 10], `chunks of ${size}`);
    }
  });
});

describe("countBodyBytes", () => {
  it("counts the whole body once", async () => {
    const seen: number[] = [];
    await drain(countBodyBytes(chunked(new Uint8Array(10), 3), (n) => seen.push(n)));
    assert.deepEqual(seen, [10]);
  });
});
