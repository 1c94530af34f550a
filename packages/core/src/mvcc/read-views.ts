import type { RangeEnd } from "@conclave/wire";
import { errCompacted, errFutureRev } from "../errors.js";
import type { KeyValue } from "../types.js";
import type { VisibleRevision } from "./key-index.js";
import { bytesToKeyString, keyStringToBytes } from "./key-string.js";
import type { KeyMeta, RangeMetaResult, RangeOptions, RangeResult, ReadView } from "./kv-store.js";
import { countTxnCall } from "./mvcc-stats.js";
import { loadRecord, type StoreState } from "./store-state.js";

/**
 * The store's reads (etcd's kvstore_txn.go `rangeKeys`): the index says which
 * revision of each key is visible, the record comes from the pending writes or
 * the backend. `curRev` is the revision of the view or write txn reading.
 */
export interface ReadViews {
  range(key: Uint8Array, end: RangeEnd, curRev: number, ro: RangeOptions | undefined): RangeResult;
  rangeMeta(
    key: Uint8Array,
    end: RangeEnd,
    curRev: number,
    ro: { rev?: number } | undefined,
  ): RangeMetaResult;
  /**
   * A read view at `atRev`, counted in the store's stats as one read txn
   * (etcd's metricsTxnRead): each range, and the view once it ranged twice.
   */
  view(atRev: number): ReadView;
}

/** Each result gets a copy of its own, so callers cannot change a pending record. */
function copyKv(kv: KeyValue): KeyValue {
  return { ...kv };
}

/**
 * A key's latest revision as {@link ReadView.rangeMeta} lists it: each field
 * made when first read. Why lazily: etcd's lock and election recipes sort a
 * prefix by creation revision and keep one key, on every acquisition, so
 * most keys of the range are only compared on one field and never returned
 * (the key's bytes, three bigints and a closure per key were ~13 KB per Go
 * clientv3 lock acquisition; BENCHMARKS.md, "The lock's prefix ranges").
 */
class LatestKeyMeta implements KeyMeta {
  private keyBytes: Uint8Array | undefined = undefined;
  private mod: bigint | undefined = undefined;
  private created: bigint | undefined = undefined;
  private ver: bigint | undefined = undefined;

  constructor(
    private readonly name: string,
    private readonly r: VisibleRevision,
    private readonly loadRecord: (r: VisibleRevision) => { kv: KeyValue },
  ) {}

  get key(): Uint8Array {
    this.keyBytes ??= keyStringToBytes(this.name);
    return this.keyBytes;
  }
  get modRevision(): bigint {
    this.mod ??= BigInt(this.r.main);
    return this.mod;
  }
  get createRevision(): bigint {
    this.created ??= BigInt(this.r.created);
    return this.created;
  }
  get version(): bigint {
    this.ver ??= BigInt(this.r.version);
    return this.ver;
  }
  load(): KeyValue {
    return copyKv(this.loadRecord(this.r).kv);
  }
}

export function createReadViews(state: StoreState): ReadViews {
  const { index } = state;
  const load = (r: VisibleRevision) => loadRecord(state, r);

  /** The revision a read asks for (≤ 0: the view's), checked as etcd's mvcc checks it. */
  function readRev(requested: number, curRev: number): number {
    if (requested > curRev) throw errFutureRev;
    const rev = requested <= 0 ? curRev : requested;
    if (rev < state.compactMain) throw errCompacted;
    return rev;
  }

  function range(
    key: Uint8Array,
    end: RangeEnd,
    curRev: number,
    ro: RangeOptions | undefined,
  ): RangeResult {
    const rev = readRev(ro?.rev ?? 0, curRev);
    const limit = ro?.limit ?? 0;
    const countOnly = ro?.countOnly ?? false;
    const start = bytesToKeyString(key);
    const kvs: KeyValue[] = [];
    let count = 0;
    if (end === undefined) {
      const r = index.get(start, rev);
      if (r !== undefined) {
        count = 1;
        if (!countOnly) kvs.push(copyKv(load(r).kv));
      }
      return { kvs, count, rev: curRev };
    }
    const endKey = end === "infinity" ? null : bytesToKeyString(end);
    index.range(start, endKey, rev, (_k, r) => {
      count++;
      if (!countOnly && (limit <= 0 || kvs.length < limit)) kvs.push(copyKv(load(r).kv));
      return true;
    });
    return { kvs, count, rev: curRev };
  }

  function rangeMeta(
    key: Uint8Array,
    end: RangeEnd,
    curRev: number,
    ro: { rev?: number } | undefined,
  ): RangeMetaResult {
    const rev = readRev(ro?.rev ?? 0, curRev);
    const metas: KeyMeta[] = [];
    const visit = (k: string, r: VisibleRevision) => {
      if (r.latest) {
        // The latest revision: the index's creation revision and version are its own.
        metas.push(new LatestKeyMeta(k, r, load));
      } else {
        const kv = copyKv(load(r).kv);
        metas.push({ ...kv, load: () => kv });
      }
    };
    const start = bytesToKeyString(key);
    if (end === undefined) {
      const r = index.get(start, rev);
      if (r !== undefined) visit(start, r);
    } else {
      const endKey = end === "infinity" ? null : bytesToKeyString(end);
      index.range(start, endKey, rev, (k, r) => {
        visit(k, r);
        return true;
      });
    }
    return { metas, rev: curRev };
  }

  return {
    range,
    rangeMeta,
    view(atRev) {
      const { stats } = state;
      let calls = 0;
      return {
        rev: () => atRev,
        firstRev: () => state.compactMain,
        range(key, end, ro) {
          // Counted before the read, which may throw: etcd counts failed ranges too.
          stats.ranges++;
          calls = countTxnCall(stats, calls);
          return range(key, end, atRev, ro);
        },
        rangeMeta(key, end, ro) {
          stats.ranges++;
          calls = countTxnCall(stats, calls);
          return rangeMeta(key, end, atRev, ro);
        },
      };
    },
  };
}
