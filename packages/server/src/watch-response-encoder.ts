import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { WatchEvent } from "@conclave/core";
import {
  type Event,
  Event_EventType,
  EventSchema,
  type ResponseHeader,
  ResponseHeaderSchema,
  type WatchResponse,
  WatchResponseSchema,
} from "@conclave/proto";
import { fillHeader } from "./header.js";
import { allocEnvelope, envelopePrefixBytes, rememberEnvelope } from "./message-encoding.js";
import type { ServerContext } from "./server-context.js";

/**
 * Builds etcd Watch event responses from parts shared by every watcher of a
 * revision, and remembers each response's encoding (message-encoding.ts).
 *
 * Why: with a thousand watchers on one key, each put became a thousand
 * responses, each built from fresh Event and KeyValue messages and encoded
 * whole — a fifth of the server's CPU in the watch fan-out benchmark was
 * protobuf encoding. Here the header is encoded once per revision and each
 * event once (the hub hands every watcher without prev_kv the same event
 * objects); a response is the joined bytes plus its watch ID. Protobuf
 * writes a message's fields one after another in field order (header 1,
 * watch_id 2, events 11), so the join is exactly what `toBinary` gives —
 * watch-response-encoder.test.ts holds it to that.
 */
export interface WatchResponseEncoder {
  /** The encoding of `watch_id = id` alone, to keep per watcher. */
  watchIdPart(id: bigint): Uint8Array;
  /**
   * The response carrying `events` at revision `rev` to the watcher `id`
   * (whose {@link watchIdPart} is `idPart`), its encoding remembered.
   */
  events(
    rev: number,
    id: bigint,
    idPart: Uint8Array,
    events: readonly WatchEvent[],
    withPrev: boolean,
  ): WatchResponse;
}

interface Part<M> {
  message: M;
  /** The field's encoding in a WatchResponse: tag, length, message. */
  bytes: Uint8Array;
}

const field = (fieldNo: number, message: Uint8Array) =>
  new BinaryWriter().tag(fieldNo, WireType.LengthDelimited).bytes(message).finish();

const encodeIdPart = (id: bigint) =>
  toBinary(WatchResponseSchema, create(WatchResponseSchema, { watchId: id }));
/** Watch IDs below this share their encoded part (never written to: callers only copy it). */
const sharedIdParts = 4096n;
const idParts: Array<Uint8Array | undefined> = [];

export function createWatchResponseEncoder(ctx: ServerContext): WatchResponseEncoder {
  // The last revision's header: every watcher of a write is sent in one go.
  let header: (Part<ResponseHeader> & { rev: number }) | undefined;
  // Per event object and prev_kv choice; weakly held, so gone with the events.
  const plain = new WeakMap<WatchEvent, Part<Event>>();
  const withPrevKv = new WeakMap<WatchEvent, Part<Event>>();

  const headerPart = (rev: number): Part<ResponseHeader> => {
    const term = ctx.raftTerm;
    if (header?.rev === rev && header.message.raftTerm === term) return header;
    const message = fillHeader(ctx, BigInt(rev));
    header = { rev, message, bytes: field(1, toBinary(ResponseHeaderSchema, message)) };
    return header;
  };
  const eventPart = (e: WatchEvent, withPrev: boolean): Part<Event> => {
    const cache = withPrev ? withPrevKv : plain;
    let part = cache.get(e);
    if (part === undefined) {
      const message = create(EventSchema, {
        type: e.type === "put" ? Event_EventType.PUT : Event_EventType.DELETE,
        kv: e.kv,
        prevKv: withPrev ? e.prevKv : undefined,
      } as never);
      part = { message, bytes: field(11, toBinary(EventSchema, message)) };
      cache.set(e, part);
    }
    return part;
  };

  return {
    watchIdPart: (id) => {
      // Shared for the IDs a stream hands out itself (0, 1, 2, …): one less array per watcher.
      if (id < 0n || id >= sharedIdParts) return encodeIdPart(id);
      const i = Number(id);
      let part = idParts[i];
      if (part === undefined) {
        part = encodeIdPart(id);
        idParts[i] = part;
      }
      return part;
    },
    events(rev, id, idPart, events, withPrev) {
      const h = headerPart(rev);
      const parts = events.map((e) => eventPart(e, withPrev));
      let size = h.bytes.length + idPart.length;
      for (const p of parts) size += p.bytes.length;
      const envelope = allocEnvelope(size);
      envelope.set(h.bytes, envelopePrefixBytes);
      let at = envelopePrefixBytes + h.bytes.length;
      envelope.set(idPart, at);
      at += idPart.length;
      for (const p of parts) {
        envelope.set(p.bytes, at);
        at += p.bytes.length;
      }
      // Written out rather than made by create(), whose walk over the fields
      // cost ~150 ns a watcher; the test holds it equal to create()'s message.
      const response: WatchResponse = {
        $typeName: "etcdserverpb.WatchResponse",
        header: h.message,
        watchId: id,
        created: false,
        canceled: false,
        compactRevision: 0n,
        cancelReason: "",
        fragment: false,
        events: parts.map((p) => p.message),
      };
      return rememberEnvelope(response, envelope);
    },
  };
}
