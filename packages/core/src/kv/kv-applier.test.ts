import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMemoryBackend } from "../backend/memory-backend.js";
import { errCompacted, errFutureRev, errKeyNotFound, errLeaseNotFound } from "../errors.js";
import { openKvStore } from "../mvcc/kv-store.js";
import { b, putReq, rangeReq, s, txnReq } from "../test-util.js";
import {
  CompareResult,
  CompareTarget,
  type KeyValue,
  type RangeRequest,
  SortOrder,
  SortTarget,
} from "../types.js";
import { createKvApplier } from "./kv-applier.js";

function setup() {
  const store = openKvStore({ backend: createMemoryBackend() });
  return { store, kv: createKvApplier({ store }) };
}
const all = new Uint8Array([0]);

describe("revisions", () => {
  it("start at 1 and grow by one per effective write", async () => {
    const { kv } = setup();
    assert.equal((await kv.range(rangeReq("a"))).header.revision, 1n);
    assert.equal((await kv.put(putReq("a", "1"))).header.revision, 2n);
    assert.equal((await kv.put(putReq("a", "1"))).header.revision, 3n); // same value still bumps
    // deleting a missing key does not bump
    const d0 = await kv.deleteRange({ key: b("zz"), rangeEnd: new Uint8Array(0), prevKv: false });
    assert.deepEqual([d0.deleted, d0.header.revision], [0n, 3n]);
    const d1 = await kv.deleteRange({ key: b("a"), rangeEnd: new Uint8Array(0), prevKv: true });
    assert.deepEqual([d1.deleted, d1.header.revision], [1n, 4n]);
    assert.equal(s(d1.prevKvs[0]?.value ?? b("")), "1");
  });

  it("tracks create_revision, mod_revision and version across delete and re-create", async () => {
    const { kv } = setup();
    await kv.put(putReq("k", "a")); // 2
    await kv.put(putReq("k", "b")); // 3
    let r = await kv.range(rangeReq("k"));
    assert.deepEqual(
      [r.kvs[0]?.createRevision, r.kvs[0]?.modRevision, r.kvs[0]?.version],
      [2n, 3n, 2n],
    );
    await kv.deleteRange({ key: b("k"), rangeEnd: new Uint8Array(0), prevKv: false }); // 4
    await kv.put(putReq("k", "c")); // 5
    r = await kv.range(rangeReq("k"));
    assert.deepEqual(
      [r.kvs[0]?.createRevision, r.kvs[0]?.modRevision, r.kvs[0]?.version],
      [5n, 5n, 1n],
    );
    // history reads
    assert.equal(s((await kv.range(rangeReq("k", { revision: 3n }))).kvs[0]?.value ?? b("")), "b");
    assert.equal((await kv.range(rangeReq("k", { revision: 4n }))).kvs.length, 0);
    assert.equal((await kv.range(rangeReq("k", { revision: 1n }))).kvs.length, 0);
    await assert.rejects(kv.range(rangeReq("k", { revision: 6n })), (e) => e === errFutureRev);
  });
});

