import assert from "node:assert/strict";
import { test } from "node:test";
import { type Event, Event_EventType } from "@conclave/proto";
import { buildLockHolds } from "./lock-holds.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
const put = (key: string, rev: number, lease: number): Event =>
  ({
    type: Event_EventType.PUT,
    kv: {
      key: enc.encode(key),
      createRevision: BigInt(rev),
      modRevision: BigInt(rev),
      lease: BigInt(lease),
    },
  }) as Event;
const del = (key: string, rev: number): Event =>
  ({
    type: Event_EventType.DELETE,
    kv: { key: enc.encode(key), createRevision: 0n, modRevision: BigInt(rev), lease: 0n },
  }) as Event;

test("buildLockHolds: the lowest create revision holds; waits are counted in revisions", () => {
  const holds = buildLockHolds(
    [put("l/a", 2, 10), put("l/b", 3, 11), put("l/c", 4, 12), del("l/a", 6), del("l/b", 9)],
    (k) => dec.decode(k),
  );
  assert.deepEqual(
    holds.map((h) => [h.key, h.lease, h.queuedAt, h.from, h.to, h.waited]),
    [
      ["l/a", 10n, 2n, 2n, 6n, 0n],
      ["l/b", 11n, 3n, 6n, 9n, 3n],
      ["l/c", 12n, 4n, 9n, undefined, 5n],
    ],
  );
});

test("buildLockHolds: a lock released with nobody waiting ends its hold", () => {
  const holds = buildLockHolds([put("l/a", 2, 10), del("l/a", 3), put("l/b", 5, 11)], (k) =>
    dec.decode(k),
  );
  assert.deepEqual(
    holds.map((h) => [h.key, h.from, h.to, h.waited]),
    [
      ["l/a", 2n, 3n, 0n],
      ["l/b", 5n, undefined, 0n],
    ],
  );
});
