import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Backend, LocalBuckets } from "../backend/backend.js";
import { createMemoryBackend } from "../backend/memory-backend.js";
import {
  dropIndexCheckpointOps,
  encodeIndexCheckpoint,
  readIndexCheckpoint,
} from "./index-checkpoint.js";
import { createKeyIndex, type KeyIndex } from "./key-index.js";
import { type KvStore, type LeaseHooks, openKvStore } from "./kv-store.js";
import { restoreIndex } from "./restore-index.js";

/** Keys byte for byte (binary strings, as the index keys them), so 0xff is one byte. */
const bytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** The lease attachments the store reports, as the lessor would keep them. */
function leaseTable(): LeaseHooks & { attached: Map<string, bigint> } {
  const attached = new Map<string, bigint>();
  return {
    attached,
    leaseOf: (k) => attached.get(k) ?? 0n,
    onPut(k, lease) {
      if (lease === 0n) attached.delete(k);
      else attached.set(k, lease);
    },
    onDelete(k) {
      attached.delete(k);
    },
  };
}

type Step =
  | { put: string; lease?: bigint }
  | { puts: string[] }
  | { del: string; end?: string }
  | { compact: number };

async function apply(store: KvStore, steps: readonly Step[]): Promise<void> {
  for (const step of steps) {
    if ("compact" in step) {
      await (await store.compact(step.compact)).physical;
      continue;
    }
    await store.write((t) => {
      if ("put" in step) t.put(bytes(step.put), bytes("v"), step.lease ?? 0n);
      else if ("puts" in step) for (const k of step.puts) t.put(bytes(k), bytes("v"), 0n);
      else t.deleteRange(bytes(step.del), step.end === undefined ? undefined : bytes(step.end));
    }).durable;
  }
}

function dump(index: KeyIndex): Array<[string, number[]]> {
  const out: Array<[string, number[]]> = [];
  index.forEach((k, e) => {
    out.push([k, [...e]]);
  });
  return out;
}

/** Restores `backend` into a fresh index; with `scan`, after dropping the checkpoint. */
async function restore(backend: Backend, scan = false) {
  if (scan) await backend.commit(dropIndexCheckpointOps(readIndexCheckpoint(backend)?.chunks ?? 0));
  const index = createKeyIndex();
  const leases = leaseTable();
  const restored = restoreIndex(backend, index, leases);
  return { restored, index: dump(index), live: index.live, leases: [...leases.attached] };
}

/**
 * Each case: `before` is written and the store closed (which writes a
 * checkpoint), `after` is written by a reopened store that then stops
 * without closing (a kill -9: no checkpoint covers it). The index restored
 * from the checkpoint plus the replay must equal the one a full scan of
 * every record builds, and so must the revisions and the leases.
 */
const cases: Array<{ name: string; before: Step[]; after: Step[]; fromCheckpoint?: boolean }> = [
  { name: "an empty store", before: [], after: [] },
  { name: "single revisions, nothing after", before: [{ put: "a" }, { put: "b" }], after: [] },
  {
    name: "new keys after the checkpoint",
    before: [{ put: "b" }],
    after: [{ put: "a" }, { put: "c" }],
  },
  {
    name: "several generations: put, delete, put again, across the checkpoint",
    before: [{ put: "a" }, { put: "a" }, { del: "a" }, { put: "a" }],
    after: [{ put: "a" }, { del: "a" }, { put: "a" }, { put: "b" }, { del: "b" }],
  },
  {
    name: "a tombstone as the latest revision at the checkpoint",
    before: [{ put: "a" }, { del: "a" }],
    after: [{ put: "a" }],
  },
  {
    name: "sub-revisions: txns of several puts and range deletes",
    before: [{ puts: ["a", "b", "c"] }, { puts: ["c", "d"] }],
    after: [{ del: "a", end: "c" }, { puts: ["a", "e", "f"] }, { del: "\0", end: "\xff" }],
  },
  {
    name: "compacted before the checkpoint",
    before: [{ put: "a" }, { put: "a" }, { put: "b" }, { del: "b" }, { compact: 4 }],
    after: [{ put: "a" }, { put: "c" }],
  },
  {
    name: "compacted after the checkpoint: the checkpoint no longer fits",
    before: [{ put: "a" }, { put: "a" }, { put: "b" }],
    after: [{ put: "a" }, { del: "b" }, { compact: 5 }, { put: "c" }],
    fromCheckpoint: false,
  },
  {
    name: "leases: kept, replaced, dropped and deleted after the checkpoint",
    before: [
      { put: "a", lease: 7n },
      { put: "b", lease: 7n },
      { put: "c", lease: 8n },
      { put: "d", lease: 9n },
    ],
    after: [{ put: "b", lease: 9n }, { put: "c" }, { del: "d" }, { put: "e", lease: 8n }],
  },
  {
    name: "binary keys: NUL, 0xff, and a long key",
    before: [{ put: "\0" }, { put: "\xff\xfe" }, { put: "k".repeat(3000) }],
    after: [{ put: "\0\0" }, { del: "\xff\xfe" }],
  },
];

