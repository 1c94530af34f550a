import { type Event, Event_EventType, type KeyValue } from "@conclave/proto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ConclaveServices } from "./conclave-services.js";
import { type KeySpan, toKeyRange } from "./range-request.js";
import {
  createReconnectingStream,
  type ReconnectingStream,
  type StreamOptions,
} from "./reconnecting-stream.js";
import type { BytesInput } from "./to-bytes.js";

export interface WatchOptions extends StreamOptions, Omit<KeySpan, "fromKey"> {
  /** Watch every key from the key on. */
  fromKey?: boolean;
  /**
   * First revision to deliver. Default: the revision after the current one
   * when the stream first connects — which is when iteration starts, so to
   * miss nothing between creating the watch and reading it, pass the
   * revision of a read plus one. A revision that was already compacted gives
   * a `resync` update first.
   */
  startRevision?: bigint | number;
  /** Last revision to deliver; the stream then ends by itself. Default: none. */
  endRevision?: bigint | number;
  /** Include each event's previous key-value. */
  prevKv?: boolean;
  /** Leave out PUT events. */
  noPut?: boolean;
  /** Leave out DELETE events. */
  noDelete?: boolean;
  /**
   * How often the server confirms the current revision while nothing
   * changes, in ms. Each confirmation moves the resume point forward, so a
   * reconnect after a quiet hour does not start from an hour-old revision
   * (which may have been compacted), and the traffic keeps proxies from
   * closing an idle connection. Default 10 000; 0 turns it off.
   */
  progressIntervalMs?: number;
}

/**
 * etcd's `mvccpb.Event` with its type as a string as well: `kind` is
 * `"put"` or `"delete"`; `type` is the protobuf enum (`EventType.PUT` is 0,
 * `EventType.DELETE` is 1), kept for code written against it.
 */
export type WatchEvent = Event & { readonly kind: "put" | "delete" };

/** Adds `kind` to a protobuf event (its encoding ignores the extra field). */
const withKind = (e: Event): WatchEvent =>
  Object.assign(e, { kind: e.type === Event_EventType.DELETE ? "delete" : "put" } as const);

/** What a watch yields: changes, or a fresh copy of the state after history was lost. */
export type WatchUpdate =
  | {
      type: "events";
      /** Every change up to this revision has now been delivered. */
      revision: bigint;
      /** In revision order; the events of one revision (one txn) always come together. */
      events: WatchEvent[];
    }
  | {
      /**
       * The stream had to resume from a revision that was compacted, so the
       * changes in between cannot be delivered. Instead, this is the whole
       * current state of the watched keys: replace what you built from
       * earlier events with it. Events continue from `revision + 1`.
       */
      type: "resync";
      /** The revision `kvs` were read at. */
      revision: bigint;
      /** The compaction revision the server reported. */
      compactRevision: bigint;
      /** Every watched key that exists at `revision` (filters do not apply). */
      kvs: KeyValue[];
    };

/** A watch that reconnects by itself; iterate it once. */
export interface WatchStream extends ReconnectingStream<WatchUpdate> {
  /** Every change up to this revision was delivered (or confirmed absent); -1n before the first connection. */
  readonly revision: bigint;
}

/**
 * Watches a key or range over conclave.v1's server-streaming Watch (works in
 * browsers). When the connection breaks it reconnects with backoff and asks
 * for `revision + 1`, where `revision` is the last position the server
 * confirmed — so across reconnects and server restarts every change is
 * delivered exactly once, in order. If that revision was compacted
 * meanwhile, the stream reads the current state and yields a `resync`.
 * `ConclaveClient.watch` is this with the client's `close()` and backoff.
 *
 * @example
 * ```ts
 * for await (const update of createWatchStream(services, "config/", { prefix: true })) {
 *   if (update.type === "events") for (const e of update.events) console.log(e.kind, toText(e.kv?.key));
 * }
 * ```
 */
export function createWatchStream(
  services: ConclaveServices,
  key: BytesInput,
  options: WatchOptions = {},
): WatchStream {
  const range = toKeyRange(key, options);
  const endRevision = BigInt(options.endRevision ?? 0);
  const progressIntervalMs = options.progressIntervalMs ?? 10_000;
  /** The confirmed position; undefined until the first "created". */
  let position: bigint | undefined;
  const startOf = () =>
    position === undefined ? BigInt(options.startRevision ?? 0) : position + 1n;
  const reachedEnd = () => endRevision > 0n && position !== undefined && position >= endRevision;

  async function* connect(signal: AbortSignal, connected: () => void) {
    for (;;) {
      if (reachedEnd()) return;
      const stream = services.watchStream.watch(
        {
          ...range,
          startRevision: startOf(),
          endRevision,
          prevKv: options.prevKv ?? false,
          noPut: options.noPut ?? false,
          noDelete: options.noDelete ?? false,
          progressIntervalMs,
        },
        { signal },
      );
      let compacted = false;
      for await (const msg of stream) {
        if (msg.created) connected();
        if (msg.compactRevision > 0n) {
          const state = await services.kv.range(range, { signal });
          const revision = state.header?.revision ?? 0n;
          position = revision;
          compacted = true;
          yield {
            type: "resync",
            revision,
            compactRevision: msg.compactRevision,
            kvs: state.kvs,
          } satisfies WatchUpdate;
          break;
        }
        // Never repeat what an earlier connection delivered.
        const from = position;
        const events = (
          from === undefined
            ? msg.events
            : msg.events.filter((e) => (e.kv?.modRevision ?? 0n) > from)
        ).map(withKind);
        if (position === undefined || msg.revision > position) position = msg.revision;
        if (events.length > 0) {
          yield { type: "events", revision: msg.revision, events } satisfies WatchUpdate;
        }
      }
      if (compacted) continue; // reopen at once from the state just read
      if (reachedEnd()) return;
      // The server closed the stream (shutting down): reopen with backoff.
      throw new ConnectError("watch stream ended before its end revision", Code.Unavailable);
    }
  }

  const stream = createReconnectingStream<WatchUpdate>(connect, options);
  return {
    [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator](),
    close: () => stream.close(),
    get revision() {
      return position ?? -1n;
    },
  };
}
