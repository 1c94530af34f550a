import { type Event, Event_EventType } from "@conclave/proto";

/** One holder's hold of a v3lock, as the MVCC history tells it. */
export interface LockHold {
  /** The holder's key (`<name>/<lease hex>`), as UTF-8 or hex. */
  key: string;
  lease: bigint;
  /** Revision at which its key was created: when it joined the line. */
  queuedAt: bigint;
  /** Revision at which it got the lock. */
  from: bigint;
  /** Revision at which it let go (unlock, lease ended); undefined while it holds. */
  to: bigint | undefined;
  /** Revisions it waited in line (MVCC keeps revisions, not times). */
  waited: bigint;
}

/**
 * Folds a lock's history (every change under `<name>/`, oldest first) into
 * its holds, as v3lock decides: after each revision, the key with the lowest
 * create revision holds the lock; a hold ends when that key is deleted.
 */
export function buildLockHolds(
  events: readonly Event[],
  keyText: (k: Uint8Array) => string,
): LockHold[] {
  const live = new Map<string, { create: bigint; lease: bigint }>();
  const holds: LockHold[] = [];
  let holder: string | undefined;
  let i = 0;
  while (i < events.length) {
    const rev = events[i]?.kv?.modRevision ?? 0n;
    // Every event of one revision (one txn) before deciding who holds.
    for (; i < events.length && (events[i]?.kv?.modRevision ?? 0n) === rev; i++) {
      const e = events[i] as Event;
      if (e.kv === undefined) continue;
      const key = keyText(e.kv.key);
      if (e.type === Event_EventType.DELETE) live.delete(key);
      else if (!live.has(key)) live.set(key, { create: e.kv.createRevision, lease: e.kv.lease });
    }
    let first: string | undefined;
    for (const [k, v] of live)
      if (first === undefined || v.create < (live.get(first)?.create ?? 0n)) first = k;
    if (first === holder) continue;
    const open = holds.at(-1);
    if (open !== undefined && open.to === undefined) open.to = rev;
    holder = first;
    if (first !== undefined) {
      const v = live.get(first) as { create: bigint; lease: bigint };
      holds.push({
        key: first,
        lease: v.lease,
        queuedAt: v.create,
        from: rev,
        to: undefined,
        waited: rev - v.create,
      });
    }
  }
  return holds;
}