describe("range", () => {
  const keys = ["a", "b", "c", "d", "e"];
  const cases: Array<{
    name: string;
    req: ReturnType<typeof rangeReq>;
    want: string[];
    count: number;
    more: boolean;
  }> = [
    { name: "single key", req: rangeReq("c"), want: ["c"], count: 1, more: false },
    { name: "missing key", req: rangeReq("cc"), want: [], count: 0, more: false },
    {
      name: "[b, d)",
      req: rangeReq("b", { rangeEnd: b("d") }),
      want: ["b", "c"],
      count: 2,
      more: false,
    },
    {
      name: "from key",
      req: rangeReq("c", { rangeEnd: all }),
      want: ["c", "d", "e"],
      count: 3,
      more: false,
    },
    {
      name: "all with \\0",
      req: rangeReq("\0", { rangeEnd: all }),
      want: keys,
      count: 5,
      more: false,
    },
    {
      name: "empty range",
      req: rangeReq("d", { rangeEnd: b("b") }),
      want: [],
      count: 0,
      more: false,
    },
    {
      name: "limit",
      req: rangeReq("a", { rangeEnd: all, limit: 2n }),
      want: ["a", "b"],
      count: 5,
      more: true,
    },
    {
      name: "limit = count",
      req: rangeReq("a", { rangeEnd: all, limit: 5n }),
      want: keys,
      count: 5,
      more: false,
    },
    {
      name: "descend by key with limit",
      req: rangeReq("a", { rangeEnd: all, limit: 2n, sortOrder: SortOrder.DESCEND }),
      want: ["e", "d"],
      count: 5,
      more: true,
    },
    {
      name: "create target, order none → ascend",
      req: rangeReq("a", { rangeEnd: all, sortTarget: SortTarget.CREATE }),
      want: ["e", "a", "b", "c", "d"],
      count: 5,
      more: false,
    },
    {
      name: "value descend",
      req: rangeReq("a", {
        rangeEnd: all,
        sortTarget: SortTarget.VALUE,
        sortOrder: SortOrder.DESCEND,
      }),
      want: ["e", "d", "c", "b", "a"],
      count: 5,
      more: false,
    },
    {
      name: "count only",
      req: rangeReq("a", { rangeEnd: all, countOnly: true }),
      want: [],
      count: 5,
      more: false,
    },
    {
      name: "min mod revision",
      req: rangeReq("a", { rangeEnd: all, minModRevision: 5n }),
      want: ["c", "d", "e"],
      count: 5,
      more: false,
    },
    {
      name: "max create revision",
      req: rangeReq("a", { rangeEnd: all, maxCreateRevision: 3n }),
      want: ["a", "e"],
      count: 5,
      more: false,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const { kv } = setup();
      // e is written first, then a..d, then e again: e has the highest mod but lowest create
      await kv.put(putReq("e", "v1")); // 2
      for (const k of keys.slice(0, 4)) await kv.put(putReq(k, `v-${k}`)); // 3..6
      await kv.put(putReq("e", "z")); // 7
      const r = await kv.range(c.req);
      assert.deepEqual(
        r.kvs.map((kv) => s(kv.key)),
        c.want,
      );
      assert.equal(r.count, BigInt(c.count));
      assert.equal(r.more, c.more);
      assert.equal(r.header.revision, 7n);
    });
  }

  it("keys_only drops values", async () => {
    const { kv } = setup();
    await kv.put(putReq("a", "1"));
    const r = await kv.range(rangeReq("a", { keysOnly: true }));
    assert.equal(r.kvs[0]?.value.length, 0);
    assert.equal(s((await kv.range(rangeReq("a"))).kvs[0]?.value ?? b("")), "1");
  });
});

describe("put options", () => {
  it("ignore_value / ignore_lease need an existing key", async () => {
    const { kv, store } = setup();
    await assert.rejects(
      kv.put(putReq("x", "", { ignoreValue: true })),
      (e) => e === errKeyNotFound,
    );
    assert.equal(store.currentRev(), 1);
    await kv.put(putReq("x", "keep"));
    const r = await kv.put(putReq("x", "", { ignoreValue: true, prevKv: true }));
    assert.equal(s(r.prevKv?.value ?? b("")), "keep");
    assert.equal(s((await kv.range(rangeReq("x"))).kvs[0]?.value ?? b("")), "keep");
  });
  it("unknown lease is NotFound", async () => {
    const { kv } = setup();
    await assert.rejects(kv.put(putReq("x", "1", { lease: 5n })), (e) => e === errLeaseNotFound);
  });
});

