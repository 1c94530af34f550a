import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  busyUtilization,
  compactAfterGrowthBytes,
  createGcPolicy,
  exposeFullCollection,
  type GcPolicyState,
  heapGrowingPercent,
  nextGcState,
  quietUtilization,
} from "./gc-policy.js";

describe("nextGcState", () => {
  const memory: GcPolicyState = { mode: "memory", quiet: 0 };
  const latency: GcPolicyState = { mode: "latency", quiet: 0 };
  const cases: Array<{
    name: string;
    from: GcPolicyState;
    utilization: number;
    to: GcPolicyState;
    action?: "latency" | "compact";
  }> = [
    { name: "quiet stays quiet", from: memory, utilization: 0, to: memory },
    {
      name: "moderate load keeps memory mode",
      from: memory,
      utilization: busyUtilization,
      to: memory,
    },
    {
      name: "busy switches to latency",
      from: memory,
      utilization: 0.9,
      to: latency,
      action: "latency",
    },
    { name: "busy stays latency, no new action", from: latency, utilization: 0.9, to: latency },
    {
      name: "first quiet sample only counts",
      from: latency,
      utilization: 0.01,
      to: { mode: "latency", quiet: 1 },
    },
    {
      name: "second quiet sample compacts",
      from: { mode: "latency", quiet: 1 },
      utilization: 0.01,
      to: memory,
      action: "compact",
    },
    {
      name: "a sample between quiet and busy resets the count",
      from: { mode: "latency", quiet: 1 },
      utilization: quietUtilization,
      to: latency,
    },
    {
      name: "busy resets the count",
      from: { mode: "latency", quiet: 1 },
      utilization: 0.5,
      to: latency,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const next = nextGcState(c.from, c.utilization);
      assert.deepEqual(next.state, c.to);
      assert.equal(next.action, c.action);
    });
  }
});

describe("createGcPolicy", () => {
  const chosen: Array<{ name: string; execArgv: string[]; runs: boolean }> = [
    { name: "nothing chosen", execArgv: [], runs: true },
    { name: "other flags", execArgv: ["--enable-source-maps", "--trace-gc"], runs: true },
    { name: "chosen on the command line", execArgv: ["--heap-growing-percent=20"], runs: false },
    { name: "chosen with underscores", execArgv: ["--heap_growing_percent=0"], runs: false },
  ];
  for (const c of chosen) {
    it(`start: ${c.name}`, () => {
      const flags: string[] = [];
      const policy = createGcPolicy({
        execArgv: c.execArgv,
        setFlags: (f) => flags.push(f),
        collect: () => {},
        utilization: () => 0,
      });
      try {
        assert.equal(policy.start(), c.runs);
        assert.deepEqual(flags, c.runs ? [`--heap-growing-percent=${heapGrowingPercent}`] : []);
      } finally {
        policy.close();
      }
    });
  }

  it("follows the load: V8's sizing while busy, compacts once when quiet again if the heap grew", async () => {
    const samples = [0.9, 0.8, 0.01, 0.02, 0, 0.9, 0.01, 0.01, 0.9, 0.01, 0.01];
    // The heap grows in the first two busy spells, not in the third.
    const heap = [
      100,
      100 + compactAfterGrowthBytes,
      50,
      50 + compactAfterGrowthBytes,
      60,
      60 + compactAfterGrowthBytes - 1,
    ];
    const flags: string[] = [];
    const events: string[] = [];
    let done!: () => void;
    const finished = new Promise<void>((r) => {
      done = r;
    });
    const policy = createGcPolicy({
      execArgv: [],
      sampleMs: 1,
      setFlags: (f) => {
        flags.push(f);
        events.push(f);
      },
      collect: () => events.push("collect"),
      heapBytes: () => heap.shift() ?? 0,
      utilization: () => {
        const u = samples.shift();
        if (samples.length === 0) setImmediate(done);
        return u ?? 0;
      },
    });
    // The policy's timer does not hold the process open; this test must.
    const keepAlive = setInterval(() => {}, 1000);
    policy.start();
    await finished;
    policy.close();
    clearInterval(keepAlive);
    const quietFlag = `--heap-growing-percent=${heapGrowingPercent}`;
    assert.deepEqual(events, [
      quietFlag,
      "--heap-growing-percent=0",
      quietFlag,
      "collect",
      "--heap-growing-percent=0",
      quietFlag,
      "collect",
      "--heap-growing-percent=0",
      quietFlag,
    ]);
    assert.equal(policy.mode, "memory");
  });
});

describe("exposeFullCollection", () => {
  it("runs a real full collection: an unreachable object is gone after it", async () => {
    const collect = exposeFullCollection();
    let ref: WeakRef<object> | undefined;
    (() => {
      ref = new WeakRef({ big: new Array(1000).fill(0) });
    })();
    // WeakRef targets are kept alive until the end of the current job.
    await new Promise((r) => setImmediate(r));
    collect();
    assert.equal(ref?.deref(), undefined);
    // The flag is off again: contexts made from now on get no `gc`.
    const { runInNewContext } = await import("node:vm");
    assert.equal(runInNewContext("typeof gc"), "undefined");
  });
});
