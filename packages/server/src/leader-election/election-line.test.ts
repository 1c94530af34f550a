import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  applyLineOp,
  emptyLine,
  isListed,
  LineError,
  type LineOp,
  type LineState,
  parseLineState,
  stampLineTimes,
} from "./election-line.js";

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

  it("create and close: no-ops return undefined", () => {
    const created = run([{ op: "create" }]);
    assert.equal(applyLineOp(created, { op: "create" }), undefined);
    assert.equal(applyLineOp(emptyLine, { op: "close" }), undefined);
    const left = run([...abc.slice(0, 1), { op: "withdraw", id: "a" }]);
    assert.equal(applyLineOp(left, { op: "close" }), undefined, "nothing listed to close");
  });
});

describe("create, close and listing", () => {
  const a: LineOp = { op: "enter", candidate: c("a") };
  const b: LineOp = { op: "enter", candidate: c("b") };
  const cases: Array<{
    name: string;
    ops: LineOp[];
    line: string;
    term: number;
    created: boolean;
    listed: boolean;
    last: [string, string];
  }> = [
    {
      name: "never created, nobody in: not listed",
      ops: [],
      line: "",
      term: 0,
      created: false,
      listed: false,
      last: ["entered", ""],
    },
    {
      name: "created: listed before anyone enters",
      ops: [{ op: "create" }],
      line: "",
      term: 0,
      created: true,
      listed: true,
      last: ["created", ""],
    },
    {
      name: "entered without create: listed while anyone is in",
      ops: [a],
      line: "a",
      term: 1,
      created: false,
      listed: true,
      last: ["entered", "a"],
    },
    {
      name: "everyone left an election never created: not listed",
      ops: [a, { op: "withdraw", id: "a" }],
      line: "",
      term: 1,
      created: false,
      listed: false,
      last: ["withdrew", "a"],
    },
    {
      name: "everyone left a created election: still listed",
      ops: [{ op: "create" }, a, { op: "withdraw", id: "a" }],
      line: "",
      term: 1,
      created: true,
      listed: true,
      last: ["withdrew", "a"],
    },
    {
      name: "create after entering keeps line and term",
      ops: [a, b, { op: "create" }],
      line: "a,b",
      term: 1,
      created: true,
      listed: true,
      last: ["created", ""],
    },
    {
      name: "close empties the line, ends the leader's term, unlists",
      ops: [{ op: "create" }, a, b, { op: "close" }],
      line: "",
      term: 1,
      created: false,
      listed: false,
      last: ["closed", "a"],
    },
    {
      name: "close of an election nobody leads names no one",
      ops: [{ op: "create" }, { op: "close" }],
      line: "",
      term: 0,
      created: false,
      listed: false,
      last: ["closed", ""],
    },
    {
      name: "entering after close elects with the next term",
      ops: [a, { op: "close" }, b],
      line: "b",
      term: 2,
      created: false,
      listed: true,
      last: ["entered", "b"],
    },
    {
      name: "created again after close",
      ops: [a, { op: "close" }, { op: "create" }],
      line: "",
      term: 1,
      created: true,
      listed: true,
      last: ["created", ""],
    },
  ];
  for (const t of cases) {
    it(t.name, () => {
      const s = run(t.ops);
      assert.deepEqual(
        [ids(s), s.term, s.created, isListed(s), [s.last.reason, s.last.candidate]],
        [t.line, t.term, t.created, t.listed, t.last],
      );
      if (s.last.reason === "created" || s.last.reason === "closed") {
        assert.equal(s.last.elected, false, "create and close elect nobody");
      }
    });
  }

  it("reads states stored before create existed as never created", () => {
    const old = {
      term: 3,
      candidates: [c("a")],
      last: { reason: "entered", candidate: "a", elected: false },
    };
    const s = parseLineState(new TextEncoder().encode(JSON.stringify(old)));
    assert.deepEqual(s, { ...old, created: false });
    assert.deepEqual(parseLineState(new TextEncoder().encode(JSON.stringify(s))), s);
  });
  it("stamps each change with its time, and the leader's term with the time it began", () => {
    const t0 = 1_700_000_000_000;
    const step = (prev: LineState, op: LineOp, now: number) =>
      stampLineTimes(prev, applyLineOp(prev, op) as LineState, now);
    let s = step(emptyLine, { op: "enter", candidate: c("a") }, t0);
    assert.deepEqual([s.last.at, s.leaderSince], [t0, t0], "a elected at t0");
    s = step(s, { op: "enter", candidate: c("b") }, t0 + 1);
    assert.deepEqual([s.last.at, s.leaderSince], [t0 + 1, t0], "a still leads since t0");
    s = step(s, { op: "anoint", id: "b" }, t0 + 2);
    assert.deepEqual([s.last.at, s.leaderSince], [t0 + 2, t0 + 2], "b elected at t0+2");
    s = step(s, { op: "close" }, t0 + 3);
    assert.deepEqual([s.last.at, s.leaderSince], [t0 + 3, undefined], "nobody leads");
    assert.equal("leaderSince" in s, false, "not stored as null");
  });

  it("never invents a start time for a leader elected before times were recorded", () => {
    const old = parseLineState(
      new TextEncoder().encode(
        JSON.stringify({
          term: 2,
          candidates: [c("a")],
          last: { reason: "entered", candidate: "a", elected: true },
        }),
      ),
    );
    const s = stampLineTimes(
      old,
      applyLineOp(old, { op: "enter", candidate: c("b") }) as LineState,
      5,
    );
    assert.equal(s.last.at, 5);
    assert.equal(s.leaderSince, undefined);
  });
});
