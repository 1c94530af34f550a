import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyLineOp, emptyLine, LineError, type LineOp, type LineState } from "./election-line.js";

const c = (id: string, lease = "0") => ({ id, lease });
const run = (ops: LineOp[]) => ops.reduce<LineState>((s, op) => applyLineOp(s, op) ?? s, emptyLine);
const ids = (s: LineState) => s.candidates.map((x) => x.id).join(",");

describe("election line (Atomix semantics)", () => {
  const abc: LineOp[] = ["a", "b", "c"].map((id) => ({ op: "enter", candidate: c(id) }));
  const cases: Array<{
    name: string;
    ops: LineOp[];
    line: string;
    term: number;
    elected: boolean;
  }> = [
    {
      name: "first candidate leads, term 1",
      ops: abc.slice(0, 1),
      line: "a",
      term: 1,
      elected: true,
    },
    { name: "later candidates queue", ops: abc, line: "a,b,c", term: 1, elected: false },
    {
      name: "leader withdraws: next leads",
      ops: [...abc, { op: "withdraw", id: "a" }],
      line: "b,c",
      term: 2,
      elected: true,
    },
    {
      name: "follower withdraws: same term",
      ops: [...abc, { op: "withdraw", id: "b" }],
      line: "a,c",
      term: 1,
      elected: false,
    },
    {
      name: "anoint: old leader first in line",
      ops: [...abc, { op: "anoint", id: "c" }],
      line: "c,a,b",
      term: 2,
      elected: true,
    },
    {
      name: "promote the one behind the leader swaps them",
      ops: [...abc, { op: "promote", id: "b" }],
      line: "b,a,c",
      term: 2,
      elected: true,
    },
    {
      name: "promote further back moves one place",
      ops: [...abc, { op: "promote", id: "c" }],
      line: "a,c,b",
      term: 1,
      elected: false,
    },
    {
      name: "demote the leader hands over",
      ops: [...abc, { op: "demote", id: "a" }],
      line: "b,a,c",
      term: 2,
      elected: true,
    },
    {
      name: "demote a follower",
      ops: [...abc, { op: "demote", id: "b" }],
      line: "a,c,b",
      term: 1,
      elected: false,
    },
    {
      name: "evict the leader",
      ops: [...abc, { op: "evict", id: "a" }],
      line: "b,c",
      term: 2,
      elected: true,
    },
    {
      name: "lease expiry of the leader",
      ops: [...abc, { op: "lease_expired", id: "a" }],
      line: "b,c",
      term: 2,
      elected: true,
    },
    {
      name: "terms are never reused, even when the line empties",
      ops: [abc[0] as LineOp, { op: "withdraw", id: "a" }, abc[0] as LineOp],
      line: "a",
      term: 2,
      elected: true,
    },
  ];
  for (const t of cases) {
    it(t.name, () => {
      const s = run(t.ops);
      assert.equal(ids(s), t.line);
      assert.equal(s.term, t.term);
      assert.equal(s.last.elected, t.elected);
    });
  }

  it("no-ops return undefined", () => {
    const s = run(abc);
    assert.equal(applyLineOp(s, { op: "promote", id: "a" }), undefined);
    assert.equal(applyLineOp(s, { op: "demote", id: "c" }), undefined);
    assert.equal(applyLineOp(s, { op: "anoint", id: "a" }), undefined);
    assert.equal(applyLineOp(s, { op: "enter", candidate: c("b") }), undefined);
  });

  it("unknown candidates and lease conflicts are errors", () => {
    const s = run(abc);
    assert.throws(
      () => applyLineOp(s, { op: "evict", id: "zz" }),
      (e) => e instanceof LineError && e.kind === "candidate_not_found",
    );
    assert.throws(
      () => applyLineOp(s, { op: "enter", candidate: c("b", "7") }),
      (e) => e instanceof LineError && e.kind === "candidate_exists",
    );
  });
});
