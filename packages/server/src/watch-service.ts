import { create, toBinary } from "@bufbuild/protobuf";
import type { Watcher, WatchSink } from "@conclave/core";
import { grpcOverheadBytes, toWatchRange } from "@conclave/core";
import {
  type Event,
  type Watch,
  type WatchCreateRequest,
  WatchCreateRequest_FilterType,
  type WatchResponse,
  WatchResponseSchema,
} from "@conclave/proto";
import type { ServiceImpl } from "@connectrpc/connect";
import { type AsyncQueue, createAsyncQueue } from "./async-queue.js";
import { checkRead } from "./auth-guard.js";
import { onCallEnd } from "./call-context.js";
import { cancelReasonOf } from "./errors.js";
import { fillHeader } from "./header.js";
import { rememberedEncoding } from "./message-encoding.js";
import type { ServerContext } from "./server-context.js";
import { type StreamAccess, streamAccess } from "./stream-access.js";
import {
  backlogDrained,
  backlogHasRoom,
  defaultWatchBacklog,
  eventsBytes,
  type WatchBacklogLimits,
} from "./watch-backlog.js";
import { createWatchResponseEncoder } from "./watch-response-encoder.js";

export interface WatchServiceOptions {
  /**
   * What a stream may have queued before its watchers stop receiving live
   * events and switch to catching up from history. Default
   * {@link defaultWatchBacklog} (1024 responses, 4 MiB of events).
   */
  backlog?: Partial<WatchBacklogLimits>;
  /** Interval of progress notifications for watchers that asked for them. Default 10 min, as etcd. */
  progressIntervalMs?: number;
}

const toBinaryString = (b: Uint8Array) =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
const fromBinaryString = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

const errEmptyRange = "mvcc: watcher range is empty";
const errDuplicateId = "mvcc: duplicate watch ID provided on the WatchStream";

interface StreamWatcher {
  id: bigint;
  watcher: Watcher;
  prevKv: boolean;
  fragment: boolean;
  progressNotify: boolean;
  /** Whether events were sent since the last progress tick. */
  active: boolean;
  /**
   * What READ was checked on at create, re-checked on every auth change: as
   * binary strings, which cost less than views that keep the request's bytes.
   */
  key: string;
  rangeEnd: string;
  /** `watch_id` encoded, joined to the shared parts of each event response. */
  idPart: Uint8Array;
}

/**
 * etcdserverpb.Watch: one bidi stream carries many watchers. All responses of
 * a stream go through one queue, so "created" precedes the watcher's events,
 * creates are answered in the order they arrive, and progress responses are
 * ordered with events. The stream stays open after the client half-closes,
 * as etcd's does, until the client cancels or the server shuts down.
 */
