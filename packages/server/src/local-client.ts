import {
  type DeleteRangeResponse,
  deleteRangeRequest,
  prefixEnd,
  type RangeRequest,
  type RangeResponse,
  rangeRequest,
  type TxnRequest,
  type TxnResponse,
  type WatchEvent,
  type WatchSink,
} from "@conclave/core";
import { createAsyncQueue } from "./async-queue.js";
import type { ServerContext } from "./server-context.js";
import {
  backlogDrained,
  backlogHasRoom,
  defaultWatchBacklog,
  eventsBytes,
} from "./watch-backlog.js";

/** One watch delivery: events of the revisions up to `rev`, or compaction. */
export interface LocalWatchResponse {
  rev: number;
  events: WatchEvent[];
  /** Set when the watch start was compacted away; the watch then ends. */
  compactRevision?: number;
}

/**
 * An in-process client of this member (etcd's v3client pattern): the Lock and
 * Election services run etcd's client-side concurrency recipes through it, so
 * their keys are ordinary keys that Range and Watch can see. Calls go straight
 * to the applier, lessor and watch hub — no serialization, no network.
 */
export interface LocalClient {
  range(key: Uint8Array, over?: Partial<RangeRequest>): Promise<RangeResponse>;
  txn(r: TxnRequest): Promise<TxnResponse>;
  delete(key: Uint8Array): Promise<DeleteRangeResponse>;
  /** Grants a lease with the server-chosen ID. */
  grant(ttl: number): Promise<bigint>;
  /** Watches a key (or a prefix) from `rev` until `signal` aborts. */
  watch(
    key: Uint8Array,
    options: { prefix?: boolean; rev: number },
    signal: AbortSignal,
  ): AsyncIterable<LocalWatchResponse>;
}

export function createLocalClient(ctx: ServerContext): LocalClient {
  return {
    range: (key, over = {}) => ctx.kv.range(rangeRequest(key, over)),
    txn: (r) => ctx.kv.txn(r),
    delete: (key) => ctx.kv.deleteRange(deleteRangeRequest(key)),
    grant: async (ttl) => (await ctx.lessor.grant(0n, ttl)).id,
    watch(key, options, signal) {
      const queue = createAsyncQueue<LocalWatchResponse>();
      const sink: WatchSink = {
        send(_w, batch) {
          queue.push({ rev: batch.rev, events: batch.events }, eventsBytes(batch.events, false));
          // A consumer that relays to a client (Election Observe) can be as
          // slow as that client: bounded like a watch stream.
          return backlogHasRoom(defaultWatchBacklog, queue);
        },
        compacted(_w, compactRev) {
          queue.push({ rev: 0, events: [], compactRevision: compactRev });
          queue.close();
        },
        ready: () => backlogDrained(defaultWatchBacklog, queue),
      };
      const watcher = ctx.hub.watch(
        {
          key,
          end: options.prefix ? prefixEnd(key) : undefined,
          startRev: options.rev,
          prevKv: false,
          noPut: false,
          noDelete: false,
        },
        sink,
      );
      // The consumer is done with it: let go of the watcher and what is queued.
      const stop = () => {
        watcher.cancel();
        queue.discard();
      };
      if (signal.aborted) stop();
      else signal.addEventListener("abort", stop, { once: true });
      return {
        async *[Symbol.asyncIterator]() {
          try {
            yield* queue;
          } finally {
            signal.removeEventListener("abort", stop);
            watcher.cancel();
          }
        },
      };
    },
  };
}
