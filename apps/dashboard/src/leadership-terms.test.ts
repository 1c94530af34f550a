import assert from "node:assert/strict";
import { test } from "node:test";
import { EventReason } from "@conclave/proto";
import { buildTerms, type ElectionChange, termAt } from "./leadership-terms.js";

const change = (
  reason: EventReason,
  term: number,
  leader: string,
  revision: number,
): ElectionChange => ({
  reason,
  candidateId: "",
  term: { term: BigInt(term), leader, revision: BigInt(revision) },
});

test("buildTerms: each leader's term with why it began and ended", () => {
  const terms = buildTerms([
    change(EventReason.CREATED, 0, "", 2),
    change(EventReason.ENTERED, 1, "a", 3),
    change(EventReason.ELECTED, 1, "a", 3),
    change(EventReason.ENTERED, 1, "a", 4),
    change(EventReason.WITHDREW, 2, "b", 5),
    change(EventReason.ELECTED, 2, "b", 5),
    change(EventReason.LEASE_EXPIRED, 3, "c", 7),
    change(EventReason.EVICTED, 4, "d", 9),
    change(EventReason.ANOINTED, 5, "e", 11),
    change(EventReason.CLOSED, 5, "", 12),
  ]);
  assert.deepEqual(
    terms.map((t) => [t.term, t.leader, t.from, t.startedBy, t.to, t.endedBy]),
    [
      [1n, "a", 3n, "elected", 5n, "resigned"],
      [2n, "b", 5n, "elected", 7n, "lease expired"],
      [3n, "c", 7n, "elected", 9n, "evicted"],
      [4n, "d", 9n, "elected", 11n, "anointed"],
      [5n, "e", 11n, "anointed", 12n, "closed"],
    ],
  );
  assert.equal(termAt(terms, 6n)?.leader, "b");
  assert.equal(termAt(terms, 5n)?.leader, "b");
  assert.equal(termAt(terms, 4n)?.leader, "a");
  assert.equal(termAt(terms, 2n), undefined, "nobody led before the first term");
  assert.equal(termAt(terms, 12n), undefined, "closed");
});

test("buildTerms: the last term stays open", () => {
  const terms = buildTerms([change(EventReason.ENTERED, 1, "a", 3)]);
  assert.equal(terms[0]?.to, undefined);
  assert.equal(termAt(terms, 100n)?.leader, "a");
});

test("buildTerms: each boundary carries the server's time of its change, or none", () => {
  const at = (c: ElectionChange, ms: number | undefined): ElectionChange => ({
    ...c,
    changedAt: ms,
  });
  const terms = buildTerms([
    // Stored before times were recorded: no time, and none is made up.
    at(change(EventReason.ENTERED, 1, "a", 3), undefined),
    at(change(EventReason.ANOINTED, 2, "b", 5), 50_000),
    at(change(EventReason.WITHDREW, 2, "", 8), 80_000),
  ]);
  assert.deepEqual(
    terms.map((t) => [t.leader, t.fromAt, t.toAt]),
    [
      ["a", undefined, 50_000],
      ["b", 50_000, 80_000],
    ],
  );
});
