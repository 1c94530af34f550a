import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { errCompacted } from "../errors.js";
import { createAutoCompactor } from "./auto-compactor.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A revision that grows by one per ms, and the compactions asked for. */
function fakeStore() {
  const t0 = Date.now();
  const compacted: Array<[number, number]> = [];
  let floor = 0;
  return {
    currentRev: () => Date.now() - t0 + 1,
    compacted,
    compact: async (rev: number) => {
      if (rev <= floor) throw errCompacted;
      floor = rev;
      compacted.push([rev, Date.now() - t0]);
    },
  };
}

describe("auto compactor", () => {
  it("nothing runs before start()", async () => {
    const s = fakeStore();
    createAutoCompactor({ mode: "revision", retention: 1, revisionCheckMs: 5, ...s });
    await sleep(40);
    assert.equal(s.compacted.length, 0);
  });

  it("periodic: compacts every window to the revision of one window ago", async () => {
    const s = fakeStore();
    const log: string[] = [];
    const c = createAutoCompactor({
      mode: "periodic",
      retention: 200,
      ...s,
      onCompact: (e) => log.push(e.phase),
    });
    c.start();
    await sleep(700);
    c.close();
    // At ~200 ms (first full window), ~400 ms, ~600 ms.
    assert.ok(s.compacted.length >= 1 && s.compacted.length <= 3, JSON.stringify(s.compacted));
    for (const [rev, at] of s.compacted) {
      const kept = at - rev; // how much history (in ms of revisions) was kept
      // A whole window, never less; more only by timer delays on a busy machine.
      assert.ok(kept >= 180 && kept <= 600, `kept ${kept} ms of history at ${at} ms`);
    }
    assert.deepEqual(log.slice(0, 2), ["start", "done"]);
  });

  it("revision: keeps the last N revisions, checking on its interval", async () => {
    const s = fakeStore();
    const c = createAutoCompactor({ mode: "revision", retention: 50, revisionCheckMs: 30, ...s });
    c.start();
    await sleep(130);
    c.close();
    const count = s.compacted.length;
    assert.ok(count >= 1, JSON.stringify(s.compacted));
    for (const [rev, at] of s.compacted) {
      // current − 50 when it ran (the fake revision moves 1 per ms).
      assert.ok(at - rev >= 49 && at - rev <= 80, `rev ${rev} at ${at}`);
    }
    await sleep(60);
    assert.equal(s.compacted.length, count, "close() stops it");
  });

  it("a compaction someone else already did is not an error", async () => {
    const failures: unknown[] = [];
    const c = createAutoCompactor({
      mode: "revision",
      retention: 1,
      revisionCheckMs: 5,
      currentRev: () => 100,
      compact: async () => {
        throw errCompacted;
      },
      onCompact: (e) => {
        if (e.phase === "failed") failures.push(e.err);
      },
    });
    c.start();
    await sleep(30);
    c.close();
    assert.deepEqual(failures, []);
  });
});
