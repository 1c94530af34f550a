import type { ConclaveClient } from "@conclave/client";
import { type Event, Event_EventType } from "@conclave/proto";

/** A key's changes up to a revision, as far back as history goes. */
export interface KeyHistory {
  /** Oldest first. */
  events: Event[];
  /** The compaction revision, when older changes are gone; else undefined. */
  compactedAt: bigint | undefined;
}

/**
 * Reads a key's history with conclave.v1's server-streaming Watch from
 * revision 1 to `upTo`; the stream ends by itself at `upTo`. If history was
 * compacted, the server says where it starts and the read starts there.
 */
export async function readKeyHistory(
  client: ConclaveClient,
  key: Uint8Array,
  upTo: bigint,
  signal?: AbortSignal,
  /** Read every key in [key, rangeEnd) instead of one key (e.g. a lock's `name/`). */
  rangeEnd?: Uint8Array,
): Promise<KeyHistory> {
  let start = 1n;
  let compactedAt: bigint | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const events: Event[] = [];
    let compacted = 0n;
    if (upTo < start) return { events, compactedAt };
    const stream = client.services.watchStream.watch(
      { key, startRevision: start, endRevision: upTo, ...(rangeEnd !== undefined && { rangeEnd }) },
      { ...(signal !== undefined && { signal }) },
    );
    for await (const m of stream) {
      if (m.compactRevision > 0n) compacted = m.compactRevision;
      events.push(...m.events);
    }
    if (compacted === 0n) return { events, compactedAt };
    start = compacted;
    compactedAt = compacted;
  }
  throw new Error("history keeps being compacted; try again");
}

export const isDelete = (e: Event) => e.type === Event_EventType.DELETE;
