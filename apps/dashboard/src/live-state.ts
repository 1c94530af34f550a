// The dashboard's live picture of one Conclave, kept current over as few
// connections as possible: browsers allow ~6 HTTP/1.1 connections per
// origin and every server stream holds one, so everything that must be live
// comes from ONE watch of the whole keyspace; elections are re-read with the
// unary GetTerm when their keys change, and leases (not watchable) are
// polled.

import type { ConclaveClient } from "@conclave/client";
import { type Event, Event_EventType, type KeyValue, type Term } from "@conclave/proto";
import { parseElectionKey } from "@conclave/wire";
import { Code, ConnectError } from "@connectrpc/connect";
import { describeError, isLoginRequired, isPermissionDenied } from "./access-errors.js";
import { utf8OrUndefined } from "./format.js";
import { lockNameOf } from "./lock-groups.js";
import { createSeenRevisions } from "./moments.js";
import { termStatus } from "./term-status.js";

/** Parts of the state views subscribe to. */
export type Section = "status" | "elections" | "locks" | "leases" | "events";

/** A lease as last polled, with the local time its TTL runs out. */
export interface LeaseInfo {
  id: bigint;
  /** Seconds left when polled. */
  ttl: number;
  /** The TTL it was granted (and is renewed to). */
  grantedTtl: number;
  /** Keys attached to it (UTF-8, or hex for binary keys). */
  keys: string[];
  /** `Date.now()` value at which it expires unless renewed. */
  deadline: number;
}

/** A conclave.v1 election: its term, and when its leader's lease runs out if not renewed. */
export interface ElectionInfo {
  term: Term;
  /** `Date.now()` value; undefined when the leader has no lease (or there is no leader). */
  deadline: number | undefined;
}

/** One change of the event feed. */
export interface FeedEntry {
  /** Increasing per entry, for stable rendering. */
  seq: number;
  type: "PUT" | "DELETE";
  kv: KeyValue;
  /** `Date.now()` when the dashboard received it. */
  at: number;
}

export interface LiveStateOptions {
  /** Most entries the event feed keeps (newest first). Default 200. */
  feedLimit?: number;
  /** Lease poll interval, ms. Default 1 000. */
  leasePollMs?: number;
  /** Most leases whose TTL is read each poll. Default 100. */
  leaseLimit?: number;
  /**
   * Most keys the start-up scan reads (keys only) to find v3lock/v3election
   * keys that existed before the page opened. Default 20 000; later ones are
   * found when they change.
   */
  scanLimit?: number;
  /**
   * Called when the server asks for a login (auth was enabled, or the
   * session ended): the page shows its login form instead.
   */
  onLoginRequired?: () => void;
  /** How long to wait before reading again after a permission denial, ms. Default 5 000. */
  deniedRetryMs?: number;
}

export interface LiveState {
  readonly endpoint: string;
  /** True while the watch of the keyspace is connected. */
  readonly connected: boolean;
  /** The last error worth showing (cleared by the next success). */
  readonly error: string | undefined;
  /** The newest store revision seen. */
  readonly revision: bigint;
  /**
   * `Date.now()` of the last answer from the server (watch events, progress
   * notifications, a connect, a lease poll); undefined before the first. With
   * `connected` false it tells how old what the panels show is.
   */
  readonly lastDataAt: number | undefined;
  /**
   * The user's roles do not allow reading the whole keyspace, so elections,
   * locks and the event feed (one watch of everything) cannot be shown.
   */
  readonly denied: boolean;
  readonly elections: ReadonlyMap<string, ElectionInfo>;
  /** Keys shaped like v3lock/v3election keys, by key (UTF-8). */
  readonly lockKeys: ReadonlyMap<string, KeyValue>;
  readonly leases: ReadonlyMap<bigint, LeaseInfo>;
  /** How many leases exist in all (only `leaseLimit` are read). */
  readonly leaseCount: number;
  /** Newest first. */
  readonly feed: readonly FeedEntry[];
  /** The start-up scan stopped at `scanLimit` keys. */
  readonly scanLimited: boolean;
  /**
   * When this page received `revision` live over its watch (`Date.now()`,
   * the browser's clock), for the last 10 000 revisions it saw; undefined
   * for revisions from before the page opened, or missed while disconnected.
   */
  seenAt(revision: bigint): number | undefined;
  /** Calls `fn` after each change of a section; returns the unsubscribe function. */
  subscribe(section: Section, fn: () => void): () => void;
  /** Calls `fn` with every batch of watch events (for views that re-read keys). */
  onEvents(fn: (events: Event[], revision: bigint) => void): () => void;
  /** Connects and keeps going (reconnecting) until `stop()`. */
  start(): void;
  stop(): void;
}

const describe = describeError;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });

