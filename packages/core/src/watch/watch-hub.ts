import { IndexedSet } from "../indexed-set.js";
import { bytesToKeyString } from "../mvcc/key-string.js";
import type { CommittedWrite, KvStore, RangeEnd } from "../mvcc/kv-store.js";
import type { Change, KeyValue } from "../types.js";

export interface WatchEvent {
  type: "put" | "delete";
  /** For deletes only `key` and `modRevision` are set (as etcd's DELETE events). */
  kv: KeyValue;
  /** The key-value before this event, when the watcher asked for it and history has it. */
  prevKv?: KeyValue | undefined;
}

/** Events of one or more consecutive revisions for one watcher. */
export interface WatchBatch {
  /** The revision the watcher is now synced up to. */
  rev: number;
  /** Shared by the watchers a write goes to alike: read it, never change it. */
  events: readonly WatchEvent[];
}

/**
 * Where a watcher's events go — one per client stream. `send` always takes
 * the batch; it returns false when the consumer is falling behind, and the
 * hub then stops pushing live events to that watcher and lets it catch up
 * from history once `ready()` says the consumer drained (etcd's unsynced /
 * victim handling). Memory per slow stream stays bounded by the consumer's
 * own limit plus one batch.
 */
export interface WatchSink {
  send(watcher: Watcher, batch: WatchBatch): boolean;
  /** The watcher's next revision was compacted away; the watcher is removed. */
  compacted(watcher: Watcher, compactRev: number): void;
  /** Whether the consumer can take more catch-up batches now. */
  ready(): boolean;
}

export interface WatchOptions {
  key: Uint8Array;
  /** Range end after etcd's normalisation: undefined = one key, "infinity" = all ≥ key. */
  end: RangeEnd;
  /** First revision to deliver; 0 = the next revision. */
  startRev: number;
  prevKv: boolean;
  noPut: boolean;
  noDelete: boolean;
}

export interface Watcher {
  /** The next revision this watcher will receive. */
  nextRev(): number;
  /** True while it receives live events (not catching up from history). */
  synced(): boolean;
  cancel(): void;
}

export interface WatchHub {
  /**
   * Subscribes to the store's committed writes and starts the catch-up loop
   * of watchers that fell behind. Nothing runs before: the composition root
   * (the server context) calls it once the store is open. Idempotent.
   */
  start(): void;
  /**
   * Starts a watcher. Its first events may be sent before this returns only
   * via history catch-up, which is deferred. Throws before {@link start}: a
   * watcher of a hub that does not follow the store would wait for ever.
   */
  watch(options: WatchOptions, sink: WatchSink): Watcher;
  /** Watchers alive (etcd_debugging_mvcc_watcher_total). */
  watcherCount(): number;
  /**
   * Ends every watcher as compacted at `compactRev`, and every watcher
   * started afterwards as soon as it is created: the history they follow is
   * no longer the store's to serve (a replica whose shared log lost entries it
   * had applied). Clients get etcd's compaction cancel and re-read, as they
   * do after a compaction, instead of events that no longer exist.
   */
  compactAll(compactRev: number): void;
  /** Unsubscribes from the store, stops the catch-up loop and drops every watcher. */
  close(): void;
}

export interface WatchHubOptions {
  store: KvStore;
  /** How often watchers that fell behind are caught up, in ms. Default 50 (etcd: 100). */
  syncIntervalMs?: number;
  /** Most revisions one catch-up batch covers. Default 1000 (etcd's watchBatchMaxRevs). */
  maxBatchRevs?: number;
  /**
   * Stored bytes one catch-up read decodes before it stops at the end of a
   * revision. Without it a batch of 1000 revisions of 1.5 MiB values would
   * sit in memory at once. Default 1 MiB.
   */
  maxBatchBytes?: number;
}

const prevKvFlag = 1;
const noPutFlag = 2;
const noDeleteFlag = 4;

/**
 * A watcher as the hub keeps it: one object with its fields and no closures
 * (the methods are the class's, and `cancel` reaches the hub through `owner`).
 * The options' key bytes are not kept, only the binary strings the hub
 * matches on.
 */
