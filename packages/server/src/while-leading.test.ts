import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createWhileLeading, type Duty } from "./while-leading.js";

/** A cluster whose duties the test hands out, and duties that log their lifecycle. */
function setup(leading: boolean | undefined) {
  const listeners = new Set<(held: boolean) => void>();
  let held = leading ?? true;
  const cluster =
    leading === undefined
      ? undefined
      : {
          members: async () => [],
          leader: () => 0n,
          isLeader: () => held,
          onDuties(l: (h: boolean) => void) {
            listeners.add(l);
            return () => listeners.delete(l);
          },
        };
  const log: string[] = [];
  let n = 0;
  const make = (): Duty => {
    const id = ++n;
    return {
      start: () => log.push(`start ${id}`),
      close: async () => {
        await new Promise((r) => setTimeout(r, 5));
        log.push(`close ${id}`);
      },
    };
  };
  const set = (h: boolean) => {
    held = h;
    for (const l of listeners) l(h);
  };
  return { duty: createWhileLeading({ cluster }, make), log, set, listeners };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe("createWhileLeading", () => {
  const cases: Array<{
    name: string;
    leading: boolean | undefined;
    steps: boolean[];
    log: string[];
  }> = [
    {
      name: "embedded: runs from start to close",
      leading: undefined,
      steps: [],
      log: ["start 1", "close 1"],
    },
    { name: "a replica without the duties runs nothing", leading: false, steps: [], log: [] },
    {
      name: "a replica holding them runs one",
      leading: true,
      steps: [],
      log: ["start 1", "close 1"],
    },
    {
      name: "gained later, lost, gained again: a fresh duty each time, the old one closed first",
      leading: false,
      steps: [true, false, true],
      log: ["start 1", "close 1", "start 2", "close 2"],
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const t = setup(c.leading);
      assert.deepEqual(t.log, [], "nothing before start");
      t.duty.start();
      await settle();
      for (const held of c.steps) {
        t.set(held);
        await settle();
      }
      await t.duty.close();
      assert.deepEqual(t.log, c.log);
      assert.equal(t.listeners.size, 0, "unsubscribed at close");
    });
  }
});
