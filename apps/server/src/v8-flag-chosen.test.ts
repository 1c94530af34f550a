import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { v8FlagChosen } from "./v8-flag-chosen.js";

describe("v8FlagChosen", () => {
  // Each case: node's command line, the flag asked about, and the answer.
  const cases: Array<{ execArgv: string[]; name: string; chosen: boolean }> = [
    { execArgv: [], name: "interrupt-budget", chosen: false },
    { execArgv: ["--enable-source-maps"], name: "interrupt-budget", chosen: false },
    { execArgv: ["--interrupt-budget=100000"], name: "interrupt-budget", chosen: true },
    { execArgv: ["--interrupt_budget=1000"], name: "interrupt-budget", chosen: true },
    {
      execArgv: ["--interrupt-budget-for-feedback-allocation=100"],
      name: "interrupt-budget",
      chosen: false,
    },
    { execArgv: ["--heap-growing-percent", "20"], name: "heap-growing-percent", chosen: true },
    { execArgv: ["--heap_growing-percent=0"], name: "heap-growing-percent", chosen: true },
    {
      execArgv: ["--no-allocation-site-pretenuring"],
      name: "allocation-site-pretenuring",
      chosen: true,
    },
    {
      execArgv: ["--allocation_site_pretenuring"],
      name: "allocation-site-pretenuring",
      chosen: true,
    },
    { execArgv: ["-e", "--interrupt-budget"], name: "heap-growing-percent", chosen: false },
    { execArgv: ["interrupt-budget"], name: "interrupt-budget", chosen: false },
  ];
  for (const c of cases) {
    it(`${c.chosen ? "sees" : "does not see"} ${c.name} in ${JSON.stringify(c.execArgv)}`, () => {
      assert.equal(v8FlagChosen(c.execArgv, c.name), c.chosen);
    });
  }
});