export function createLiveState(
  client: ConclaveClient,
  endpoint: string,
  options: LiveStateOptions = {},
): LiveState {
  const feedLimit = options.feedLimit ?? 200;
  const leasePollMs = options.leasePollMs ?? 1_000;
  const leaseLimit = options.leaseLimit ?? 100;
  const scanLimit = options.scanLimit ?? 20_000;
  const deniedRetryMs = options.deniedRetryMs ?? 5_000;

  let connected = false;
  /** The latest error of each activity, cleared by its next success. */
  const errors = new Map<"watch" | "leases" | "elections", string>();
  let revision = 0n;
  let lastDataAt: number | undefined;
  let denied = false;
  const elections = new Map<string, ElectionInfo>();
  const lockKeys = new Map<string, KeyValue>();
  let leases = new Map<bigint, LeaseInfo>();
  let leaseCount = 0;
  let feed: FeedEntry[] = [];
  let feedSeq = 0;
  let scanLimited = false;
  const seen = createSeenRevisions();
  const stopper = new AbortController();

  const listeners = new Map<Section, Set<() => void>>();
  const eventListeners = new Set<(events: Event[], revision: bigint) => void>();
  const emit = (section: Section) => {
    for (const fn of listeners.get(section) ?? []) fn();
  };
  const setConnected = (c: boolean) => {
    if (c === connected) return;
    connected = c;
    emit("status");
  };
  const setError = (source: "watch" | "leases" | "elections", e: string | undefined) => {
    if (errors.get(source) === e) return;
    if (e === undefined) errors.delete(source);
    else errors.set(source, e);
    emit("status");
  };
  const seeRevision = (r: bigint) => {
    lastDataAt = Date.now();
    if (r > revision) {
      revision = r;
      emit("status");
    }
  };
  const setDenied = (d: boolean) => {
    if (d === denied) return;
    denied = d;
    emit("status");
    emit("elections");
    emit("locks");
    emit("events");
  };
  /** Tells the page to log in; true when `err` was that. */
  const loginRequired = (err: unknown): boolean => {
    if (!isLoginRequired(err)) return false;
    options.onLoginRequired?.();
    return true;
  };

  // ---- elections: GetTerm when an election's keys change, never two at once
  const fetching = new Map<string, { again: boolean }>();
  function refreshElection(name: string): void {
    const running = fetching.get(name);
    if (running !== undefined) {
      running.again = true;
      return;
    }
    const state = { again: false };
    fetching.set(name, state);
    void (async () => {
      do {
        state.again = false;
        try {
          const resp = await client.services.leaderElection.getTerm({ election: name });
          setError("elections", undefined);
          const term = resp.term;
          const known = elections.get(name);
          if (term !== undefined && termStatus(term) === "gone") {
            // Closed, or everyone left one never created: List drops it, so does the page.
            if (elections.delete(name)) emit("elections");
          } else if (
            term !== undefined &&
            (known === undefined || term.revision >= known.term.revision)
          ) {
            const ttl = Number(term.leaderLeaseTtl);
            elections.set(name, {
              term,
              deadline: ttl >= 0 && term.leader !== "" ? Date.now() + ttl * 1000 : undefined,
            });
            emit("elections");
          }
        } catch (err) {
          if (err instanceof ConnectError && err.code === Code.NotFound) {
            if (elections.delete(name)) emit("elections");
          } else if (!stopper.signal.aborted) {
            setError("elections", `GetTerm ${name}: ${describe(err)}`);
            state.again = true;
            await sleep(1_000, stopper.signal);
          }
        }
      } while (state.again && !stopper.signal.aborted);
      fetching.delete(name);
    })();
  }

  // ---- lock-shaped keys
  function trackLockKey(kv: KeyValue, deleted: boolean): boolean {
    const key = utf8OrUndefined(kv.key);
    if (key === undefined) return false;
    if (deleted) return lockKeys.delete(key);
    if (lockNameOf(kv) !== undefined) {
      lockKeys.set(key, kv);
      return true;
    }
    return lockKeys.delete(key); // re-put without the lease: no longer a lock key
  }

  /** Reads the keyspace (keys only) at one revision: lock keys and elections. Returns the revision. */
  async function scan(): Promise<bigint> {
    let from = new Uint8Array([0]);
    let at = 0n;
    let seen = 0;
    const found: KeyValue[] = [];
    const names = new Set<string>();
    for (;;) {
      const r = await client.range(from, {
        fromKey: true,
        keysOnly: true,
        limit: 1_000,
        revision: at,
      });
      if (at === 0n) at = r.revision;
      for (const kv of r.kvs) {
        if (lockNameOf(kv) !== undefined) found.push(kv);
        const key = utf8OrUndefined(kv.key);
        const parsed = key === undefined ? undefined : parseElectionKey(key);
        if (parsed?.part === "state") names.add(parsed.election);
      }
      seen += r.kvs.length;
      const last = r.kvs.at(-1);
      if (!r.more || last === undefined) {
        scanLimited = false;
        break;
      }
      if (seen >= scanLimit) {
        scanLimited = true;
        break;
      }
      from = new Uint8Array([...last.key, 0]);
    }
    // Values tell v3elections (a proposal) from v3locks (empty).
    const full = await Promise.all(found.map((kv) => client.get(kv.key, { revision: at })));
    lockKeys.clear();
    for (const kv of full) if (kv !== undefined) trackLockKey(kv, false);
    for (const name of [...elections.keys()]) if (!names.has(name)) elections.delete(name);
    for (const name of names) refreshElection(name);
    seeRevision(at);
    emit("locks");
    emit("elections");
    return at;
  }

  function applyEvents(events: Event[], upTo: bigint): void {
    let locks = false;
    const touched = new Set<string>();
    const now = Date.now();
    for (const e of events) {
      const kv = e.kv;
      if (kv === undefined) continue;
      const deleted = e.type === Event_EventType.DELETE;
      seen.see(kv.modRevision, now);
      feed.unshift({ seq: ++feedSeq, type: deleted ? "DELETE" : "PUT", kv, at: now });
      if (trackLockKey(kv, deleted)) locks = true;
      const key = utf8OrUndefined(kv.key);
      const parsed = key === undefined ? undefined : parseElectionKey(key);
      if (parsed !== undefined) touched.add(parsed.election);
    }
    if (feed.length > feedLimit) feed = feed.slice(0, feedLimit);
    for (const name of touched) refreshElection(name);
    seeRevision(upTo);
    if (events.length > 0) emit("events");
    if (locks) emit("locks");
    for (const fn of eventListeners) fn(events, upTo);
  }

  async function watchLoop(): Promise<void> {
    const signal = stopper.signal;
    while (!signal.aborted) {
      try {
        const at = await scan();
        const stream = client.watch("", {
          prefix: true,
          startRevision: at + 1n,
          progressIntervalMs: 5_000,
          signal,
          onConnect: () => {
            lastDataAt = Date.now();
            setConnected(true);
            setDenied(false);
            setError("watch", undefined);
          },
          onDisconnect: (err, retryInMs) => {
            setConnected(false);
            setError("watch", `${describe(err)} (retrying in ${Math.round(retryInMs)} ms)`);
          },
        });
        for await (const update of stream) {
          if (update.type === "events") applyEvents(update.events, update.revision);
          else {
            // History was compacted while disconnected: start over from a fresh scan.
            stream.close();
            break;
          }
        }
      } catch (err) {
        if (signal.aborted) break;
        if (loginRequired(err)) break;
        if (isPermissionDenied(err)) {
          // Not a connection problem: the server answered. Read again later
          // in case the user's roles change.
          lastDataAt = Date.now();
          setDenied(true);
          setConnected(true);
          setError("watch", undefined);
          await sleep(deniedRetryMs, signal);
          continue;
        }
        setConnected(false);
        setError("watch", describe(err));
        await sleep(1_000, signal);
      }
    }
  }

  async function leaseLoop(): Promise<void> {
    const signal = stopper.signal;
    while (!signal.aborted) {
      try {
        const all = await client.services.lease.leaseLeases({}, { signal });
        leaseCount = all.leases.length;
        const ids = all.leases
          .map((l) => l.ID)
          .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
          .slice(0, leaseLimit);
        const infos = await Promise.all(
          ids.map((ID) => client.services.lease.leaseTimeToLive({ ID, keys: true }, { signal })),
        );
        const now = Date.now();
        const next = new Map<bigint, LeaseInfo>();
        for (const r of infos) {
          if (r.TTL < 0n) continue; // expired between the two calls
          next.set(r.ID, {
            id: r.ID,
            ttl: Number(r.TTL),
            grantedTtl: Number(r.grantedTTL),
            keys: r.keys.map((k) => utf8OrUndefined(k) ?? `0x${toHex(k)}`),
            deadline: now + Number(r.TTL) * 1000,
          });
        }
        leases = next;
        setError("leases", undefined);
        emit("leases");
      } catch (err) {
        if (signal.aborted || loginRequired(err)) break;
        setError("leases", `leases: ${describe(err)}`);
      }
      await sleep(leasePollMs, signal);
    }
  }

  return {
    endpoint,
    get connected() {
      return connected;
    },
    get error() {
      return errors.size === 0 ? undefined : [...errors.values()].join("; ");
    },
    get revision() {
      return revision;
    },
    get lastDataAt() {
      return lastDataAt;
    },
    get denied() {
      return denied;
    },
    elections,
    lockKeys,
    get leases() {
      return leases;
    },
    get leaseCount() {
      return leaseCount;
    },
    get feed() {
      return feed;
    },
    get scanLimited() {
      return scanLimited;
    },
    seenAt: seen.at,
    subscribe(section, fn) {
      const set = listeners.get(section) ?? new Set();
      listeners.set(section, set);
      set.add(fn);
      return () => set.delete(fn);
    },
    onEvents(fn) {
      eventListeners.add(fn);
      return () => eventListeners.delete(fn);
    },
    start() {
      void watchLoop();
      void leaseLoop();
    },
    stop() {
      stopper.abort();
      client.close();
    },
  };
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
