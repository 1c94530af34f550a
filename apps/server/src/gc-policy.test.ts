import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyGcPolicy } from "./gc-policy.js";

describe("applyGcPolicy", () => {
  const cases: Array<{ name: string; execArgv: string[]; applied: boolean }> = [
    { name: "nothing chosen", execArgv: [], applied: true },
    { name: "other flags", execArgv: ["--enable-source-maps", "--trace-gc"], applied: true },
    { name: "chosen on the command line", execArgv: ["--heap-growing-percent=20"], applied: false },
    { name: "chosen with underscores", execArgv: ["--heap_growing_percent=0"], applied: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(applyGcPolicy(c.execArgv), c.applied);
    });
  }
});
