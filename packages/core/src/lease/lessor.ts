import { randomBytes } from "node:crypto";
import { type Backend, type BackendOp, Buckets } from "../backend/backend.js";
import { defaultLeaseGraceMs } from "../defaults.js";
import { errLeaseExists, errLeaseNotFound, errLeaseTTLTooLarge } from "../errors.js";
import { keyStringToBytes } from "../mvcc/key-string.js";
import type { KvStore, LeaseHooks, WriteResult } from "../mvcc/kv-store.js";
import type { LeaseLookup } from "./lease-lookup.js";
import { LeaseTable } from "./lease-table.js";

/** etcd's MaxLeaseTTL: 9,000,000,000 seconds. */
export const maxLeaseTtl = 9_000_000_000;

export interface LeaseInfo {
  id: bigint;
  /** Granted TTL in seconds. */
  ttl: number;
  /** Whole seconds left, rounded down (etcd's TimeToLive). */
  remaining: number;
  /** Attached keys, sorted. */
  keys: Uint8Array[];
}

/**
 * The lessor: grants leases, keeps them alive, revokes them and, when a lease
 * passes its deadline, revokes it — deleting its keys in one revision, so
 * watchers see ordinary DELETE events.
 */
export interface Lessor extends LeaseLookup, LeaseHooks {
  /** Grants a lease; `id` 0 picks a random positive int63. Durable when resolved. */
  grant(id: bigint, ttl: number): Promise<{ id: bigint; ttl: number }>;
  /**
   * Deletes the lease and its keys in one write; resolves with the revision
   * after it. `auth`, when given, is the caller's check on the keys the
   * revoke deletes: it runs inside that write, before its first change, so a
   * refusal leaves the lease and its keys as they were (etcd's
   * authApplierV3.LeaseRevoke).
   */
  revoke(id: bigint, auth?: LeaseRevokeAuthorizer): Promise<number>;
  /**
   * Restarts the lease's clock; resolves with its granted TTL, or rejects
   * with errLeaseNotFound. Asynchronous because the clock may live elsewhere
   * (a replica's leases run on PostgreSQL's clock).
   */
  renew(id: bigint): Promise<number>;
  /**
   * What this lessor knows of a lease, or undefined for an unknown one: its
   * keys always, and `remaining` exactly when it runs the lease's clock
   * itself; with an outside clock (`expireLocally: false`) `remaining` is an
   * estimate from the renewals seen here. For what a client asks, use
   * {@link Lessor.checkTimeToLive}.
   */
  timeToLive(id: bigint): LeaseInfo | undefined;
  /** etcd's LeaseTimeToLive: exact, from wherever the lease's clock lives. */
  checkTimeToLive(id: bigint): Promise<LeaseInfo | undefined>;
  /** The smallest TTL a grant gets (shorter ones are raised to it), in seconds. */
  readonly minTtl: number;
  /** Every lease ID, ascending. */
  leases(): bigint[];
  /** Counters since start (etcd_debugging_lease_* metrics). */
  stats(): { granted: number; revoked: number; renewed: number; expired: number };
  /** Binds the lessor to the store (after the store's restore) and starts expiring leases. */
  start(store: KvStore): void;
  /** Stops the expiry loop and writes pending deadlines. */
  close(): Promise<void>;
}

/** The caller's check on the keys a LeaseRevoke deletes (the server's RequestAuthorizer has it). */
export interface LeaseRevokeAuthorizer {
  leaseRevoke(keys: readonly Uint8Array[]): void;
  /** Who it checks for; see KvAuthorizer.caller. */
  readonly caller?: { username: string; revision: number } | undefined;
}

export interface LessorOptions {
  /**
   * Whether this lessor expires leases by its own clock (default true).
   * False for a replica over PostgreSQL: deadlines live in PostgreSQL, on its
   * clock, and expiry arrives as an ordinary log entry (`revoke`), so the
   * lessor keeps no timer and persists no deadline; `renew` and the
   * `remaining` of `timeToLive` are then the replica's to answer.
   */
  expireLocally?: boolean;
  backend: Backend;
  /**
   * Smallest TTL, in seconds; shorter grants are raised to it. Default 2, as
   * etcd's (1.5 × its default 1 s election timeout, rounded up).
   */
  minTtl?: number;
  /**
   * How often deadlines are checked, in ms. Default 50, so a lease is revoked
   * well within 100 ms of its deadline (etcd checks every 500 ms).
   */
  checkIntervalMs?: number;
  /**
   * Time a client gets to reconnect after a server restart, in ms. Default 10 s
   * (capped at the lease's TTL). See {@link createLessor} for the rule.
   */
  restartGraceMs?: number;
  /** How often renewed deadlines are written to disk, in ms. Default 1000. */
  persistIntervalMs?: number;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
  /** Told about each lease revoked because it expired. */
  onExpired?: (id: bigint, keys: number) => void;
}

