import {
  type DeleteRangeResponse,
  deleteRangeRequest,
  type KvAuthorizer,
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
  events: readonly WatchEvent[];
  /** Set when the watch start was compacted away; the watch then ends. */
  compactRevision?: number;
}

/**
 * An in-process client of this member (etcd's v3client pattern): the Lock and
 * Election services run etcd's client-side concurrency recipes through it, so
 * their keys are ordinary keys that Range and Watch can see. Calls go straight
 * to the applier, lessor and watch hub — no serialization, no network.
 *
 * The client {@link createLocalClient} returns acts as the server itself: its
 * calls are applied unchecked (the LeaderElection expiry duty, a recipe's
 * cleanup of the key it wrote). A service acting for a caller uses
 * {@link LocalClient.as}, so the applier checks that caller's permissions
 * inside the read view or write serving each call, as it checks a KV
 * client's.
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
  /**
   * This client acting for a caller, as etcd's v3lock and v3election call
   * its KV API with the caller's token: each range and txn hands a fresh
   * `authorize()` to the applier (which runs it inside the read view or
   * write, before anything else), a delete likewise, and a watch checks it
   * as a Range of the watched key or prefix when created (where etcd
   * checks a watch). Leases need no permission.
   */
  as(authorize: () => KvAuthorizer): LocalClient;
  /** The client acting as the server itself, unchecked (itself, unless made by `as`). */
  readonly unchecked: LocalClient;
}

export function createLocalClient(ctx: ServerContext): LocalClient {
  const unchecked = clientFor(ctx, undefined);
  return unchecked;
}

function clientFor(
  ctx: ServerContext,
  authorize: (() => KvAuthorizer) | undefined,
  unchecked?: LocalClient,
): LocalClient {
  // `unchecked` is a data property set below, not a getter: a literal with
  // a getter closing over per-call state outlives young collections (see
  // design.md, "Memory").
  const client: { -readonly [K in keyof LocalClient]: LocalClient[K] } = {
    unchecked: unchecked as LocalClient,
    range: (key, over = {}) => ctx.kv.range(rangeRequest(key, over), authorize?.()),
    txn: (r) => ctx.kv.txn(r, authorize?.()),
    delete: (key) => ctx.kv.deleteRange(deleteRangeRequest(key), authorize?.()),
    grant: async (ttl) => (await ctx.lessor.grant(0n, ttl)).id,
    as: (next) => clientFor(ctx, next, unchecked ?? client),
    watch(key, options, signal) {
      const end = options.prefix ? prefixEnd(key) : undefined;
      authorize?.().range(rangeRequest(key, { rangeEnd: end ?? new Uint8Array(0) }));
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
          end,
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
  client.unchecked = unchecked ?? client;
  return client;
}