describe("txn", () => {
  it("compares, branches, nested txns and one revision for all", async () => {
    const { kv } = setup();
    await kv.put(putReq("a", "1")); // 2
    const r = await kv.txn(
      txnReq({
        compare: [
          {
            result: CompareResult.EQUAL,
            target: CompareTarget.VALUE,
            key: b("a"),
            targetUnion: { case: "value", value: b("1") },
            rangeEnd: new Uint8Array(0),
          },
          {
            result: CompareResult.EQUAL,
            target: CompareTarget.VERSION,
            key: b("missing"),
            targetUnion: { case: "version", value: 0n },
            rangeEnd: new Uint8Array(0),
          },
        ],
        success: [
          { request: { case: "requestPut", value: putReq("b", "2") } },
          { request: { case: "requestPut", value: putReq("c", "3") } },
          { request: { case: "requestRange", value: rangeReq("a", { rangeEnd: all }) } },
          {
            request: {
              case: "requestTxn",
              value: txnReq({
                compare: [
                  // evaluated before the txn: b does not exist yet
                  {
                    result: CompareResult.GREATER,
                    target: CompareTarget.CREATE,
                    key: b("b"),
                    targetUnion: { case: "createRevision", value: 0n },
                    rangeEnd: new Uint8Array(0),
                  },
                ],
                success: [{ request: { case: "requestPut", value: putReq("then", "x") } }],
                failure: [{ request: { case: "requestPut", value: putReq("else", "y") } }],
              }),
            },
          },
        ],
      }),
    );
    assert.equal(r.succeeded, true);
    assert.equal(r.header.revision, 3n);
    const range = r.responses[2]?.response;
    assert.equal(range?.case, "responseRange");
    if (range?.case === "responseRange") {
      assert.deepEqual(
        range.value.kvs.map((kv) => s(kv.key)),
        ["a", "b", "c"],
      );
      assert.equal(range.value.header.revision, 3n);
    }
    const nested = r.responses[3]?.response;
    assert.equal(nested?.case, "responseTxn");
    if (nested?.case === "responseTxn") {
      assert.equal(nested.value.succeeded, false);
      assert.deepEqual(nested.value.header, {});
    }
    const all3 = await kv.range(rangeReq("a", { rangeEnd: all }));
    assert.deepEqual(
      all3.kvs.map((kv) => [s(kv.key), kv.modRevision]),
      [
        ["a", 2n],
        ["b", 3n],
        ["c", 3n],
        ["else", 3n],
      ],
    );
  });

  it("value compare on a missing key fails; read-only txn does not bump", async () => {
    const { kv } = setup();
    const r = await kv.txn(
      txnReq({
        compare: [
          {
            result: CompareResult.NOT_EQUAL,
            target: CompareTarget.VALUE,
            key: b("nope"),
            targetUnion: { case: "value", value: b("x") },
            rangeEnd: new Uint8Array(0),
          },
        ],
        failure: [{ request: { case: "requestRange", value: rangeReq("nope") } }],
      }),
    );
    assert.equal(r.succeeded, false);
    assert.equal(r.header.revision, 1n);
  });

  it("range revision errors come before any write", async () => {
    const { kv, store } = setup();
    await assert.rejects(
      kv.txn(
        txnReq({
          success: [
            { request: { case: "requestPut", value: putReq("a", "1") } },
            { request: { case: "requestRange", value: rangeReq("a", { revision: 9n }) } },
          ],
        }),
      ),
      (e) => e === errFutureRev,
    );
    assert.equal(store.currentRev(), 1);
  });
});

describe("compaction", () => {
  it("errors exactly as etcd and keeps reads at the compact revision", async () => {
    const { kv } = setup();
    for (let i = 0; i < 5; i++) await kv.put(putReq("k", `${i}`)); // 2..6
    await assert.rejects(kv.compact({ revision: 7n, physical: false }), (e) => e === errFutureRev);
    const c = await kv.compact({ revision: 4n, physical: true });
    assert.equal(c.header.revision, 6n);
    await assert.rejects(kv.compact({ revision: 4n, physical: false }), (e) => e === errCompacted);
    await assert.rejects(kv.compact({ revision: 3n, physical: false }), (e) => e === errCompacted);
    assert.equal(s((await kv.range(rangeReq("k", { revision: 4n }))).kvs[0]?.value ?? b("")), "2");
    await assert.rejects(kv.range(rangeReq("k", { revision: 3n })), (e) => e === errCompacted);
    await kv.compact({ revision: 6n, physical: true }); // compacting at current is allowed
    assert.equal(s((await kv.range(rangeReq("k"))).kvs[0]?.value ?? b("")), "4");
  });
  it("on a fresh store revision 0 compacts once, then is compacted", async () => {
    const { kv } = setup();
    await kv.compact({ revision: 0n, physical: false });
    await assert.rejects(kv.compact({ revision: 0n, physical: false }), (e) => e === errCompacted);
  });
});