describe("restoreIndex", () => {
  for (const c of cases) {
    it(c.name, async () => {
      const backend = createMemoryBackend();
      let store = openKvStore({
        backend,
        leases: leaseTable(),
        indexCheckpoint: { enabled: true },
      });
      await apply(store, c.before);
      await store.close();
      store = openKvStore({ backend, leases: leaseTable(), indexCheckpoint: { enabled: true } });
      assert.equal(store.currentRev(), (await restore(backend)).restored.current);
      await apply(store, c.after);
      await store.barrier();

      const fromCheckpoint = await restore(backend);
      assert.equal(fromCheckpoint.restored.fromCheckpoint, c.fromCheckpoint ?? true);
      const scanned = await restore(backend, true);
      assert.equal(scanned.restored.fromCheckpoint, false);
      assert.deepEqual(fromCheckpoint.index, scanned.index);
      assert.equal(fromCheckpoint.live, scanned.live);
      assert.deepEqual(fromCheckpoint.leases.sort(), scanned.leases.sort());
      assert.equal(fromCheckpoint.restored.current, store.currentRev());
      assert.equal(scanned.restored.current, store.currentRev());
      assert.equal(scanned.restored.compactMain, store.compactRev());
    });
  }
});

const tick = () => new Promise((r) => setImmediate(r));

describe("index checkpoint", () => {
  /** A store of keys a..e (revisions 2..6), closed: its checkpoint covers revision 6. */
  async function closedStore() {
    const backend = createMemoryBackend();
    const store = openKvStore({ backend, indexCheckpoint: { enabled: true } });
    await apply(
      store,
      ["a", "b", "c", "d", "e"].map((put) => ({ put })),
    );
    await store.close();
    return backend;
  }

  it("is not written over the in-memory backend unless asked for (no start reads it again)", async () => {
    const backend = createMemoryBackend();
    const store = openKvStore({ backend, indexCheckpoint: { minRecords: 1 } });
    await apply(store, [{ put: "a" }, { put: "b" }]);
    await tick();
    await store.close();
    assert.equal(readIndexCheckpoint(backend), undefined);
  });

  it("is written at close and covers everything", async () => {
    const backend = await closedStore();
    assert.equal(readIndexCheckpoint(backend)?.rev, 6);
    const r = await restore(backend);
    assert.deepEqual([r.restored.fromCheckpoint, r.restored.recordsRead], [true, 0]);
  });

  it("is written once minRecords records piled up, and after a compaction", async () => {
    const backend = createMemoryBackend();
    const store = openKvStore({ backend, indexCheckpoint: { enabled: true, minRecords: 3 } });
    await apply(store, [{ put: "a" }, { put: "b" }]);
    await tick();
    assert.equal(readIndexCheckpoint(backend), undefined);
    await apply(store, [{ put: "c" }]);
    await tick();
    await store.barrier();
    assert.equal(readIndexCheckpoint(backend)?.rev, 4);
    await apply(store, [{ compact: 3 }]);
    await tick();
    await store.barrier();
    assert.deepEqual(
      [readIndexCheckpoint(backend)?.rev, readIndexCheckpoint(backend)?.compactRev],
      [4, 3],
    );
    assert.equal((await restore(backend)).restored.fromCheckpoint, true);
  });

  const damages: Array<{ name: string; damage: (backend: Backend) => Promise<void> }> = [
    {
      name: "a chunk whose checksum fails",
      damage: (backend) =>
        backend.commit([
          { bucket: LocalBuckets.indexCheckpoint, key: chunk0, value: new Uint8Array([1, 97]) },
        ]),
    },
    {
      name: "a missing chunk",
      damage: (backend) =>
        backend.commit([{ bucket: LocalBuckets.indexCheckpoint, key: chunk0, value: undefined }]),
    },
    {
      name: "a checkpoint ahead of the store",
      damage: async (backend) => {
        const index = createKeyIndex();
        restoreIndex(backend, index, undefined);
        await backend.commit(encodeIndexCheckpoint(index, undefined, 99, -1, 1).ops);
      },
    },
    {
      name: "a checkpoint the later records contradict",
      damage: async (backend) => {
        // The running store knows "c" (revision 4) and puts it again at 7, so
        // its record says version 2; a checkpoint at 6 without "c" makes the
        // replay of that put yield version 1.
        const store = openKvStore({ backend, indexCheckpoint: { enabled: true, minRecords: 1e9 } });
        const index = createKeyIndex();
        restoreIndex(backend, index, undefined);
        const lacking = createKeyIndex();
        const keys: string[] = [];
        const revisions: number[][] = [];
        index.forEach((k, e) => {
          if (k === "c") return;
          keys.push(k);
          revisions.push([...e]);
        });
        lacking.load(keys, revisions);
        await backend.commit(encodeIndexCheckpoint(lacking, undefined, 6, -1, 1).ops);
        await apply(store, [{ put: "c" }]);
        await store.barrier();
      },
    },
  ];
  const chunk0 = new Uint8Array([1, 0, 0, 0, 0]);
  for (const d of damages) {
    it(`is ignored for ${d.name}: the full scan runs`, async () => {
      const backend = await closedStore();
      await d.damage(backend);
      const r = await restore(backend);
      assert.equal(r.restored.fromCheckpoint, false);
      const scanned = await restore(backend, true);
      assert.deepEqual(r.index, scanned.index);
      assert.ok(r.index.some(([k]) => k === "c"));
    });
  }
});
