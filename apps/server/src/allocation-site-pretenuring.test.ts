import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { disableAllocationSitePretenuring } from "./allocation-site-pretenuring.js";

describe("allocation-site pretenuring", () => {
  // Each case: node's command line, and whether the server turns it off.
  const cases: Array<{ name: string; execArgv: string[]; sets: boolean }> = [
    { name: "nothing chosen", execArgv: [], sets: true },
    { name: "other flags", execArgv: ["--enable-source-maps", "--trace-gc"], sets: true },
    { name: "turned on by the operator", execArgv: ["--allocation-site-pretenuring"], sets: false },
    {
      name: "turned off by the operator",
      execArgv: ["--no-allocation_site_pretenuring"],
      sets: false,
    },
  ];
  for (const c of cases) {
    it(`${c.sets ? "turns it off" : "leaves it"}: ${c.name}`, () => {
      const set: string[] = [];
      const applied = disableAllocationSitePretenuring({
        execArgv: c.execArgv,
        setFlags: (f) => set.push(f),
      });
      assert.equal(applied, c.sets);
      assert.deepEqual(set, c.sets ? ["--no-allocation-site-pretenuring"] : []);
    });
  }

  it("is a flag this V8 knows (V8 reports one it does not)", () => {
    const run = (flag: string) =>
      spawnSync(
        process.execPath,
        [
          "-e",
          `require("node:v8").setFlagsFromString(${JSON.stringify(flag)}); console.log("ran")`,
        ],
        { encoding: "utf8" },
      );
    const ours = run("--no-allocation-site-pretenuring");
    assert.equal(`${ours.stdout}${ours.stderr}`.trim(), "ran");
    const misspelt = run("--no-allocation-site-pretenurin");
    assert.match(`${misspelt.stdout}${misspelt.stderr}`, /unrecognized flag/);
  });
});