describe("sorted and filtered ranges", () => {
  /** A memory backend that counts record reads (the `key` bucket). */
  function countingSetup() {
    const backend = createMemoryBackend();
    let reads = 0;
    const counted = {
      ...backend,
      get(bucket: string, key: Uint8Array) {
        if (bucket === "key") reads++;
        return backend.get(bucket, key);
      },
    };
    const store = openKvStore({ backend: counted });
    return { store, kv: createKvApplier({ store }), reads: () => reads };
  }

  /** The reference: every key-value of the range, then etcd's filters, sort and limit. */
  function reference(kvs: KeyValue[], r: RangeRequest) {
    const fetchAll =
      r.sortOrder !== SortOrder.NONE ||
      r.minModRevision !== 0n ||
      r.maxModRevision !== 0n ||
      r.minCreateRevision !== 0n ||
      r.maxCreateRevision !== 0n;
    // etcd's quirk: without sort order or filters it fetches limit + 1 keys in key
    // order and sorts only those (a non-KEY target then sorts ascending).
    const fetched = fetchAll || r.limit === 0n ? kvs : kvs.slice(0, Number(r.limit) + 1);
    let out = fetched.filter(
      (kv) =>
        (r.maxModRevision === 0n || kv.modRevision <= r.maxModRevision) &&
        (r.minModRevision === 0n || kv.modRevision >= r.minModRevision) &&
        (r.maxCreateRevision === 0n || kv.createRevision <= r.maxCreateRevision) &&
        (r.minCreateRevision === 0n || kv.createRevision >= r.minCreateRevision),
    );
    const field = {
      [SortTarget.KEY]: (kv: KeyValue) => s(kv.key),
      [SortTarget.VERSION]: (kv: KeyValue) => kv.version,
      [SortTarget.CREATE]: (kv: KeyValue) => kv.createRevision,
      [SortTarget.MOD]: (kv: KeyValue) => kv.modRevision,
    }[r.sortTarget as 0 | 1 | 2 | 3];
    const desc = r.sortOrder === SortOrder.DESCEND;
    if (
      field !== undefined &&
      (r.sortOrder !== SortOrder.NONE || r.sortTarget !== SortTarget.KEY)
    ) {
      out = [...out].sort((a, b) => {
        const x = field(a);
        const y = field(b);
        const c = x < y ? -1 : x > y ? 1 : 0;
        return desc ? -c : c;
      });
    }
    const more = r.limit > 0n && out.length > Number(r.limit);
    return {
      keys: out.slice(0, r.limit > 0n ? Number(r.limit) : undefined).map((kv) => s(kv.key)),
      more,
    };
  }

  it("match a plain filter-and-sort at the current and past revisions, incl. re-created keys", async () => {
    const { kv } = countingSetup();
    // History: keys created in a shuffled order, some updated, one deleted and re-created.
    for (const k of ["p/c", "p/a", "p/e", "p/b", "p/d"]) await kv.put(putReq(k, `v-${k}`));
    await kv.put(putReq("p/a", "again"));
    const mid = (await kv.range(rangeReq("p/"))).header.revision;
    await kv.deleteRange({ key: b("p/e"), rangeEnd: new Uint8Array(0), prevKv: false });
    await kv.put(putReq("p/e", "reborn"));
    await kv.put(putReq("p/c", "twice"));
    const pEnd = b("p0");
    for (const revision of [0n, mid]) {
      const everything = (await kv.range(rangeReq("p/", { rangeEnd: pEnd, revision }))).kvs;
      for (const sortTarget of [
        SortTarget.KEY,
        SortTarget.VERSION,
        SortTarget.CREATE,
        SortTarget.MOD,
      ]) {
        for (const sortOrder of [SortOrder.NONE, SortOrder.ASCEND, SortOrder.DESCEND]) {
          for (const filter of [{}, { maxCreateRevision: 4n }, { minModRevision: 5n }]) {
            for (const limit of [0n, 1n, 2n]) {
              const r = rangeReq("p/", {
                rangeEnd: pEnd,
                revision,
                sortTarget,
                sortOrder,
                limit,
                ...filter,
              });
              const got = await kv.range(r);
              const want = reference(everything, r);
              const label = JSON.stringify(
                { revision, sortTarget, sortOrder, filter, limit },
                (_k, v) => (typeof v === "bigint" ? Number(v) : v),
              );
              assert.deepEqual({ keys: got.kvs.map((x) => s(x.key)), more: got.more }, want, label);
              assert.equal(got.count, BigInt(everything.length), label);
              // Returned key-values are complete, as a plain read gives them.
              for (const x of got.kvs) {
                const plain = everything.find((e) => s(e.key) === s(x.key));
                assert.deepEqual(x, plain, label);
              }
            }
          }
        }
      }
    }
  });

  it("read only the records they return when sorting by a revision at the current revision", async () => {
    const { kv, reads } = countingSetup();
    for (let i = 0; i < 8; i++) await kv.put(putReq(`lock/${i}`, ""));
    const before = reads();
    // etcd's Mutex asks for the newest key created before its own, limit 1.
    const r = await kv.range(
      rangeReq("lock/", {
        rangeEnd: b("lock0"),
        sortTarget: SortTarget.CREATE,
        sortOrder: SortOrder.DESCEND,
        maxCreateRevision: 6n,
        limit: 1n,
      }),
    );
    assert.deepEqual(
      [s(r.kvs[0]?.key ?? b("")), r.kvs[0]?.createRevision, r.count],
      ["lock/4", 6n, 8n],
    );
    assert.ok(reads() - before <= 1, `read ${reads() - before} records for one result`);
  });
});