class WatcherState implements Watcher {
  next: number;
  isSynced = false;
  alive: boolean;
  readonly owner: { remove(w: WatcherState): void };
  readonly sink: WatchSink;
  readonly startKey: string;
  /** undefined: one key; null: every key from startKey on. */
  readonly endKey: string | null | undefined;
  /** prev_kv, NOPUT and NODELETE as bits. */
  readonly flags: number;

  constructor(
    owner: { remove(w: WatcherState): void },
    sink: WatchSink,
    opts: WatchOptions,
    next: number,
    alive: boolean,
  ) {
    this.owner = owner;
    this.sink = sink;
    this.next = next;
    this.alive = alive;
    this.startKey = bytesToKeyString(opts.key);
    this.endKey =
      opts.end === undefined
        ? undefined
        : opts.end === "infinity"
          ? null
          : bytesToKeyString(opts.end);
    this.flags =
      (opts.prevKv ? prevKvFlag : 0) |
      (opts.noPut ? noPutFlag : 0) |
      (opts.noDelete ? noDeleteFlag : 0);
  }
  nextRev(): number {
    return this.next;
  }
  synced(): boolean {
    return this.isSynced;
  }
  cancel(): void {
    this.owner.remove(this);
  }
}

/** A key of the hub's `byKey` whose watchers are gone (see there). */
const vacant = Symbol("no watchers");

/**
 * The watchable part of the store: turns each durable write into events for
 * the watchers whose range it touches (events come from the committed write,
 * never from polling), and replays history for watchers that start in the
 * past or fell behind.
 *
 * Builds only: the subscription to the store and the catch-up timer begin
 * with {@link WatchHub.start} and end with {@link WatchHub.close}.
 */
