import assert from "node:assert/strict";
import { test } from "node:test";
import { onAbortOf } from "./abort-fanout.js";

test("onAbortOf calls each listener once, in order, unless it stopped listening", () => {
  const c = new AbortController();
  const calls: string[] = [];
  onAbortOf(c.signal, () => calls.push("a"));
  const stopB = onAbortOf(c.signal, () => calls.push("b"));
  onAbortOf(c.signal, () => calls.push("c"));
  stopB();
  c.abort();
  c.abort();
  assert.deepEqual(calls, ["a", "c"]);
});

test("onAbortOf puts one listener on the signal however many calls listen", () => {
  const c = new AbortController();
  let added = 0;
  const add = c.signal.addEventListener.bind(c.signal);
  c.signal.addEventListener = ((...args: Parameters<typeof add>) => {
    added++;
    return add(...args);
  }) as typeof add;
  const stops = Array.from({ length: 1000 }, () => onAbortOf(c.signal, () => {}));
  for (const stop of stops) stop();
  assert.equal(added, 1);
});
