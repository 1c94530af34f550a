// etcd's v3lock locks and v3election elections (what `etcdctl lock`,
// `etcdctl elect`, clientv3/concurrency and jetcd create) have no registry:
// each waiter or candidate is one key `<name>/<lease ID in hex>` attached to
// that very lease, and whoever's key has the lowest create revision holds
// the lock (leads). The dashboard recognises such keys by that shape and
// groups them by `<name>`. A v3election candidate's key holds its proposal
// (the value), a v3lock key is empty: a group where some key has a value is
// shown as an election, otherwise as a lock. It is a heuristic — any
// ordinary key that happens to have that shape shows up too.

import { internalPrefix } from "@conclave/wire";
import { leaseHex, utf8OrUndefined } from "./format.js";

/** The parts of an mvccpb.KeyValue the grouping needs. */
export interface LockKv {
  key: Uint8Array;
  value: Uint8Array;
  lease: bigint;
  createRevision: bigint;
  modRevision: bigint;
}

/** One lock or v3 election: the holder (or leader) first, then waiters in line. */
export interface LockGroup<T extends LockKv = LockKv> {
  /** `<name>`: the key without its last `/<lease hex>` segment. */
  name: string;
  /** "election" when any key carries a value (a proposal), else "lock". */
  kind: "lock" | "election";
  /** The key with the lowest create revision. */
  holder: T;
  /** The other keys, by create revision. */
  waiters: T[];
}

/**
 * The lock/election name of a key shaped `<name>/<lease hex>` whose lease is
 * that ID, or undefined. Conclave's own keys (`__conclave/…`) never count.
 */
export function lockNameOf(kv: LockKv): string | undefined {
  if (kv.lease === 0n) return undefined;
  const key = utf8OrUndefined(kv.key);
  if (key === undefined || key.startsWith(internalPrefix)) return undefined;
  const slash = key.lastIndexOf("/");
  if (slash < 0 || key.slice(slash + 1) !== leaseHex(kv.lease)) return undefined;
  return key.slice(0, slash);
}

/** Groups lock-shaped keys by name (sorted by name); other keys are ignored. */
export function groupLockKeys<T extends LockKv>(kvs: Iterable<T>): LockGroup<T>[] {
  const byName = new Map<string, T[]>();
  for (const kv of kvs) {
    const name = lockNameOf(kv);
    if (name === undefined) continue;
    const list = byName.get(name);
    if (list === undefined) byName.set(name, [kv]);
    else list.push(kv);
  }
  const groups: LockGroup<T>[] = [];
  for (const [name, list] of byName) {
    list.sort((a, b) =>
      a.createRevision < b.createRevision ? -1 : a.createRevision > b.createRevision ? 1 : 0,
    );
    const [holder, ...waiters] = list;
    if (holder === undefined) continue;
    const kind = list.some((kv) => kv.value.length > 0) ? "election" : "lock";
    groups.push({ name, kind, holder, waiters });
  }
  return groups.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
