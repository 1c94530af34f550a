import assert from "node:assert/strict";
import { test } from "node:test";
import { afterCheck } from "./with-auth-policy.js";

function counted(log: string[]) {
  return async function* () {
    log.push("opened");
    try {
      yield 1;
      yield 2;
    } finally {
      log.push("inner finally");
    }
  };
}

const cases: {
  name: string;
  check: () => Promise<void>;
  run: (s: AsyncIterable<number>) => Promise<unknown>;
  log: string[];
  result: unknown;
}[] = [
  {
    name: "opens on the first read after the check and passes every message",
    check: async () => {},
    run: async (s) => {
      const got: number[] = [];
      for await (const m of s) got.push(m);
      return got;
    },
    log: ["checked", "opened", "inner finally"],
    result: [1, 2],
  },
  {
    name: "fails the first read with a refusal, never opens, then is done",
    check: async () => {
      throw new Error("permission denied");
    },
    run: async (s) => {
      const it = s[Symbol.asyncIterator]();
      const first = await it.next().then(
        () => "no error",
        (e: Error) => e.message,
      );
      return [first, await it.next()];
    },
    log: ["checked"],
    result: ["permission denied", { done: true, value: undefined }],
  },
  {
    name: "closed before the first read: never checked or opened",
    check: async () => {},
    run: async (s) => {
      const it = s[Symbol.asyncIterator]();
      return [await it.return?.(), await it.next()];
    },
    log: [],
    result: [
      { done: true, value: undefined },
      { done: true, value: undefined },
    ],
  },
  {
    name: "closed after a message: the inner stream's finally runs",
    check: async () => {},
    run: async (s) => {
      for await (const m of s) return m;
    },
    log: ["checked", "opened", "inner finally"],
    result: 1,
  },
];

for (const c of cases) {
  test(`afterCheck ${c.name}`, async () => {
    const log: string[] = [];
    const stream = afterCheck(async () => {
      log.push("checked");
      await c.check();
    }, counted(log));
    assert.deepEqual(log, [], "nothing runs before the stream is read");
    assert.deepEqual(await c.run(stream), c.result);
    assert.deepEqual(log, c.log);
  });
}
