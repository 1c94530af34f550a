import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createCallSlots } from "./call-slots.js";

const tick = () => new Promise((r) => setImmediate(r));

describe("createCallSlots", () => {
  it("lets `limit` calls in, queues the rest in order, and hands a slot on at release", async () => {
    const slots = createCallSlots(2);
    const signal = new AbortController().signal;
    const a = await slots.acquire(signal);
    const b = await slots.acquire(signal);
    const order: string[] = [];
    const c = slots.acquire(signal).then((r) => {
      order.push("c");
      return r;
    });
    const d = slots.acquire(signal).then((r) => {
      order.push("d");
      return r;
    });
    await tick();
    assert.deepEqual(order, [], "both wait while two are in");
    a();
    a(); // a second release of the same slot changes nothing
    await tick();
    assert.deepEqual(order, ["c"]);
    b();
    await tick();
    assert.deepEqual(order, ["c", "d"]);
    (await c)();
    (await d)();
    // All free again: two go straight in.
    await slots.acquire(signal);
    await slots.acquire(signal);
  });

  it("a waiter whose caller goes away leaves the queue with the reason", async () => {
    const slots = createCallSlots(1);
    const held = await slots.acquire(new AbortController().signal);
    const gone = new AbortController();
    const waiting = slots.acquire(gone.signal);
    const next = slots.acquire(new AbortController().signal);
    gone.abort(new Error("client went away"));
    await assert.rejects(waiting, /client went away/);
    held();
    // The slot went to the next waiter, not to the one that left.
    (await next)();
  });

  it("no limit for etcd's default (2^32-1)", async () => {
    const slots = createCallSlots(2 ** 32 - 1);
    assert.equal(slots.limited, false);
    assert.equal(createCallSlots(2).limited, true);
    const signal = new AbortController().signal;
    for (let i = 0; i < 1000; i++) await slots.acquire(signal);
  });
});
