import assert from "node:assert/strict";
import { test } from "node:test";
import { createSeenRevisions, formatClock, formatDuration, momentOf } from "./moments.js";

test("momentOf: the server's time first, then when the page saw the revision, else none", () => {
  const seen = createSeenRevisions();
  seen.see(7n, 5_000);
  assert.deepEqual(momentOf(1_000, 7n, seen.at), { at: 1_000, source: "server" });
  assert.deepEqual(momentOf(undefined, 7n, seen.at), { at: 5_000, source: "page" });
  assert.equal(momentOf(undefined, 8n, seen.at), undefined, "never invented");
  assert.equal(momentOf(undefined, undefined, seen.at), undefined);
});

test("createSeenRevisions keeps the first arrival of the last `limit` revisions", () => {
  const seen = createSeenRevisions(2);
  seen.see(1n, 10);
  seen.see(1n, 20);
  assert.equal(seen.at(1n), 10, "the first time it came");
  seen.see(2n, 30);
  seen.see(3n, 40);
  assert.equal(seen.at(1n), undefined, "forgotten past the limit");
  assert.equal(seen.at(3n), 40);
});

test("formatClock: local time, with the date when it is not today", () => {
  const at = new Date(2026, 11, 5, 9, 3, 7).getTime();
  assert.equal(formatClock(at, new Date(2026, 11, 5, 23, 0, 0).getTime()), "09:03:07");
  assert.equal(formatClock(at, new Date(2026, 11, 6, 0, 1, 0).getTime()), "2026-12-05 09:03:07");
});

test("formatDuration", () => {
  assert.equal(formatDuration(850.4), "850 ms");
  assert.equal(formatDuration(12_345), "12.3 s");
  assert.equal(formatDuration(245_000), "4 m 05 s");
});
