import assert from "node:assert/strict";
import { test } from "node:test";
import { observeResponse, observeStream } from "./observe-stream.js";

async function* source(n: number, fail?: Error, finallies?: string[]) {
  try {
    for (let i = 0; i < n; i++) yield i;
    if (fail !== undefined) throw fail;
  } finally {
    finallies?.push("inner finally");
  }
}

test("observeStream passes every message and reports the end once", async () => {
  const seen: string[] = [];
  const got: number[] = [];
  for await (const m of observeStream(source(3), { done: () => seen.push("done") })) got.push(m);
  assert.deepEqual(got, [0, 1, 2]);
  assert.deepEqual(seen, ["done"]);
});

test("observeStream fails with the observer's error after the messages before it", async () => {
  const got: number[] = [];
  const seen: unknown[] = [];
  await assert.rejects(
    (async () => {
      const stream = observeStream(source(2, new Error("inner")), {
        done: () => seen.push("done"),
        error: (e) => {
          seen.push(e);
          return new Error("mapped");
        },
      });
      for await (const m of stream) got.push(m);
    })(),
    /mapped/,
  );
  assert.deepEqual(got, [0, 1]);
  assert.equal(seen.length, 1);
  assert.equal((seen[0] as Error).message, "inner");
});

test("observeStream hands an early stop to the inner stream and reports nothing", async () => {
  const finallies: string[] = [];
  const seen: string[] = [];
  const stream = observeStream(source(5, undefined, finallies), {
    done: () => seen.push("done"),
    error: (e) => {
      seen.push("error");
      return e;
    },
  });
  for await (const m of stream) if (m === 1) break;
  assert.deepEqual(finallies, ["inner finally"]);
  assert.deepEqual(seen, []);
});

test("observeResponse observes the messages and leaves the response's getters unread", async () => {
  let reads = 0;
  const res = Object.defineProperty(
    { stream: true as const, message: source(2) as AsyncIterable<number> },
    "header",
    {
      get() {
        reads++;
        return new Headers({ a: "1" });
      },
      enumerable: true,
    },
  ) as { stream: true; message: AsyncIterable<number>; readonly header: Headers };
  const seen: string[] = [];
  const out = observeResponse(res, { done: () => seen.push("done") });
  assert.equal(reads, 0, "observing the response read its header getter");
  assert.equal(out.stream, true);
  const got: number[] = [];
  for await (const m of out.message) got.push(m);
  assert.deepEqual(got, [0, 1]);
  assert.deepEqual(seen, ["done"]);
  assert.equal(out.header.get("a"), "1");
  assert.equal(reads, 1);
});

test("observeResponse copies a response whose message is read-only", async () => {
  const res = Object.freeze({ stream: true as const, message: source(1) as AsyncIterable<number> });
  const seen: string[] = [];
  const out = observeResponse(res, { done: () => seen.push("done") });
  assert.notEqual(out, res);
  for await (const _ of out.message) {
    // read to the end
  }
  assert.deepEqual(seen, ["done"]);
});
