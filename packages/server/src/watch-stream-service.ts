import { create } from "@bufbuild/protobuf";
import {
  prefixEnd,
  type RangeEnd,
  toWatchRange,
  type WatchBatch,
  type WatchEvent,
  type Watcher,
  type WatchSink,
} from "@conclave/core";
import { conclaveWatch, type Event, Event_EventType } from "@conclave/proto";
import type { ServiceImpl } from "@connectrpc/connect";
import { type AsyncQueue, createAsyncQueue } from "./async-queue.js";
import { checkRead } from "./auth-guard.js";
import { ValidationError } from "./errors.js";
import type { ServerContext } from "./server-context.js";
import { streamAccess } from "./stream-access.js";
import {
  backlogDrained,
  backlogHasRoom,
  defaultWatchBacklog,
  eventBytes,
  type WatchBacklogLimits,
} from "./watch-backlog.js";

type WatchRequest = conclaveWatch.WatchRequest;
type WatchResponse = conclaveWatch.WatchResponse;
const { WatchResponseSchema } = conclaveWatch;

export interface WatchStreamServiceOptions {
  /**
   * What one stream may have queued before its watcher stops receiving live
   * events and catches up from history once the client has read half of it.
   * Bounds memory per slow client. Default {@link defaultWatchBacklog}
   * (1024 messages, 4 MiB of events).
   */
  backlog?: Partial<WatchBacklogLimits>;
  /**
   * The shortest `progress_interval_ms` honoured; smaller requests are raised
   * to it so a client cannot make the server spin. Default 100.
   */
  minProgressIntervalMs?: number;
  /**
   * How often a stream with an `end_revision` checks whether its watcher got
   * past it while nothing it watches changed (catch-up over revisions without
   * matching events sends nothing). Default 25 ms.
   */
  endCheckIntervalMs?: number;
}

/**
 * Bytes of events one message aims to stay under (a message always holds at
 * least one whole revision). Catch-up batches cover up to 1000 revisions, so
 * without a cut one message could be far larger than any client reads.
 */
const softMessageBytes = 1024 * 1024;

/** A request the stream cannot serve as asked: InvalidArgument, by the error table. */
const invalid = (message: string) => new ValidationError(message);

/** etcd's range normalisation plus `prefix`: empty key is "\0", range_end "\0" is "to the end". */
function watchRange(req: WatchRequest): { key: Uint8Array; end: RangeEnd } {
  if (req.prefix && req.rangeEnd.length > 0) {
    throw invalid("conclave: prefix and range_end cannot both be set");
  }
  if (req.prefix) return toWatchRange(req.key, prefixEnd(req.key));
  const { key, end } = toWatchRange(req.key, req.rangeEnd);
  if (end instanceof Uint8Array && Buffer.compare(key, end) >= 0) {
    throw invalid("conclave: watch range is empty");
  }
  return { key, end };
}

function toEvent(e: WatchEvent, withPrev: boolean): Event {
  // A plain init object: create() turns it (and the core KeyValues) into messages.
  return {
    type: e.type === "put" ? Event_EventType.PUT : Event_EventType.DELETE,
    kv: e.kv,
    prevKv: withPrev ? e.prevKv : undefined,
  } as Event;
}

/**
 * conclave.v1.WatchService: one etcd watcher per server-streaming call, on
 * the same watch hub as etcdserverpb.Watch, so it works over Connect (JSON
 * and binary), gRPC-Web over HTTP/1.1 and gRPC.
 *
 * Every message says how far the stream got (`revision`), which is what lets
 * a client resume from `revision + 1` after a disconnect without losing or
 * repeating events. Like the bidi Watch, a slow reader never makes the
 * server buffer without bound: past its backlog limits the
 * watcher stops taking live events and later catches up from history.
 *
 * Compaction is reported the etcd way, as data rather than as an error: one
 * message with `compact_revision`, then the stream ends with an OK status.
 * Curl and browser users see the notice as an ordinary JSON message, and a
 * client can tell "history is gone, re-read" apart from a broken connection.
 */