export function createWatchService(
  ctx: ServerContext,
  options: WatchServiceOptions = {},
): Partial<ServiceImpl<typeof Watch>> {
  const backlog: WatchBacklogLimits = { ...defaultWatchBacklog, ...options.backlog };
  const progressIntervalMs = options.progressIntervalMs ?? 10 * 60 * 1000;
  const fragmentBytes = ctx.maxRequestBytes + grpcOverheadBytes;
  const encoder = createWatchResponseEncoder(ctx);

  return {
    async *watch(requests, hctx) {
      const out: AsyncQueue<WatchResponse> = createAsyncQueue();
      const byId = new Map<bigint, StreamWatcher>();
      const byWatcher = new Map<Watcher, StreamWatcher>();
      let nextId = 0n;
      let progressPending = false;
      let progressCheck: NodeJS.Timeout | undefined;

      const header = (rev: number) => fillHeader(ctx, BigInt(rev));
      const push = (sw: StreamWatcher, resp: WatchResponse, bytes: number) => {
        if (!sw.fragment || resp.events.length < 2) return out.push(resp, bytes);
        const encoded = rememberedEncoding(resp) ?? toBinary(WatchResponseSchema, resp);
        if (encoded.length < fragmentBytes) {
          return out.push(resp, bytes);
        }
        // etcd's sendFragments: fill each fragment until it reaches the limit.
        let i = 0;
        while (i < resp.events.length) {
          const part = create(WatchResponseSchema, { ...resp, events: [], fragment: true });
          while (i < resp.events.length) {
            part.events.push(resp.events[i] as Event);
            if (
              part.events.length > 1 &&
              toBinary(WatchResponseSchema, part).length >= fragmentBytes
            ) {
              part.events.pop();
              break;
            }
            i++;
          }
          if (i === resp.events.length) part.fragment = false;
          out.push(part, (bytes * part.events.length) / resp.events.length);
        }
      };

      const sink: WatchSink = {
        send(w, batch) {
          const sw = byWatcher.get(w);
          if (sw === undefined) return true;
          sw.active = true;
          const bytes = eventsBytes(batch.events, sw.prevKv);
          push(sw, encoder.events(batch.rev, sw.id, sw.idPart, batch.events, sw.prevKv), bytes);
          return backlogHasRoom(backlog, out);
        },
        compacted(w, compactRev) {
          const sw = byWatcher.get(w);
          if (sw === undefined) return;
          byWatcher.delete(w);
          byId.delete(sw.id);
          // etcd: header revision 0, compact_revision set, canceled.
          out.push(
            create(WatchResponseSchema, {
              header: { ...fillHeader(ctx), revision: 0n },
              watchId: sw.id,
              compactRevision: BigInt(compactRev),
              canceled: true,
            }),
          );
        },
        ready: () => backlogDrained(backlog, out),
      };

      const allSynced = () => [...byId.values()].every((sw) => sw.watcher.synced());
      const sendProgress = () => {
        progressPending = false;
        clearInterval(progressCheck);
        progressCheck = undefined;
        out.push(
          create(WatchResponseSchema, { header: header(ctx.store.durableRev()), watchId: -1n }),
        );
      };

      const createWatcher = (creq: WatchCreateRequest) => {
        if (released) return;
        // etcd's normalisation: empty key is "\0"; range_end "\0" means "to the end".
        const re = creq.rangeEnd;
        const { key, end } = toWatchRange(creq.key, re);
        const rev = ctx.store.durableRev();
        const refuse = (reason: string) =>
          out.push(
            create(WatchResponseSchema, {
              header: header(rev),
              watchId: -1n,
              created: true,
              canceled: true,
              cancelReason: reason,
            }),
          );
        if (end !== undefined && end !== "infinity" && Buffer.compare(key, end) >= 0) {
          return refuse(errEmptyRange);
        }
        // READ on the whole range, checked at each create (etcd: denied → created+canceled).
        try {
          checkRead(ctx, hctx, key, re);
          access ??= streamAccess(ctx, hctx);
        } catch (err) {
          return refuse(cancelReasonOf(err));
        }
        let id = creq.watchId;
        if (id !== 0n) {
          if (byId.has(id)) return refuse(errDuplicateId);
        } else {
          while (byId.has(nextId)) nextId++;
          id = nextId++;
        }
        const watcher = ctx.hub.watch(
          {
            key,
            end,
            startRev: Number(creq.startRevision),
            prevKv: creq.prevKv,
            noPut: creq.filters.includes(WatchCreateRequest_FilterType.NOPUT),
            noDelete: creq.filters.includes(WatchCreateRequest_FilterType.NODELETE),
          },
          sink,
        );
        const sw: StreamWatcher = {
          id,
          watcher,
          prevKv: creq.prevKv,
          fragment: creq.fragment,
          progressNotify: creq.progressNotify,
          active: false,
          key: toBinaryString(key),
          rangeEnd: toBinaryString(re),
          idPart: encoder.watchIdPart(id),
        };
        byId.set(id, sw);
        byWatcher.set(watcher, sw);
        out.push(create(WatchResponseSchema, { header: header(rev), watchId: id, created: true }));
      };

      /**
       * Who the stream's watchers read as; set by the first create that
       * passed its check. On every auth change each watcher is checked again
       * and one its caller may no longer read is canceled as a refused
       * create would be, before anything written after the change is sent.
       */
      let access: StreamAccess | undefined;
      /** Stops one watcher and answers canceled (with a reason when the server ended it). */
      const cancelWatcher = (sw: StreamWatcher, cancelReason: string) => {
        sw.watcher.cancel();
        byId.delete(sw.id);
        byWatcher.delete(sw.watcher);
        out.push(
          create(WatchResponseSchema, {
            header: header(ctx.store.durableRev()),
            watchId: sw.id,
            canceled: true,
            cancelReason,
          }),
        );
      };
      const unsubscribeAuth = ctx.auth.onChange((change) => {
        if (access === undefined) return;
        for (const sw of [...byId.values()]) {
          const denied = access.recheck(
            change,
            fromBinaryString(sw.key),
            fromBinaryString(sw.rangeEnd),
          );
          if (denied !== undefined) cancelWatcher(sw, cancelReasonOf(denied));
        }
      });

      const progressTimer = setInterval(() => {
        for (const sw of byId.values()) {
          if (sw.progressNotify && !sw.active && sw.watcher.synced()) {
            out.push(
              create(WatchResponseSchema, {
                header: header(ctx.store.durableRev()),
                watchId: sw.id,
              }),
            );
          }
          sw.active = false;
        }
      }, progressIntervalMs);
      progressTimer.unref();
      // A progress request waits until every watcher of the stream is synced,
      // so its revision never runs ahead of events still to be sent. The
      // check runs only while such a request waits.
      const deferProgress = () => {
        if (released) return;
        progressPending = true;
        progressCheck ??= setInterval(() => {
          if (progressPending && allSynced()) sendProgress();
        }, 20);
        progressCheck.unref();
      };

      /**
       * Cancels the stream's watchers and drops what is queued, at once: a
       * generator paused at `yield` for a client that went away (reset,
       * closed connection, kill -9) may never be resumed, so its `finally`
       * cannot be where the watchers and their buffers are let go.
       */
      let released = false;
      let stopWaiting: (() => void) | undefined;
      const release = () => {
        if (released) return;
        released = true;
        stopWaiting?.();
        unsubscribeAuth();
        clearInterval(progressTimer);
        clearInterval(progressCheck);
        for (const sw of byId.values()) sw.watcher.cancel();
        byId.clear();
        byWatcher.clear();
        out.discard();
      };
      stopWaiting = onCallEnd(hctx, release);
      const reader = (async () => {
        for await (const req of requests) {
          const u = req.requestUnion;
          switch (u.case) {
            case "createRequest":
              createWatcher(u.value);
              break;
            case "cancelRequest": {
              const sw = byId.get(u.value.watchId);
              if (sw === undefined) break; // unknown id: no reply, as etcd
              cancelWatcher(sw, "");
              break;
            }
            case "progressRequest":
              if (allSynced()) sendProgress();
              else deferProgress();
              break;
          }
        }
        // Half-close: keep streaming until the client cancels or we shut down.
      })();
      reader.catch((err: unknown) => out.fail(err));

      try {
        for await (const resp of out) yield resp;
      } finally {
        release();
      }
    },
  };
}
