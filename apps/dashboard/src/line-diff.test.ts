import assert from "node:assert/strict";
import { test } from "node:test";
import { lineDiff } from "./line-diff.js";

const show = (before: string, after: string) =>
  lineDiff(before, after)
    .map((l) => `${l.op === "same" ? " " : l.op === "del" ? "-" : "+"}${l.text}`)
    .join("|");

test("lineDiff keeps common lines and marks the changed ones", () => {
  assert.equal(show("a\nb\nc", "a\nB\nc"), " a|-b|+B| c");
  assert.equal(show("", "x"), "+x");
  assert.equal(show("x", ""), "-x");
  assert.equal(show("same", "same"), " same");
  assert.equal(show("a\nb", "b\nc"), "-a| b|+c");
});

test("lineDiff of pretty JSON shows the one field that changed", () => {
  const v1 = JSON.stringify({ mode: "fast", n: 1 }, null, 2);
  const v2 = JSON.stringify({ mode: "safe", n: 1 }, null, 2);
  const changed = lineDiff(v1, v2).filter((l) => l.op !== "same");
  assert.deepEqual(changed, [
    { op: "del", text: '  "mode": "fast",' },
    { op: "add", text: '  "mode": "safe",' },
  ]);
});
