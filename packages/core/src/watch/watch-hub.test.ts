import assert from "node:assert/strict";
import { describe, it, mock } from "node:test";
import { createMemoryBackend } from "../backend/memory-backend.js";
import { createKvApplier } from "../kv/kv-applier.js";
import { openKvStore } from "../mvcc/kv-store.js";
import { b, putReq, s } from "../test-util.js";
import { createWatchHub, type WatchBatch, type Watcher, type WatchSink } from "./watch-hub.js";

function setup() {
  const store = openKvStore({ backend: createMemoryBackend() });
  const kv = createKvApplier({ store });
  const hub = createWatchHub({ store, syncIntervalMs: 5 });
  hub.start();
  return { store, kv, hub };
}

function collector(limit = Number.POSITIVE_INFINITY) {
  const batches: WatchBatch[] = [];
  let compacted = -1;
  let pending = 0;
  const sink: WatchSink = {
    send(_w: Watcher, batch) {
      batches.push(batch);
      pending++;
      return pending < limit;
    },
    compacted(_w, rev) {
      compacted = rev;
    },
    ready: () => pending < limit,
  };
  return {
    sink,
    batches,
    drain: () => {
      pending = 0;
    },
    compactedAt: () => compacted,
    events: () =>
      batches.flatMap((x) => x.events.map((e) => `${e.type}:${s(e.kv.key)}@${e.kv.modRevision}`)),
  };
}
const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));
const opts = { prevKv: false, noPut: false, noDelete: false };

