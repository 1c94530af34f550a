import assert from "node:assert/strict";
import { test } from "node:test";
import { groupLockKeys, type LockKv, lockNameOf } from "./lock-groups.js";

const enc = new TextEncoder();
const kv = (key: string, lease: bigint, createRevision: bigint, value = ""): LockKv => ({
  key: enc.encode(key),
  value: enc.encode(value),
  lease,
  createRevision,
  modRevision: createRevision,
});

test("lockNameOf recognises <name>/<lease hex> keys attached to that lease", () => {
  const table: Array<[LockKv, string | undefined]> = [
    [kv("jobs/694d7e3c2b1a0f01", 0x694d7e3c2b1a0f01n, 5n), "jobs"],
    [kv("a/b/c/ff", 0xffn, 5n), "a/b/c"],
    [kv("/ff", 0xffn, 5n), ""],
    [kv("jobs/ff", 0xfen, 5n), undefined], // another lease
    [kv("jobs/ff", 0n, 5n), undefined], // no lease
    [kv("jobs/FF", 0xffn, 5n), undefined], // etcd writes lowercase
    [kv("ff", 0xffn, 5n), undefined], // no name part
    [kv("__conclave/le/e/candidates/ff", 0xffn, 5n), undefined], // Conclave's own keys
  ];
  for (const [input, want] of table) {
    assert.equal(lockNameOf(input), want, new TextDecoder().decode(input.key));
  }
  assert.equal(
    lockNameOf({ ...kv("", 0xffn, 1n), key: new Uint8Array([0xff, 0x2f, 0x66, 0x66]) }),
    undefined,
    "keys that are not UTF-8 are skipped",
  );
});

test("groupLockKeys: holder has the lowest create revision, waiters follow in order", () => {
  const groups = groupLockKeys([
    kv("lock-b/3", 3n, 30n),
    kv("lock-a/2", 2n, 12n),
    kv("plain/key", 0n, 1n),
    kv("lock-a/1", 1n, 11n),
    kv("lock-a/9", 9n, 40n),
    kv("vote/a", 0xan, 20n, "node-1"),
    kv("vote/b", 0xbn, 21n, "node-2"),
  ]);
  assert.deepEqual(
    groups.map((g) => ({
      name: g.name,
      kind: g.kind,
      holder: g.holder.lease,
      waiters: g.waiters.map((w) => w.lease),
    })),
    [
      { name: "lock-a", kind: "lock", holder: 1n, waiters: [2n, 9n] },
      { name: "lock-b", kind: "lock", holder: 3n, waiters: [] },
      { name: "vote", kind: "election", holder: 0xan, waiters: [0xbn] },
    ],
  );
});