function idToBytes(id: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, id);
  return b;
}

function encodeLease(ttl: number, deadline: number, graced: boolean): Uint8Array {
  const b = new Uint8Array(17);
  const v = new DataView(b.buffer);
  v.setFloat64(0, ttl);
  v.setFloat64(8, deadline);
  b[16] = graced ? 1 : 0;
  return b;
}

/**
 * The backend write that stores a lease restored from a snapshot (etcd's
 * `lease` bucket holds only ID and TTL). Its deadline is not set: the first
 * lessor to load it gives it its full TTL from then, as etcd does for every
 * lease at start, so a data dir built by `conclave snapshot restore` and
 * started later does not expire its leases at once.
 */
export function leaseRecordOp(id: bigint, ttl: number): BackendOp {
  return { bucket: Buckets.lease, key: idToBytes(id), value: encodeLease(ttl, notStarted, false) };
}

/** The deadline of a lease restored from a snapshot that no lessor has started yet. */
const notStarted = 0;

/**
 * Creates the lessor and loads persisted leases. Open the store with the
 * lessor as its `leases` hooks (so restored keys re-attach), then call
 * `start(store)`.
 *
 * Restart rule: a lease's deadline is persisted at grant and (at most every
 * `persistIntervalMs`) after keep-alives, so downtime counts against it. If at
 * start it has less than the grace left (default min(TTL, 10 s)), its deadline
 * becomes start + grace — but only once between two keep-alives: a lease that
 * already got grace and was not renewed since gets none. Restarting the server
 * therefore never keeps an abandoned lease alive for more than one grace
 * period (etcd resets every TTL to full on restart, etcd#9888).
 */