export function createWatchStreamService(
  ctx: ServerContext,
  options: WatchStreamServiceOptions = {},
): ServiceImpl<typeof conclaveWatch.WatchService> {
  const backlog: WatchBacklogLimits = { ...defaultWatchBacklog, ...options.backlog };
  const minProgressMs = options.minProgressIntervalMs ?? 100;
  const endCheckMs = options.endCheckIntervalMs ?? 25;

  return {
    async *watch(req, hctx) {
      const { key, end } = watchRange(req);
      const readEnd =
        end === undefined ? new Uint8Array(0) : end === "infinity" ? new Uint8Array([0]) : end;
      checkRead(ctx, hctx, key, readEnd);
      const access = streamAccess(ctx, hctx);
      const startRev = Number(req.startRevision);
      const endRev = req.endRevision === 0n ? Number.POSITIVE_INFINITY : Number(req.endRevision);
      if (startRev < 0 || endRev < 0) throw invalid("conclave: revisions cannot be negative");
      if (startRev !== 0 && endRev < startRev) {
        throw invalid("conclave: end_revision is below start_revision");
      }

      const out: AsyncQueue<WatchResponse> = createAsyncQueue();
      let done = false;
      let lastEmit = Date.now();
      const emit = (
        init: {
          revision: number;
          created?: boolean;
          events?: Event[];
          compactRevision?: number;
        },
        bytes = 0,
      ) => {
        lastEmit = Date.now();
        out.push(
          create(WatchResponseSchema, {
            revision: BigInt(init.revision),
            created: init.created ?? false,
            events: init.events ?? [],
            compactRevision: BigInt(init.compactRevision ?? 0),
          }),
          bytes,
        );
      };

      /** Events of whole revisions, cut into messages of about softMessageBytes. */
      const emitEvents = (upTo: number, events: readonly WatchEvent[]) => {
        let part: Event[] = [];
        let bytes = 0;
        let partRev = 0;
        for (const e of events) {
          const rev = Number(e.kv.modRevision);
          const size = eventBytes(e, req.prevKv);
          if (part.length > 0 && rev !== partRev && bytes + size > softMessageBytes) {
            // Everything up to partRev is out once this part is.
            emit({ revision: partRev, events: part }, bytes);
            part = [];
            bytes = 0;
          }
          part.push(toEvent(e, req.prevKv));
          bytes += size;
          partRev = rev;
        }
        if (part.length > 0) emit({ revision: upTo, events: part }, bytes);
      };

      // Set right after the hub returns it; the sink only runs later.
      let watcher: Watcher | undefined;
      /** The revision up to which every matching event has been queued. */
      const position = (w: Watcher) =>
        w.synced() ? Math.max(ctx.store.durableRev(), w.nextRev() - 1) : w.nextRev() - 1;

      // Not unref'd: they live exactly as long as the stream, and keep an
      // in-process caller (createRouterTransport) alive while it waits.
      const timers: ReturnType<typeof setInterval>[] = [];
      let unsubscribe = () => {};
      let unsubscribeAuth = () => {};
      let onAbort = () => {};
      /**
       * Ends the stream after what is queued and releases everything at once:
       * a generator paused at `yield` (nobody reading) never reaches its
       * `finally`, so cleanup cannot wait for it.
       */
      const finish = () => {
        if (done) return;
        done = true;
        watcher?.cancel();
        unsubscribe();
        unsubscribeAuth();
        for (const t of timers) clearInterval(t);
        hctx.signal.removeEventListener("abort", onAbort);
        out.close();
      };
      const checkEnd = () => {
        if (!done && watcher !== undefined && position(watcher) >= endRev) finish();
      };

      const sink: WatchSink = {
        send(_w, batch: WatchBatch) {
          if (done) return true; // never mark a finished watcher as behind
          const upTo = Math.min(batch.rev, endRev);
          const events =
            batch.rev > endRev
              ? batch.events.filter((e) => Number(e.kv.modRevision) <= endRev)
              : batch.events;
          if (events.length > 0) emitEvents(upTo, events);
          if (batch.rev >= endRev) {
            finish();
            return true;
          }
          return backlogHasRoom(backlog, out);
        },
        compacted(_w, compactRev) {
          if (done) return;
          emit({ revision: (watcher?.nextRev() ?? 1) - 1, compactRevision: compactRev });
          finish();
        },
        ready: () => backlogDrained(backlog, out),
      };

      const createdRev = startRev === 0 ? ctx.store.durableRev() : startRev - 1;
      // "created" first: the hub defers history catch-up past this turn.
      emit({ revision: createdRev, created: true });
      watcher = ctx.hub.watch(
        {
          key,
          end,
          startRev,
          prevKv: req.prevKv,
          noPut: req.noPut,
          noDelete: req.noDelete,
        },
        sink,
      );
      const w = watcher;

      if (endRev !== Number.POSITIVE_INFINITY) {
        // A write outside the range moves a caught-up watcher past endRev
        // without a send; the hub's listener ran first, so events are queued.
        unsubscribe = ctx.store.onCommitted(() => queueMicrotask(checkEnd));
        timers.push(setInterval(checkEnd, endCheckMs));
      }
      if (req.progressIntervalMs > 0) {
        const interval = Math.max(req.progressIntervalMs, minProgressMs);
        // Checked four times per interval, so an idle gap lasts at most 1.25×.
        const t = setInterval(
          () => {
            if (done || !w.synced() || Date.now() - lastEmit < interval) return;
            emit({ revision: Math.min(position(w), endRev) });
          },
          Math.max(Math.floor(interval / 4), 1),
        );
        timers.push(t);
      }

      // Access revoked: the stream ends with the error a new request would
      // get, before anything written after the change is queued.
      unsubscribeAuth = ctx.auth.onChange((change) => {
        const denied = access.recheck(change, key, readEnd);
        if (denied === undefined || done) return;
        out.fail(denied);
        finish();
      });
      // The client went away: nothing queued can reach it any more.
      onAbort = () => {
        finish();
        out.discard();
      };
      hctx.signal.addEventListener("abort", onAbort);
      // Last, so that finishing now also releases everything registered above.
      if (hctx.signal.aborted) onAbort();
      if (endRev !== Number.POSITIVE_INFINITY) checkEnd();
      try {
        for await (const resp of out) yield resp;
      } finally {
        finish();
      }
    },
  };
}