describe("watch hub", () => {
  it("starts nothing until start(), and close() stops what start() began", async () => {
    const store = openKvStore({ backend: createMemoryBackend() });
    const kv = createKvApplier({ store });
    let listeners = 0;
    const counted = {
      ...store,
      onCommitted(listener: Parameters<typeof store.onCommitted>[0]) {
        listeners++;
        const off = store.onCommitted(listener);
        return () => {
          listeners--;
          off();
        };
      },
    };
    const setIntervalSpy = mock.method(globalThis, "setInterval");
    const clearIntervalSpy = mock.method(globalThis, "clearInterval");
    try {
      const hub = createWatchHub({ store: counted, syncIntervalMs: 5 });
      assert.equal(listeners, 0, "no subscription before start");
      assert.equal(setIntervalSpy.mock.callCount(), 0, "no timer before start");
      assert.throws(
        () => hub.watch({ key: b("k"), end: undefined, startRev: 0, ...opts }, collector().sink),
        /not started/,
      );
      hub.start();
      hub.start(); // idempotent
      assert.equal(listeners, 1);
      assert.equal(setIntervalSpy.mock.callCount(), 1);
      const c = collector();
      hub.watch({ key: b("k"), end: undefined, startRev: 0, ...opts }, c.sink);
      await kv.put(putReq("k", "1")); // 2
      await tick();
      assert.deepEqual(c.events(), ["put:k@2"]);

      hub.close();
      assert.equal(listeners, 0, "unsubscribed at close");
      assert.equal(clearIntervalSpy.mock.callCount(), 1, "timer cleared at close");
      assert.equal(hub.watcherCount(), 0);
      await kv.put(putReq("k", "2")); // 3
      // A watch racing the shutdown gets a watcher that nothing feeds.
      const late = collector();
      const w = hub.watch({ key: b("k"), end: undefined, startRev: 2, ...opts }, late.sink);
      await tick();
      assert.deepEqual(c.events(), ["put:k@2"], "nothing after close");
      assert.deepEqual(late.events(), []);
      assert.equal(hub.watcherCount(), 0);
      w.cancel();
    } finally {
      setIntervalSpy.mock.restore();
      clearIntervalSpy.mock.restore();
    }
  });

  it("delivers each durable write once, in order, only for the watched range", async () => {
    const { kv, hub } = setup();
    const c = collector();
    hub.watch({ key: b("a"), end: b("b"), startRev: 0, ...opts }, c.sink);
    await kv.put(putReq("a1", "x")); // 2
    await kv.put(putReq("zz", "x")); // 3
    await kv.txn({
      compare: [],
      success: [
        { request: { case: "requestPut", value: putReq("a2", "y") } },
        {
          request: {
            case: "requestDeleteRange",
            value: { key: b("a1"), rangeEnd: new Uint8Array(0), prevKv: false },
          },
        },
      ],
      failure: [],
    }); // 4
    await tick();
    assert.deepEqual(c.events(), ["put:a1@2", "put:a2@4", "delete:a1@4"]);
    assert.deepEqual(
      c.batches.map((x) => x.rev),
      [2, 4],
    );
  });

  it("watchers that come and go, one or two a key, keys recurring or not: each live one gets its key's events", async () => {
    const { kv, hub } = setup();
    // Round r watches keys r0..r199 and k0..k199 (k recurs every round),
    // a second watcher on every fifth key, then cancels the first on every
    // r key and every other k key: more than half the keys ever watched are
    // then without watchers, which the hub drops in passing, while the rest
    // still watch.
    for (let round = 0; round < 3; round++) {
      const live: { key: string; c: ReturnType<typeof collector>; w: Watcher }[] = [];
      const gone: { c: ReturnType<typeof collector>; w: Watcher }[] = [];
      for (const prefix of [`r${round}-`, "k"]) {
        for (let i = 0; i < 200; i++) {
          const key = `${prefix}${i}`;
          const c = collector();
          const w = hub.watch({ key: b(key), end: undefined, startRev: 0, ...opts }, c.sink);
          if (prefix === "k" && i % 2 === 1) live.push({ key, c, w });
          else gone.push({ c, w });
          if (i % 5 === 0) {
            const second = collector();
            live.push({
              key,
              c: second,
              w: hub.watch({ key: b(key), end: undefined, startRev: 0, ...opts }, second.sink),
            });
          }
        }
      }
      for (const { w } of gone) w.cancel();
      for (const prefix of [`r${round}-`, "k"]) {
        for (let i = 0; i < 200; i++) await kv.put(putReq(`${prefix}${i}`, `v${round}`));
      }
      await tick();
      for (const { key, c } of live) {
        assert.deepEqual(
          c.events().map((e) => e.split("@")[0]),
          [`put:${key}`],
          `round ${round}, ${key}`,
        );
      }
      for (const { c } of gone) assert.deepEqual(c.events(), []);
      for (const { w } of live) w.cancel();
    }
  });

  it("replays history from a past revision, then continues live", async () => {
    const { kv, hub } = setup();
    await kv.put(putReq("k", "1")); // 2
    await kv.put(putReq("k", "2")); // 3
    const c = collector();
    hub.watch({ key: b("k"), end: undefined, startRev: 3, ...opts, prevKv: true }, c.sink);
    await tick();
    await kv.put(putReq("k", "3")); // 4
    await tick();
    assert.deepEqual(c.events(), ["put:k@3", "put:k@4"]);
    assert.equal(s(c.batches[0]?.events[0]?.prevKv?.value ?? b("")), "1");
  });

  it("compactAll ends every watcher, synced, unsynced and later ones, as compacted", async () => {
    const { kv, hub } = setup();
    await kv.put(putReq("a", "1"));
    const single = collector();
    const range = collector();
    const behind = collector();
    hub.watch({ key: b("a"), end: undefined, startRev: 0, ...opts }, single.sink);
    hub.watch({ key: b("a"), end: "infinity", startRev: 0, ...opts }, range.sink);
    hub.watch({ key: b("a"), end: "infinity", startRev: 1, ...opts }, behind.sink);
    hub.compactAll(7);
    for (const c of [single, range, behind]) assert.equal(c.compactedAt(), 7);
    assert.equal(hub.watcherCount(), 0);
    await kv.put(putReq("a", "2"));
    await tick();
    for (const c of [single, range, behind]) assert.deepEqual(c.events(), [], "no event after");
    const later = collector();
    hub.watch({ key: b("a"), end: undefined, startRev: 0, ...opts }, later.sink);
    await tick();
    assert.equal(later.compactedAt(), 7);
    assert.deepEqual(later.events(), []);
    assert.equal(hub.watcherCount(), 0);
  });

  // One key's watchers: held alone, then in a Set, then alone again as they come and go.
  const sameKey: Array<{ name: string; ops: Array<["watch" | "cancel", number]>; get: number[] }> =
    [
      { name: "one", ops: [["watch", 0]], get: [0] },
      {
        name: "two",
        ops: [
          ["watch", 0],
          ["watch", 1],
        ],
        get: [0, 1],
      },
      {
        name: "two, the first cancelled",
        ops: [
          ["watch", 0],
          ["watch", 1],
          ["cancel", 0],
        ],
        get: [1],
      },
      {
        name: "three, down to one, then another",
        ops: [
          ["watch", 0],
          ["watch", 1],
          ["watch", 2],
          ["cancel", 2],
          ["cancel", 0],
          ["watch", 3],
        ],
        get: [1, 3],
      },
      {
        name: "all cancelled, then a new one",
        ops: [
          ["watch", 0],
          ["watch", 1],
          ["cancel", 1],
          ["cancel", 0],
          ["cancel", 0],
          ["watch", 2],
        ],
        get: [2],
      },
    ];
  for (const c of sameKey) {
    it(`watchers of one key: ${c.name}`, async () => {
      const { kv, hub } = setup();
      const sinks = [0, 1, 2, 3].map(() => collector());
      const other = collector();
      hub.watch({ key: b("other"), end: undefined, startRev: 0, ...opts }, other.sink);
      const watchers = new Map<number, Watcher>();
      for (const [op, i] of c.ops) {
        if (op === "watch") {
          const sink = sinks[i]?.sink as WatchSink;
          watchers.set(i, hub.watch({ key: b("k"), end: undefined, startRev: 0, ...opts }, sink));
        } else watchers.get(i)?.cancel();
      }
      assert.equal(hub.watcherCount(), c.get.length + 1);
      await kv.put(putReq("k", "v"));
      await kv.put(putReq("other", "v"));
      await tick();
      for (const [i, sink] of sinks.entries()) {
        assert.deepEqual(sink.events(), c.get.includes(i) ? ["put:k@2"] : [], `watcher ${i}`);
      }
      assert.deepEqual(other.events(), ["put:other@3"]);
    });
  }

  it("reports compaction for a start below the compact revision", async () => {
    const { kv, hub } = setup();
    for (let i = 0; i < 4; i++) await kv.put(putReq("k", `${i}`)); // 2..5
    await kv.compact({ revision: 4n, physical: true });
    const c = collector();
    hub.watch({ key: b("k"), end: undefined, startRev: 2, ...opts }, c.sink);
    await tick();
    assert.equal(c.compactedAt(), 4);
    assert.equal(hub.watcherCount(), 0);
  });

  it("a slow consumer falls behind, then catches up from history without loss or duplicates", async () => {
    const { kv, hub } = setup();
    const c = collector(2);
    const w = hub.watch({ key: b("k"), end: undefined, startRev: 0, ...opts }, c.sink);
    for (let i = 0; i < 10; i++) await kv.put(putReq("k", `${i}`)); // 2..11
    assert.equal(w.synced(), false);
    assert.ok(c.batches.length < 10);
    for (let i = 0; i < 10 && !w.synced(); i++) {
      c.drain();
      await tick();
    }
    assert.equal(w.synced(), true);
    const revs = c.batches.flatMap((x) => x.events.map((e) => Number(e.kv.modRevision)));
    assert.deepEqual(revs, [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it("catch-up batches stop near maxBatchBytes, at whole revisions, and lose nothing", async () => {
    const store = openKvStore({ backend: createMemoryBackend() });
    const kv = createKvApplier({ store });
    const hub = createWatchHub({ store, syncIntervalMs: 5, maxBatchBytes: 3000 });
    hub.start();
    const big = "v".repeat(1000);
    for (let i = 0; i < 20; i++) await kv.put(putReq(`k${i % 3}`, big)); // 2..21
    const c = collector();
    hub.watch({ key: b("k"), end: b("l"), startRev: 2, ...opts }, c.sink);
    for (let i = 0; i < 20 && c.events().length < 20; i++) await tick();
    const revs = c.batches.flatMap((x) => x.events.map((e) => Number(e.kv.modRevision)));
    assert.deepEqual(
      revs,
      Array.from({ length: 20 }, (_, i) => i + 2),
    );
    // 1000-byte values, 3000 bytes a read: each batch holds three or four revisions, not all 20.
    assert.ok(c.batches.length >= 5, `${c.batches.length} batches`);
    for (const batch of c.batches) assert.ok(batch.events.length <= 4, `${batch.events.length}`);
    hub.close();
  });

  // A write of one change and a txn of several reach the watchers of a key
  // by different paths; each watcher must get the same shape from both.
  for (const [what, changes] of [
    ["one change a write", 1],
    ["a txn of two changes", 2],
  ] as const) {
    it(`plain, prev_kv, NOPUT, NODELETE and range watchers alike: ${what}`, async () => {
      const { kv, hub } = setup();
      await kv.put(putReq("k", "old")); // 2
      const shapes = {
        plain: { key: b("k"), end: undefined, ...opts },
        prevKv: { key: b("k"), end: undefined, ...opts, prevKv: true },
        noPut: { key: b("k"), end: undefined, ...opts, noPut: true },
        noDelete: { key: b("k"), end: undefined, ...opts, noDelete: true },
        range: { key: b("a"), end: "infinity" as const, ...opts },
      };
      const seen = Object.fromEntries(
        Object.entries(shapes).map(([name, o]) => {
          const c = collector();
          hub.watch({ ...o, startRev: 0 }, c.sink);
          return [name, c];
        }),
      );
      const del = { key: b("k"), rangeEnd: new Uint8Array(0), prevKv: false };
      if (changes === 1) {
        await kv.put(putReq("k", "new")); // 3
        await kv.deleteRange(del); // 4
      } else {
        await kv.txn({
          compare: [],
          success: [
            { request: { case: "requestPut", value: putReq("k", "new") } },
            { request: { case: "requestPut", value: putReq("z", "z") } },
          ],
          failure: [],
        }); // 3
        await kv.txn({
          compare: [],
          success: [
            { request: { case: "requestDeleteRange", value: del } },
            { request: { case: "requestPut", value: putReq("y", "y") } },
          ],
          failure: [],
        }); // 4
      }
      await tick();
      const mine = (name: string) => (seen[name]?.events() ?? []).filter((e) => e.includes(":k@"));
      assert.deepEqual(mine("plain"), ["put:k@3", "delete:k@4"]);
      assert.deepEqual(mine("prevKv"), ["put:k@3", "delete:k@4"]);
      assert.deepEqual(
        seen.prevKv?.batches.map((x) => s(x.events[0]?.prevKv?.value ?? b("-"))),
        ["old", "new"],
      );
      assert.equal(seen.plain?.batches[0]?.events[0]?.prevKv, undefined);
      assert.deepEqual(mine("noPut"), ["delete:k@4"]);
      assert.deepEqual(mine("noDelete"), ["put:k@3"]);
      assert.deepEqual(mine("range"), ["put:k@3", "delete:k@4"]);
      assert.deepEqual(
        seen.range?.batches.map((x) => x.rev),
        [3, 4],
      );
    });
  }

  it("filters and future starts", async () => {
    const { kv, hub } = setup();
    const c = collector();
    hub.watch({ key: b("k"), end: undefined, startRev: 4, ...opts, noDelete: true }, c.sink);
    await kv.put(putReq("k", "1")); // 2
    await kv.deleteRange({ key: b("k"), rangeEnd: new Uint8Array(0), prevKv: false }); // 3
    await kv.put(putReq("k", "2")); // 4
    await kv.deleteRange({ key: b("k"), rangeEnd: new Uint8Array(0), prevKv: false }); // 5
    await tick();
    assert.deepEqual(c.events(), ["put:k@4"]);
  });
});