export function createLessor(options: LessorOptions): Lessor {
  const { backend } = options;
  const minTtl = options.minTtl ?? 2;
  const checkIntervalMs = options.checkIntervalMs ?? 50;
  const graceMs = options.restartGraceMs ?? defaultLeaseGraceMs;
  const expireLocally = options.expireLocally ?? true;
  const persistIntervalMs = options.persistIntervalMs ?? 1000;
  const now = options.now ?? Date.now;
  const leases = new LeaseTable();
  /**
   * Each attached key's lease: `leaseOfKey.get(k) === id` exactly when the
   * lease's slot holds k. The store asks it on every put and delete instead of
   * reading the key's old record from the backend.
   */
  const leaseOfKey = new Map<string, bigint>();
  const detach = (k: string, id: bigint) => {
    const s = leases.slot(id);
    if (s >= 0) leases.detach(s, k);
    if (leaseOfKey.get(k) === id) leaseOfKey.delete(k);
  };
  const counts = { granted: 0, revoked: 0, renewed: 0, expired: 0 };
  let store: KvStore | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lastPersist = 0;

  const startedAt = now();
  const restartOps: Array<{ bucket: string; key: Uint8Array; value: Uint8Array }> = [];
  for (const { key, value } of backend.range(Buckets.lease)) {
    const id = new DataView(key.buffer, key.byteOffset, 8).getBigInt64(0);
    const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
    const ttl = v.getFloat64(0);
    let deadline = v.getFloat64(8);
    let graced = value[16] === 1;
    const grace = Math.min(ttl * 1000, graceMs);
    let changed = false;
    if (deadline === notStarted) {
      deadline = startedAt + ttl * 1000;
      changed = true;
    } else if (expireLocally && !graced && deadline < startedAt + grace) {
      deadline = startedAt + grace;
      graced = true;
      changed = true;
    }
    if (changed) {
      restartOps.push({ bucket: Buckets.lease, key, value: encodeLease(ttl, deadline, graced) });
    }
    leases.add(id, ttl, deadline, graced);
  }

  /** The slot of a lease that exists (held and not being revoked), or -1. */
  const live = (id: bigint): number => {
    const s = leases.slot(id);
    return s >= 0 && !leases.revoking(s) ? s : -1;
  };

  function requireStore(): KvStore {
    if (store === undefined) throw new Error("lessor not started");
    return store;
  }

  async function persistDirty(): Promise<void> {
    if (!leases.hasDirty() || store === undefined) return;
    lastPersist = now();
    const w = store.write((txn) => {
      for (const s of leases.takeDirty()) {
        if (leases.revoking(s)) continue;
        const value = encodeLease(leases.ttl(s), leases.deadline(s), leases.graced(s));
        txn.stage({ bucket: Buckets.lease, key: idToBytes(leases.id(s)), value });
      }
    });
    await w.durable;
  }

  async function revoke(id: bigint, auth?: LeaseRevokeAuthorizer): Promise<number> {
    const s = requireStore();
    const slot = live(id);
    if (slot < 0) throw errLeaseNotFound;
    const keys = leases.sortedKeys(slot).map(keyStringToBytes);
    let w: WriteResult<void>;
    try {
      w = s.write((txn) => {
        auth?.leaseRevoke(keys);
        leases.setRevoking(slot, true);
        for (const k of keys) txn.deleteRange(k, undefined);
        txn.stage({ bucket: Buckets.lease, key: idToBytes(id), value: undefined });
      });
    } catch (err) {
      // Nothing was written: the lease stays, due again at its deadline.
      leases.setRevoking(slot, false);
      throw err;
    }
    leases.remove(slot);
    counts.revoked++;
    await w.durable;
    return w.rev;
  }

  function expire(): void {
    const t = now();
    // Earliest deadline first. Each leaves the heap here; a revoke refused
    // before its write puts it back, due again on the next check.
    const due: number[] = [];
    for (let slot = leases.popDue(t); slot >= 0; slot = leases.popDue(t)) due.push(slot);
    for (const slot of due) {
      const id = leases.id(slot);
      const n = leases.keyCount(slot);
      revoke(id).then(
        () => {
          counts.expired++;
          options.onExpired?.(id, n);
        },
        () => undefined,
      );
    }
    if (leases.hasDirty() && t - lastPersist >= persistIntervalMs) {
      persistDirty().catch(() => undefined);
    }
  }

  function timeToLive(id: bigint): LeaseInfo | undefined {
    const s = live(id);
    if (s < 0) return undefined;
    const remaining = Math.max(0, Math.floor((leases.deadline(s) - now()) / 1000));
    return { id, ttl: leases.ttl(s), remaining, keys: leases.sortedKeys(s).map(keyStringToBytes) };
  }

  return {
    exists: (id) => live(id) >= 0,
    leaseOf: (k) => leaseOfKey.get(k) ?? 0n,
    onPut(k, lease, oldLease) {
      if (oldLease !== 0n) detach(k, oldLease);
      if (lease === 0n) return;
      const s = leases.slot(lease);
      if (s >= 0) {
        leases.attach(s, k);
        leaseOfKey.set(k, lease);
      }
    },
    onDelete(k, lease) {
      if (lease !== 0n) detach(k, lease);
    },
    async grant(reqId, reqTtl) {
      const s = requireStore();
      if (reqTtl > maxLeaseTtl) throw errLeaseTTLTooLarge;
      let id = reqId;
      if (id === 0n) {
        do {
          id = randomBytes(8).readBigInt64BE(0) & 0x7fff_ffff_ffff_ffffn;
        } while (id === 0n || leases.slot(id) >= 0);
      }
      if (leases.slot(id) >= 0) throw errLeaseExists;
      const ttl = Math.max(reqTtl, minTtl);
      const deadline = now() + ttl * 1000;
      leases.add(id, ttl, deadline, false);
      const w = s.write((txn) => {
        txn.stage({
          bucket: Buckets.lease,
          key: idToBytes(id),
          value: encodeLease(ttl, deadline, false),
        });
      });
      counts.granted++;
      await w.durable;
      return { id, ttl };
    },
    revoke,
    minTtl,
    async renew(id) {
      const s = live(id);
      if (s < 0) throw errLeaseNotFound;
      const ttl = leases.ttl(s);
      leases.renew(s, now() + ttl * 1000);
      counts.renewed++;
      return ttl;
    },
    timeToLive,
    checkTimeToLive: async (id) => timeToLive(id),
    stats: () => ({ ...counts }),
    leases: () => [...leases.allIds()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
    start(s) {
      store = s;
      if (restartOps.length > 0) {
        const ops = restartOps.splice(0);
        s.write((txn) => {
          for (const op of ops) txn.stage(op);
        });
      }
      if (!expireLocally) return;
      timer = setInterval(expire, checkIntervalMs);
      timer.unref();
    },
    async close() {
      if (timer !== undefined) clearInterval(timer);
      await persistDirty().catch(() => undefined);
    },
  };
}