export function createWatchHub(options: WatchHubOptions): WatchHub {
  const { store } = options;
  const maxBatchRevs = options.maxBatchRevs ?? 1000;
  const maxBatchBytes = options.maxBatchBytes ?? 1024 * 1024;
  /**
   * Synced watchers of single keys, by key: the watcher itself while it is
   * the key's only one (most keys), an IndexedSet once there are more, and
   * `vacant` once it has none.
   *
   * Why a key's entry stays (until the keys without watchers are more than
   * half, then the Map is made anew) and why the sets are IndexedSets: a
   * Map or Set that lives long and sees an add and a delete per watcher —
   * a Watch created and cancelled on the same key, as clientv3's lock does
   * for each wait — is rehashed every few watchers into tables V8 links
   * old to new, which kept every watch stream's objects alive through young
   * collections (see IndexedSet).
   */
  let byKey = new Map<string, WatcherState | IndexedSet<WatcherState> | typeof vacant>();
  let vacantKeys = 0;
  /** Synced watchers of ranges. */
  const ranges = new IndexedSet<WatcherState>();
  const unsynced = new IndexedSet<WatcherState>();
  let count = 0;
  /** Set by compactAll: every watcher ends compacted at this revision. */
  let endedAt: number | undefined;
  /**
   * After close, watch() still answers (a call racing the shutdown gets a
   * watcher), but the watcher is dead from the start: nothing feeds it.
   */
  let closed = false;

  const inRange = (w: WatcherState, k: string) =>
    w.endKey === undefined
      ? k === w.startKey
      : k >= w.startKey && (w.endKey === null || k < w.endKey);

  function addSynced(w: WatcherState) {
    w.isSynced = true;
    if (w.endKey === undefined) {
      const held = byKey.get(w.startKey);
      if (held === undefined || held === vacant) {
        if (held === vacant) vacantKeys--;
        byKey.set(w.startKey, w);
      } else if (held instanceof IndexedSet) {
        held.add(w);
      } else if (held !== w) {
        const both = new IndexedSet<WatcherState>();
        both.add(held);
        both.add(w);
        byKey.set(w.startKey, both);
      }
    } else {
      ranges.add(w);
    }
  }
  function removeSynced(w: WatcherState) {
    if (w.endKey === undefined) {
      const held = byKey.get(w.startKey);
      if (held === w) {
        byKey.set(w.startKey, vacant);
        vacantKeys++;
        if (vacantKeys > 64 && vacantKeys * 2 > byKey.size) dropVacantKeys();
      } else if (held instanceof IndexedSet) {
        held.delete(w);
        if (held.size === 1) byKey.set(w.startKey, held.snapshot()[0] as WatcherState);
      }
    } else {
      ranges.delete(w);
    }
  }
  /** A new Map of the keys with watchers (a new Map: nothing links it to the old). */
  function dropVacantKeys() {
    const kept = new Map<string, WatcherState | IndexedSet<WatcherState> | typeof vacant>();
    for (const [k, held] of byKey) if (held !== vacant) kept.set(k, held);
    byKey = kept;
    vacantKeys = 0;
  }
  function remove(w: WatcherState) {
    if (!w.alive) return;
    w.alive = false;
    count--;
    if (w.isSynced) removeSynced(w);
    else unsynced.delete(w);
  }

  function prevOf(kv: KeyValue): KeyValue | undefined {
    try {
      return store.read().range(kv.key, undefined, { rev: Number(kv.modRevision) - 1 }).kvs[0];
    } catch {
      return undefined; // compacted: no prev_kv, as etcd
    }
  }

  /** Applies a watcher's filters and prev_kv to raw events. */
  function shape(w: WatcherState, raw: readonly WatchEvent[]): WatchEvent[] {
    const out: WatchEvent[] = [];
    for (const e of raw) {
      if ((w.flags & (e.type === "put" ? noPutFlag : noDeleteFlag)) !== 0) continue;
      if ((w.flags & prevKvFlag) !== 0) {
        const create = e.type === "put" && e.kv.createRevision === e.kv.modRevision;
        out.push({ type: e.type, kv: e.kv, prevKv: create ? undefined : prevOf(e.kv) });
      } else {
        out.push(e);
      }
    }
    return out;
  }

  /** Calls `visit` for each watcher of key `k` that a write at `rev` reaches (not those starting later). */
  function forWatchersOf(k: string, rev: number, visit: (w: WatcherState) => void) {
    // In place: every `visit` here collects; nothing adds or removes watchers.
    const singles = byKey.get(k);
    if (singles instanceof IndexedSet) {
      singles.forEach((w) => {
        if (w.next <= rev) visit(w);
      });
    } else if (singles !== undefined && singles !== vacant && singles.next <= rev) {
      visit(singles);
    }
    if (ranges.size > 0) {
      ranges.forEach((w) => {
        if (w.next <= rev && inRange(w, k)) visit(w);
      });
    }
  }

  /** Sends `events` at `rev` to `w`, or moves `w` behind if its consumer is falling behind. */
  function deliver(w: WatcherState, rev: number, events: readonly WatchEvent[]) {
    if (!w.sink.send(w, { rev, events })) {
      // Falling behind: stop live delivery; catch up once the consumer drained.
      removeSynced(w);
      w.isSynced = false;
      unsynced.add(w);
    }
  }

  /**
   * A write of one change (most are): no grouping by watcher, and the
   * watchers without filters or prev_kv share one event list.
   */
  function onCommittedOne(rev: number, c: Change) {
    // Found first, sent after: a send may add or remove watchers of this key.
    const found: WatcherState[] = [];
    forWatchersOf(bytesToKeyString(c.kv.key), rev, (w) => found.push(w));
    if (found.length === 0) return;
    const plain: readonly WatchEvent[] = [{ type: c.type, kv: c.kv }];
    for (const w of found) {
      w.next = rev + 1;
      const events = w.flags === 0 ? plain : shape(w, plain);
      if (events.length > 0) deliver(w, rev, events);
    }
  }

  function onCommitted(write: CommittedWrite) {
    if (write.changes.length === 1) {
      onCommittedOne(write.rev, write.changes[0] as Change);
      return;
    }
    const perWatcher = new Map<WatcherState, WatchEvent[]>();
    for (const c of write.changes) {
      const ev: WatchEvent = { type: c.type, kv: c.kv };
      forWatchersOf(bytesToKeyString(c.kv.key), write.rev, (w) => {
        let list = perWatcher.get(w);
        if (list === undefined) {
          list = [];
          perWatcher.set(w, list);
        }
        list.push(ev);
      });
    }
    for (const [w, raw] of perWatcher) {
      w.next = write.rev + 1;
      const events = shape(w, raw);
      if (events.length > 0) deliver(w, write.rev, events);
    }
  }

  interface HistoryEntry {
    k: string;
    event: WatchEvent;
  }
  interface HistoryRead {
    to: number;
    entries: HistoryEntry[];
  }
  /**
   * History reads of the current sync pass, by start and requested end.
   * Watchers that fell behind together (a slow stream's watchers) ask for
   * the same span: read and decode it once for all of them. Holds at most
   * `maxCachedReads` reads, so a pass over watchers at many positions does
   * not keep them all.
   */
  let passCache: Map<string, HistoryRead> | undefined;
  const maxCachedReads = 8;

  /** Changes from main revision `from` up to `last` (or less: a read is cut at maxBatchBytes). */
  function history(from: number, last: number): HistoryRead {
    const span = `${from}:${last}`;
    const cached = passCache?.get(span);
    if (cached !== undefined) return cached;
    const read = store.history(from, last, maxBatchBytes);
    const out: HistoryRead = {
      to: read.to,
      entries: read.changes.map((c) => ({ k: bytesToKeyString(c.kv.key), event: c })),
    };
    if (passCache !== undefined) {
      if (passCache.size >= maxCachedReads) passCache.clear();
      passCache.set(span, out);
    }
    return out;
  }

  /** Reads history for one unsynced watcher; moves it to synced when caught up. */
  function catchUp(w: WatcherState) {
    const compactRev = store.compactRev();
    if (w.next < compactRev) {
      remove(w);
      w.sink.compacted(w, compactRev);
      return;
    }
    const durable = store.durableRev();
    while (w.alive && w.sink.ready()) {
      if (w.next > durable) {
        unsynced.delete(w);
        addSynced(w);
        return;
      }
      const read = history(w.next, Math.min(durable, w.next + maxBatchRevs - 1));
      const raw: WatchEvent[] = [];
      for (const h of read.entries) if (inRange(w, h.k)) raw.push(h.event);
      w.next = read.to + 1;
      const events = shape(w, raw);
      if (events.length > 0) w.sink.send(w, { rev: read.to, events });
    }
  }

  function syncAll() {
    if (unsynced.size === 0) return;
    passCache = new Map();
    try {
      for (const w of unsynced.snapshot()) if (w.alive) catchUp(w);
    } finally {
      passCache = undefined;
    }
  }
  const syncIntervalMs = options.syncIntervalMs ?? 50;
  const owner = { remove };
  let running: { timer: ReturnType<typeof setInterval>; unsubscribe: () => void } | undefined;

  return {
    start() {
      if (running !== undefined) return;
      const timer = setInterval(syncAll, syncIntervalMs);
      timer.unref();
      running = { timer, unsubscribe: store.onCommitted(onCommitted) };
    },
    watch(opts, sink) {
      if (running === undefined && !closed) throw new Error("watch hub not started");
      const durable = store.durableRev();
      const next = opts.startRev === 0 ? durable + 1 : opts.startRev;
      const w = new WatcherState(owner, sink, opts, next, !closed);
      if (closed) return w;
      count++;
      if (endedAt !== undefined) {
        const rev = endedAt;
        unsynced.add(w);
        // After the caller sent its "created" response, as a compaction would.
        setImmediate(() => {
          if (!w.alive) return;
          remove(w);
          w.sink.compacted(w, rev);
        });
      } else if (w.next > durable) addSynced(w);
      else {
        unsynced.add(w);
        // Catch up soon, but after the caller sent its "created" response.
        setImmediate(() => {
          if (w.alive && !w.isSynced) catchUp(w);
        });
      }
      return w;
    },
    watcherCount: () => count,
    compactAll(compactRev) {
      endedAt = compactRev;
      const all = [...unsynced.snapshot(), ...ranges.snapshot()];
      for (const held of byKey.values()) {
        if (held instanceof IndexedSet) all.push(...held.snapshot());
        else if (held !== vacant) all.push(held);
      }
      for (const w of all) {
        remove(w);
        w.sink.compacted(w, compactRev);
      }
    },
    close() {
      closed = true;
      if (running !== undefined) {
        clearInterval(running.timer);
        running.unsubscribe();
        running = undefined;
      }
      byKey.clear();
      vacantKeys = 0;
      ranges.clear();
      unsynced.clear();
      count = 0;
    },
  };
}
