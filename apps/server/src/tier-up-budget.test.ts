import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { applyTierUpBudget, tierUpInterruptBudget } from "./tier-up-budget.js";

describe("tier-up budget", () => {
  // Each case: node's command line, and whether the server sets the budget.
  const cases: Array<{ name: string; execArgv: string[]; sets: boolean }> = [
    { name: "nothing chosen", execArgv: [], sets: true },
    { name: "other flags", execArgv: ["--enable-source-maps", "--trace-gc"], sets: true },
    {
      name: "a flag that only starts the same",
      execArgv: ["--interrupt-budget-for-feedback-allocation=100"],
      sets: true,
    },
    { name: "chosen on the command line", execArgv: ["--interrupt-budget=100000"], sets: false },
    { name: "chosen with underscores", execArgv: ["--interrupt_budget=1000"], sets: false },
  ];
  for (const c of cases) {
    it(`${c.sets ? "sets" : "leaves"} the budget: ${c.name}`, () => {
      const set: string[] = [];
      const applied = applyTierUpBudget({ execArgv: c.execArgv, setFlags: (f) => set.push(f) });
      assert.equal(applied, c.sets);
      assert.deepEqual(set, c.sets ? [`--interrupt-budget=${tierUpInterruptBudget}`] : []);
    });
  }

  it("is a flag this V8 takes (a child that sets it and runs)", () => {
    const out = execFileSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { setFlagsFromString } from "node:v8"; setFlagsFromString("--interrupt-budget=${tierUpInterruptBudget}"); let x = 0; for (let i = 0; i < 1e6; i++) x += i; console.log(x);`,
      ],
      { encoding: "utf8" },
    );
    assert.equal(out.trim(), String((1e6 * (1e6 - 1)) / 2));
  });
});
