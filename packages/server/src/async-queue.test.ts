import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createAsyncQueue } from "./async-queue.js";

/** Everything the queue yields until it ends, and how it ended. */
async function drain<T>(q: AsyncIterable<T>): Promise<{ items: T[]; error?: unknown }> {
  const items: T[] = [];
  try {
    for await (const item of q) items.push(item);
  } catch (error) {
    return { items, error };
  }
  return { items };
}

describe("async queue", () => {
  it("hands out what was queued before and after the consumer waits, in order", async () => {
    const q = createAsyncQueue<number>();
    q.push(1, 10);
    q.push(2, 20);
    assert.equal(q.length, 2);
    assert.equal(q.bytes, 30);
    const out = drain(q);
    await new Promise((r) => setImmediate(r)); // the consumer now waits
    assert.equal(q.bytes, 0);
    q.push(3, 5);
    await new Promise((r) => setImmediate(r));
    q.push(4);
    q.push(5);
    q.close();
    q.push(6); // after close: dropped
    assert.deepEqual(await out, { items: [1, 2, 3, 4, 5] });
    assert.equal(q.closed, true);
  });

  it("fails after the queued items, then stays ended", async () => {
    const q = createAsyncQueue<string>();
    q.push("a");
    q.fail(new Error("boom"));
    const it = q[Symbol.asyncIterator]();
    assert.deepEqual(await it.next(), { done: false, value: "a" });
    await assert.rejects(it.next(), /boom/);
    assert.deepEqual(await it.next(), { done: true, value: undefined });
  });

  it("wakes a waiting consumer with an error", async () => {
    const q = createAsyncQueue<string>();
    const out = drain(q);
    await new Promise((r) => setImmediate(r));
    q.fail(new Error("later"));
    const { items, error } = await out;
    assert.deepEqual(items, []);
    assert.match(String(error), /later/);
  });

  it("discard drops what is queued and ends a waiting consumer", async () => {
    const q = createAsyncQueue<number>();
    q.push(1, 100);
    q.discard();
    assert.equal(q.length, 0);
    assert.equal(q.bytes, 0);
    assert.deepEqual(await drain(q), { items: [] });
    const r = createAsyncQueue<number>();
    const out = drain(r);
    await new Promise((res) => setImmediate(res));
    r.discard();
    assert.deepEqual(await out, { items: [] });
  });

  it("return() ends iteration (a for-await that breaks)", async () => {
    const q = createAsyncQueue<number>();
    for (let i = 0; i < 5; i++) q.push(i);
    const seen: number[] = [];
    for await (const n of q) {
      seen.push(n);
      if (n === 1) break;
    }
    assert.deepEqual(seen, [0, 1]);
    const it = q[Symbol.asyncIterator]();
    assert.deepEqual(await it.return?.(), { done: true, value: undefined });
    assert.deepEqual(await it.next(), { done: true, value: undefined });
  });

  it("keeps order across many items (the spent slots are trimmed)", async () => {
    const q = createAsyncQueue<number>();
    for (let i = 0; i < 5000; i++) q.push(i, 1);
    const it = q[Symbol.asyncIterator]();
    for (let i = 0; i < 3000; i++) assert.equal((await it.next()).value, i);
    for (let i = 5000; i < 6000; i++) q.push(i, 1);
    assert.equal(q.length, 3000);
    assert.equal(q.bytes, 3000);
    q.close();
    const rest: number[] = [];
    for (let r = await it.next(); r.done !== true; r = await it.next()) rest.push(r.value);
    assert.equal(rest.length, 3000);
    assert.deepEqual(rest.slice(0, 2), [3000, 3001]);
    assert.equal(rest.at(-1), 5999);
  });
});
