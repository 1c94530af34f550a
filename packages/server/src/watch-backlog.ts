import type { WatchEvent } from "@conclave/core";

/**
 * How much a watch stream may have queued for its client before its
 * watchers stop taking live events and catch up from history instead, once
 * the client has read half of it. Counted both ways because either can be
 * the large one: many small responses, or a few carrying big values (200
 * revisions of 512 KiB values would be 100 MiB in a queue bounded by count
 * alone).
 */
export interface WatchBacklogLimits {
  /** Responses queued. Default 1024. */
  maxResponses: number;
  /** Event bytes queued (see {@link eventBytes}). Default 4 MiB. */
  maxBytes: number;
}

export const defaultWatchBacklog: WatchBacklogLimits = {
  maxResponses: 1024,
  maxBytes: 4 * 1024 * 1024,
};

/** Rough per-event overhead of the encoding beyond key and value bytes. */
const eventOverheadBytes = 48;

/** What an event weighs in a queue: its keys and values plus a little framing. */
export function eventBytes(e: WatchEvent, withPrev: boolean): number {
  const prev = withPrev && e.prevKv !== undefined ? e.prevKv.key.length + e.prevKv.value.length : 0;
  return e.kv.key.length + e.kv.value.length + prev + eventOverheadBytes;
}

/** Whether a queue this long may take more live events. */
export function backlogHasRoom(
  limits: WatchBacklogLimits,
  queue: { length: number; bytes: number },
): boolean {
  return queue.length < limits.maxResponses && queue.bytes < limits.maxBytes;
}

/** Whether a queue this long has drained enough for catch-up to resume (half of each limit). */
export function backlogDrained(
  limits: WatchBacklogLimits,
  queue: { length: number; bytes: number },
): boolean {
  return queue.length < limits.maxResponses / 2 && queue.bytes < limits.maxBytes / 2;
}

/** What a batch of events weighs in a queue (the sum of {@link eventBytes}). */
export function eventsBytes(events: readonly WatchEvent[], withPrev: boolean): number {
  let bytes = 0;
  for (const e of events) bytes += eventBytes(e, withPrev);
  return bytes;
}