describe("mvcc stats (etcd_mvcc_*_total, etcd_debugging_mvcc_keys_total)", () => {
  // Each expected step was measured on etcd 3.4.23 with the same requests.
  const version = (key: string) => ({
    key: b(key),
    rangeEnd: new Uint8Array(0),
    target: CompareTarget.VERSION,
    result: CompareResult.GREATER,
    targetUnion: { case: "version" as const, value: 0n },
  });
  const stats = (store: ReturnType<typeof setup>["store"]) => {
    const { ranges, puts, deletes, txns } = store.stats();
    return { ranges, puts, deletes, txns, keys: store.keyCount() };
  };

  it("counts ranges, puts, deletes and multi-call txns as etcd's mvcc does", async () => {
    const { store, kv } = setup();
    await kv.put(putReq("a", "1"));
    assert.deepEqual(stats(store), { ranges: 0, puts: 1, deletes: 0, txns: 0, keys: 1 });
    // prev_kv reads in the put's write txn: a range, and a txn of two calls.
    await kv.put(putReq("a", "2", { prevKv: true }));
    assert.deepEqual(stats(store), { ranges: 1, puts: 2, deletes: 0, txns: 1, keys: 1 });
    await kv.range(rangeReq("a"));
    assert.deepEqual(stats(store), { ranges: 2, puts: 2, deletes: 0, txns: 1, keys: 1 });
    // A delete that finds nothing still counts; the live key count drops at a delete.
    await kv.deleteRange({ key: b("zz"), rangeEnd: new Uint8Array(0), prevKv: false });
    await kv.deleteRange({ key: b("a"), rangeEnd: new Uint8Array(0), prevKv: false });
    assert.deepEqual(stats(store), { ranges: 2, puts: 2, deletes: 2, txns: 1, keys: 0 });
    await kv.put(putReq("b", "1"));
    await kv.put(putReq("c", "1"));
    assert.deepEqual(stats(store), { ranges: 2, puts: 4, deletes: 2, txns: 1, keys: 2 });
    // One compare (read txn: 1 call), one put (write txn: 1 call): no txn.
    await kv.txn(
      txnReq({
        compare: [version("b")],
        success: [{ request: { case: "requestPut", value: putReq("c", "2") } }],
      }),
    );
    assert.deepEqual(stats(store), { ranges: 3, puts: 5, deletes: 2, txns: 1, keys: 2 });
    // Two compares (a read txn of 2), two puts and a range (a write txn of 3).
    await kv.txn(
      txnReq({
        compare: [version("b"), version("c")],
        success: [
          { request: { case: "requestPut", value: putReq("d", "1") } },
          { request: { case: "requestPut", value: putReq("e", "1") } },
          { request: { case: "requestRange", value: rangeReq("d") } },
        ],
      }),
    );
    assert.deepEqual(stats(store), { ranges: 6, puts: 7, deletes: 2, txns: 3, keys: 4 });
    // Read-only: the compare and the range share one read txn.
    await kv.txn(
      txnReq({
        compare: [version("b")],
        success: [{ request: { case: "requestRange", value: rangeReq("d") } }],
      }),
    );
    assert.deepEqual(stats(store), { ranges: 8, puts: 7, deletes: 2, txns: 4, keys: 4 });
    // Compaction reads its header's revision with a range, as etcd does.
    await kv.compact({ revision: BigInt(store.currentRev()), physical: false });
    assert.deepEqual(stats(store), { ranges: 9, puts: 7, deletes: 2, txns: 4, keys: 4 });
  });

  it("counts live keys after a restart, not tombstoned ones", async () => {
    const backend = createMemoryBackend();
    const store = openKvStore({ backend });
    const kv = createKvApplier({ store });
    for (const k of ["a", "b", "c"]) await kv.put(putReq(k, "1"));
    await kv.deleteRange({ key: b("b"), rangeEnd: new Uint8Array(0), prevKv: false });
    await kv.put(putReq("a", "2"));
    assert.equal(store.keyCount(), 2);
    await store.close();
    assert.equal(openKvStore({ backend }).keyCount(), 2);
  });
});
