import assert from "node:assert/strict";
import { test } from "node:test";
import { termStatus } from "./term-status.js";

test("termStatus: active with anyone in line, idle when created and empty, gone otherwise", () => {
  const term = (t: {
    leader?: string;
    candidates?: string[];
    created?: boolean;
    term?: bigint;
  }) => ({
    leader: "",
    candidates: [],
    created: false,
    ...t,
  });
  assert.equal(termStatus(term({ leader: "a", candidates: ["a"] })), "active");
  assert.equal(termStatus(term({ leader: "a", candidates: ["a"], created: true })), "active");
  assert.equal(termStatus(term({ created: true, term: 3n })), "idle");
  // Everyone withdrew from an election that was only entered, or it was closed.
  assert.equal(termStatus(term({ term: 2n })), "gone");
});
