import { constants as h2, type IncomingHttpHeaders } from "node:http2";
import type { Duplex } from "node:stream";
import { IdMap } from "@conclave/core";
import { createHpackDecoder } from "../authority-repair/hpack-decoder.js";
import {
  frameFlag as flag,
  encodeFrame as frame,
  frameHeaderLength,
  headersFragment,
  http2Preface,
  minMaxFrameSize,
  settingMaxConcurrentStreams,
  settingsFrame,
  frameType as type,
  writeFrameHeader,
} from "../authority-repair/http2-frames.js";
import { GrpcEngineStream, type StreamConnection } from "./grpc-engine-stream.js";

/** Error codes (RFC 9113 §7), by Node's names for them. */
export const h2Error = {
  noError: h2.NGHTTP2_NO_ERROR,
  protocol: h2.NGHTTP2_PROTOCOL_ERROR,
  internal: h2.NGHTTP2_INTERNAL_ERROR,
  flowControl: h2.NGHTTP2_FLOW_CONTROL_ERROR,
  streamClosed: h2.NGHTTP2_STREAM_CLOSED,
  frameSize: h2.NGHTTP2_FRAME_SIZE_ERROR,
  refusedStream: h2.NGHTTP2_REFUSED_STREAM,
  cancel: h2.NGHTTP2_CANCEL,
  compression: h2.NGHTTP2_COMPRESSION_ERROR,
  enhanceYourCalm: h2.NGHTTP2_ENHANCE_YOUR_CALM,
} as const;

const defaultWindow = 65_535;
const maxWindow = 2 ** 31 - 1;
/**
 * The connection-level window we open at once and keep topped up: streams
 * are held back by their own 64 KiB windows (and a paused reader's), not by
 * the connection's, so one slow stream does not stall the others.
 */
const connectionWindow = 16 * 1024 * 1024;

/**
 * How long the ACK of a PING that arrives with nothing else to send waits
 * for a write to ride in, in milliseconds (default 2). It leaves with the
 * next write of the connection, after that write's frames, or alone when
 * the time is up.
 *
 * Why hold it at all: grpc-go (Go clientv3, etcdctl) sends a PING with the
 * first DATA it reads after each ACK, to estimate the connection's
 * bandwidth-delay product, so nearly every answer brought a PING that got a
 * write of its own: one more system call here and one more wake-up of the
 * client, ~3 of ~9 writes per acquisition with Go clientv3's lock. The
 * client's next request usually comes within a millisecond, and the ACK
 * rides in its answer; after that answer's DATA, so grpc-go takes the ACK
 * with the DATA already counted and pings again only after the next one
 * (BENCHMARKS.md, "PING ACKs that wait for a write"). The cost is what
 * TCP's delayed ACK costs: the client's round-trip estimate is up to this
 * much longer while the connection is idle. Keep-alive pings, whose
 * timeouts are seconds (grpc-go's default 20 s), do not notice.
 */
export const pingAckHoldMs = 2;

export interface GrpcEngineOptions {
  /** SETTINGS_MAX_CONCURRENT_STREAMS we announce and enforce (REFUSED_STREAM past it). */
  maxConcurrentStreams: number;
  /**
   * Bytes one connection may hold for readers that paused, and in header
   * blocks being assembled, before it is closed with ENHANCE_YOUR_CALM (as
   * Node's `maxSessionMemory`).
   */
  maxHeldBytes: number;
  /** Largest header block accepted (HEADERS plus CONTINUATIONs), as nghttp2's 64 KiB. */
  maxHeaderBlockBytes: number;
  /** Receives each new stream; its `req` and `res` go to the direct paths. */
  onStream: (stream: GrpcEngineStream) => void;
  /** Receives protocol errors, for logging. */
  reportError: (error: Error) => void;
}

/** One HTTP/2 connection served by the engine. */
export interface GrpcEngineConnection {
  /** Open streams. */
  readonly streamCount: number;
  /** GOAWAY (NO_ERROR), refuse new streams, close once the open ones end. */
  drain(): void;
  /** Closes at once. */
  destroy(): void;
}

function u32(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(value);
  return b;
}

/** Fields HTTP/2 forbids in a request (RFC 9113 §8.2.2), `te` but for "trailers". */
const connectionSpecific = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Whether a request's fields are well-formed as nghttp2 checks them: the
 * pseudo-headers `:method`, `:scheme` and `:path` once each and before the
 * others, no unknown pseudo-header, lower-case names, no connection-specific
 * field. A malformed request is a stream error (PROTOCOL_ERROR).
 */
function validRequestFields(fields: readonly { name: string; value: string }[]): boolean {
  let regular = false;
  let method = 0;
  let scheme = 0;
  let path = 0;
  for (const { name, value } of fields) {
    if (name.length === 0) return false;
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return false;
      if (name === ":method") method++;
      else if (name === ":scheme") scheme++;
      else if (name === ":path") {
        path++;
        if (value === "") return false;
      } else if (name !== ":authority") return false;
      continue;
    }
    regular = true;
    if (/[A-Z]/.test(name)) return false;
    if (connectionSpecific.has(name)) return false;
    if (name === "te" && value !== "trailers") return false;
  }
  return method === 1 && scheme === 1 && path === 1;
}

class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Serves an HTTP/2 connection whose bytes (from the client preface on) are
 * still to be read from `socket`: the frame loop of the gRPC engine.
 *
 * It speaks the server side of RFC 9113 for what gRPC clients send: SETTINGS
 * (and their ACK), PING, flow control both ways, HEADERS with CONTINUATION
 * and padding, DATA, RST_STREAM and GOAWAY; PRIORITY and unknown frames are
 * ignored, PUSH_PROMISE is a protocol error. Every frame produced in one turn
 * of the event loop leaves in one `write()`.
 */
export function serveGrpcEngineConnection(
  socket: Duplex,
  options: GrpcEngineOptions,
): GrpcEngineConnection {
  const hpack = createHpackDecoder();
  // Not a Map: one insert and one delete per request on a table that lives
  // as long as the connection promoted every request (see IdMap).
  const streams = new IdMap<GrpcEngineStream>();
  /** Streams with DATA waiting for window. */
  const blocked = new Set<GrpcEngineStream>();
  let held: Buffer = Buffer.alloc(0);
  let prefaceSeen = false;
  let lastStreamId = 0;
  let goingAway = false;
  let dead = false;
  // A header block in progress (HEADERS then CONTINUATIONs).
  let block: Buffer[] | undefined;
  let blockBytes = 0;
  let blockStream = 0;
  let blockEnds = false;
  // Flow control.
  let sendWindow = defaultWindow;
  let peerInitialWindow = defaultWindow;
  let peerMaxFrame = minMaxFrameSize;
  let connectionReceived = 0;
  /** Request bytes held for paused readers, across streams. */
  let heldForReaders = 0;
  // Output of this turn.
  let out: Buffer[] = [];
  let flushScheduled = false;
  /** A PING's ACK waiting for a write to ride in (see {@link pingAckHoldMs}). */
  let heldAck: Buffer | undefined;
  let heldAckTimer: NodeJS.Timeout | undefined;
  const releaseHeldAck = () => {
    if (heldAck !== undefined) send(heldAck);
    heldAck = undefined;
  };

  const flush = () => {
    flushScheduled = false;
    if (out.length === 0 || dead) return;
    if (heldAck !== undefined) {
      out.push(heldAck);
      heldAck = undefined;
    }
    const batch = out;
    out = [];
    socket.write(batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch));
    // A peer that sends (PINGs, requests) but never reads: what waits for it
    // is bounded by its windows, but not the answers to its control frames.
    if (socket.writableLength > options.maxHeldBytes) {
      options.reportError(new Error("the peer does not read: closing the connection"));
      dead = true;
      socket.destroy();
    }
  };
  const flushLastTick = () => process.nextTick(flush);
  const flushNextTicks = () => process.nextTick(flushLastTick);
  /**
   * Queues `b` for one write with what else is ready. Why `process.nextTick`
   * rather than a microtask: the answers a commit releases finish one after
   * another, each a few promise jobs behind the last, so a flush queued as a
   * microtask ran between them — one `write()` (and one loopback delivery)
   * per answer, ~16 µs of a Put's ~100 at c=100. Node runs a tick queued
   * from a promise job only once the promise jobs ran out, so the flush
   * comes after all of them, still before the loop goes on (`setImmediate`
   * waited for the check phase: Watch creation lost ~20%).
   *
   * Why the tick is queued from a microtask: a tick queued from the read
   * callback itself (a PING's ACK, a SETTINGS ACK) runs *before* that turn's
   * promise jobs, so grpc-go's PING, sent with nearly every request, left in
   * a write of its own ahead of the answer. Why one tick more: a stream
   * path uncorks its messages in a tick of its own (grpc-stream-fast-path.ts),
   * queued after this one, so a Watch's response headers left without its
   * created message. Each was one more system call and one more wake-up of
   * the client (with Go clientv3's lock, 18 → 14 socket writes per
   * acquisition).
   */
  const send = (b: Buffer) => {
    out.push(b);
    if (!flushScheduled) {
      flushScheduled = true;
      queueMicrotask(flushNextTicks);
    }
  };

  const connection: StreamConnection = {
    session: { socket },
    sendHeaders(id, headerBlock, endStream) {
      if (dead) return;
      // No trailers (a plain HTTP answer relayed from Node): end with an empty DATA frame.
      if (headerBlock.length === 0 && endStream) {
        send(frame(type.data, flag.endStream, id, headerBlock));
        return;
      }
      let flags = endStream ? flag.endStream : 0;
      if (headerBlock.length <= peerMaxFrame) {
        send(frame(type.headers, flags | flag.endHeaders, id, headerBlock));
        return;
      }
      let at = 0;
      let t: number = type.headers;
      while (at < headerBlock.length) {
        const n = Math.min(peerMaxFrame, headerBlock.length - at);
        const last = at + n === headerBlock.length;
        send(frame(t, flags | (last ? flag.endHeaders : 0), id, headerBlock.subarray(at, at + n)));
        at += n;
        t = type.continuation;
        flags = 0;
      }
    },
    pump(stream) {
      pumpStream(stream);
    },
    consumed(stream, bytes) {
      // As nghttp2: the window is given back once half of it was read, so a
      // small request costs no WINDOW_UPDATE at all.
      stream.unacknowledged += bytes;
      if (dead || stream.remoteClosed || stream.unacknowledged < defaultWindow / 2) return;
      stream.receiveWindow += stream.unacknowledged;
      send(frame(type.windowUpdate, 0, stream.id, u32(stream.unacknowledged)));
      stream.unacknowledged = 0;
    },
    sendReset(id, code) {
      if (!dead) send(frame(type.rstStream, 0, id, u32(code)));
    },
    holding(bytes) {
      heldForReaders += bytes;
    },
    closed(stream) {
      streams.delete(stream.id);
      blocked.delete(stream);
      if (goingAway && streams.size === 0) closeSoon();
    },
  };

  function pumpStream(stream: GrpcEngineStream): void {
    if (dead || stream.corked) return;
    while (stream.queued.length > 0) {
      const room = Math.min(stream.sendWindow, sendWindow, peerMaxFrame);
      if (room <= 0) {
        blocked.add(stream);
        return;
      }
      // One DATA frame from as many queued writes as fit: a turn's messages
      // leave as one frame, as Node sends a corked stream's writes.
      const n = Math.min(room, stream.queuedBytes);
      const out = Buffer.allocUnsafe(frameHeaderLength + n);
      writeFrameHeader(out, n, type.data, 0, stream.id);
      let at = frameHeaderLength;
      while (at < out.length) {
        const head = stream.queued[0] as Buffer;
        const take = Math.min(head.length, out.length - at);
        head.copy(out, at, 0, take);
        at += take;
        if (take === head.length) stream.queued.shift();
        else stream.queued[0] = head.subarray(take);
      }
      send(out);
      stream.sendWindow -= n;
      sendWindow -= n;
      stream.queuedBytes -= n;
    }
    blocked.delete(stream);
    stream.drained(true);
  }

  function pumpBlocked(): void {
    for (const stream of [...blocked]) {
      if (sendWindow <= 0) return;
      pumpStream(stream);
    }
  }

  function onPing(ack: Buffer): void {
    if (out.length > 0 || heldAck !== undefined) {
      // A write is coming this turn: ride in it (an earlier held ACK first).
      releaseHeldAck();
      send(ack);
      return;
    }
    heldAck = ack;
    if (heldAckTimer === undefined) {
      heldAckTimer = setTimeout(releaseHeldAck, pingAckHoldMs);
      heldAckTimer.unref();
    } else heldAckTimer.refresh();
  }

  function closeSoon(): void {
    // Let the last frames and the GOAWAY go out first.
    setImmediate(() => {
      if (dead) return;
      flush();
      socket.end();
    });
  }

  function goaway(code: number): void {
    send(frame(type.goaway, 0, 0, Buffer.concat([u32(lastStreamId), u32(code)])));
  }

  function fail(error: ConnectionError): void {
    if (dead) return;
    options.reportError(error);
    goaway(error.code);
    flush();
    dead = true;
    for (const s of streams.valuesSnapshot()) s.reset(error.code);
    socket.end();
    // A peer that never reads must not keep the socket.
    setTimeout(() => socket.destroy(), 1_000).unref();
  }

  function openStream(id: number, fields: { name: string; value: string }[], ends: boolean): void {
    if (id <= lastStreamId || id % 2 === 0) {
      throw new ConnectionError(h2Error.protocol, `unexpected stream id ${id}`);
    }
    lastStreamId = id;
    if (goingAway || streams.size >= options.maxConcurrentStreams) {
      connection.sendReset(id, h2Error.refusedStream);
      return;
    }
    if (!validRequestFields(fields)) {
      connection.sendReset(id, h2Error.protocol);
      return;
    }
    const headers: IncomingHttpHeaders = {};
    const rawHeaders: string[] = [];
    for (const f of fields) {
      rawHeaders.push(f.name, f.value);
      const prior = headers[f.name];
      if (prior === undefined) headers[f.name] = f.value;
      else if (f.name === "set-cookie") headers[f.name] = [...(prior as string[]), f.value];
      else headers[f.name] = `${prior}, ${f.value}`;
    }
    const stream = new GrpcEngineStream(
      connection,
      id,
      peerInitialWindow,
      defaultWindow,
      headers,
      rawHeaders,
    );
    streams.set(id, stream);
    options.onStream(stream);
    if (ends) stream.receive(Buffer.alloc(0), true);
  }

  function onHeaderBlock(id: number, bytes: Buffer, ends: boolean): void {
    let fields: { name: string; value: string }[];
    try {
      fields = hpack.decode(bytes);
    } catch (e) {
      throw new ConnectionError(h2Error.compression, `hpack: ${(e as Error).message}`);
    }
    const existing = streams.get(id);
    if (existing !== undefined) {
      // Request trailers: gRPC clients send none; they can only end the request.
      if (!ends) throw new ConnectionError(h2Error.protocol, "trailers without END_STREAM");
      existing.receive(Buffer.alloc(0), true);
      return;
    }
    if (id <= lastStreamId) {
      // HEADERS on a stream that is gone.
      connection.sendReset(id, h2Error.streamClosed);
      return;
    }
    openStream(id, fields, ends);
  }

  function onFrame(t: number, flags: number, id: number, payload: Buffer): void {
    if (block !== undefined && t !== type.continuation) {
      throw new ConnectionError(h2Error.protocol, "expected CONTINUATION");
    }
    switch (t) {
      case type.data: {
        if (id === 0) throw new ConnectionError(h2Error.protocol, "DATA on stream 0");
        connectionReceived += payload.length;
        if (connectionReceived > connectionWindow) {
          throw new ConnectionError(h2Error.flowControl, "connection window exceeded");
        }
        if (connectionReceived >= connectionWindow / 2) {
          send(frame(type.windowUpdate, 0, 0, u32(connectionReceived)));
          connectionReceived = 0;
        }
        let data = payload;
        if (flags & flag.padded) {
          const pad = payload[0] ?? 0;
          if (payload.length === 0 || pad >= payload.length) {
            throw new ConnectionError(h2Error.protocol, "bad padding");
          }
          data = payload.subarray(1, payload.length - pad);
        }
        const stream = streams.get(id);
        if (stream === undefined || stream.remoteClosed) {
          if (id > lastStreamId) throw new ConnectionError(h2Error.protocol, "DATA on idle stream");
          connection.sendReset(id, h2Error.streamClosed);
          return;
        }
        stream.receiveWindow -= payload.length;
        if (stream.receiveWindow < 0) {
          stream.abort(h2Error.flowControl);
          return;
        }
        // Padding is flow-controlled but never read: give it back at once.
        if (payload.length > data.length) connection.consumed(stream, payload.length - data.length);
        stream.receive(data, (flags & flag.endStream) !== 0);
        if (heldForReaders + blockBytes > options.maxHeldBytes) {
          throw new ConnectionError(h2Error.enhanceYourCalm, "too much held for paused streams");
        }
        return;
      }
      case type.headers: {
        if (id === 0) throw new ConnectionError(h2Error.protocol, "HEADERS on stream 0");
        const fragment = headersFragment(flags, payload);
        if (fragment === undefined) throw new ConnectionError(h2Error.protocol, "bad padding");
        if (flags & flag.endHeaders) {
          onHeaderBlock(id, fragment, (flags & flag.endStream) !== 0);
          return;
        }
        block = [fragment];
        blockBytes = fragment.length;
        blockStream = id;
        blockEnds = (flags & flag.endStream) !== 0;
        return;
      }
      case type.continuation: {
        if (block === undefined || id !== blockStream) {
          throw new ConnectionError(h2Error.protocol, "unexpected CONTINUATION");
        }
        block.push(payload);
        blockBytes += payload.length;
        if (blockBytes > options.maxHeaderBlockBytes) {
          throw new ConnectionError(h2Error.enhanceYourCalm, "header block too large");
        }
        if (flags & flag.endHeaders) {
          const bytes = Buffer.concat(block);
          block = undefined;
          blockBytes = 0;
          onHeaderBlock(blockStream, bytes, blockEnds);
        }
        return;
      }
      case type.priority:
        if (payload.length !== 5) throw new ConnectionError(h2Error.frameSize, "PRIORITY size");
        return;
      case type.rstStream: {
        if (id === 0) throw new ConnectionError(h2Error.protocol, "RST_STREAM on stream 0");
        if (payload.length !== 4) throw new ConnectionError(h2Error.frameSize, "RST_STREAM size");
        if (id > lastStreamId)
          throw new ConnectionError(h2Error.protocol, "RST_STREAM on idle stream");
        streams.get(id)?.reset(payload.readUInt32BE(0));
        return;
      }
      case type.settings: {
        if (id !== 0) throw new ConnectionError(h2Error.protocol, "SETTINGS on a stream");
        if (flags & flag.ack) {
          if (payload.length !== 0)
            throw new ConnectionError(h2Error.frameSize, "SETTINGS ACK size");
          return;
        }
        if (payload.length % 6 !== 0) throw new ConnectionError(h2Error.frameSize, "SETTINGS size");
        for (let at = 0; at < payload.length; at += 6) {
          const key = payload.readUInt16BE(at);
          const value = payload.readUInt32BE(at + 2);
          if (key === h2.NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE) {
            if (value > maxWindow)
              throw new ConnectionError(h2Error.flowControl, "window too large");
            const delta = value - peerInitialWindow;
            peerInitialWindow = value;
            for (const s of streams.valuesSnapshot()) s.sendWindow += delta;
          } else if (key === h2.NGHTTP2_SETTINGS_MAX_FRAME_SIZE) {
            if (value < minMaxFrameSize || value > 16_777_215) {
              throw new ConnectionError(h2Error.protocol, "bad SETTINGS_MAX_FRAME_SIZE");
            }
            peerMaxFrame = value;
          } else if (key === h2.NGHTTP2_SETTINGS_ENABLE_PUSH && value > 1) {
            throw new ConnectionError(h2Error.protocol, "bad SETTINGS_ENABLE_PUSH");
          }
        }
        send(frame(type.settings, flag.ack, 0));
        pumpBlocked();
        return;
      }
      case type.pushPromise:
        throw new ConnectionError(h2Error.protocol, "PUSH_PROMISE from a client");
      case type.ping:
        if (id !== 0) throw new ConnectionError(h2Error.protocol, "PING on a stream");
        if (payload.length !== 8) throw new ConnectionError(h2Error.frameSize, "PING size");
        if (!(flags & flag.ack)) onPing(frame(type.ping, flag.ack, 0, Buffer.from(payload)));
        return;
      case type.goaway:
        if (id !== 0) throw new ConnectionError(h2Error.protocol, "GOAWAY on a stream");
        goingAway = true;
        if (streams.size === 0) closeSoon();
        return;
      case type.windowUpdate: {
        if (payload.length !== 4)
          throw new ConnectionError(h2Error.frameSize, "WINDOW_UPDATE size");
        const increment = payload.readUInt32BE(0) & 0x7fff_ffff;
        if (id === 0) {
          if (increment === 0) throw new ConnectionError(h2Error.protocol, "WINDOW_UPDATE of 0");
          sendWindow += increment;
          if (sendWindow > maxWindow)
            throw new ConnectionError(h2Error.flowControl, "window overflow");
          pumpBlocked();
          return;
        }
        const stream = streams.get(id);
        if (stream === undefined) return;
        if (increment === 0) {
          stream.abort(h2Error.protocol);
          return;
        }
        stream.sendWindow += increment;
        if (stream.sendWindow > maxWindow) {
          stream.abort(h2Error.flowControl);
          return;
        }
        if (stream.queued.length > 0) pumpStream(stream);
        return;
      }
      default:
        return; // Unknown frame types are ignored (RFC 9113 §4.1).
    }
  }

  function onData(chunk: Buffer): void {
    if (dead) return;
    held = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
    const bytes = held;
    let at = 0;
    try {
      if (!prefaceSeen) {
        if (bytes.length < http2Preface.length) return;
        if (!bytes.subarray(0, http2Preface.length).equals(http2Preface)) {
          throw new ConnectionError(h2Error.protocol, "bad client preface");
        }
        prefaceSeen = true;
        at = http2Preface.length;
      }
      while (!dead && bytes.length - at >= frameHeaderLength) {
        const length = bytes.readUIntBE(at, 3);
        // We never raise SETTINGS_MAX_FRAME_SIZE from its initial value.
        if (length > minMaxFrameSize)
          throw new ConnectionError(h2Error.frameSize, "frame too large");
        if (bytes.length - at < frameHeaderLength + length) break;
        const t = bytes[at + 3] as number;
        const flags = bytes[at + 4] as number;
        const id = bytes.readUInt32BE(at + 5) & 0x7fff_ffff;
        const payload = bytes.subarray(at + frameHeaderLength, at + frameHeaderLength + length);
        at += frameHeaderLength + length;
        onFrame(t, flags, id, payload);
      }
    } catch (e) {
      if (e instanceof ConnectionError) {
        fail(e);
        return;
      }
      fail(new ConnectionError(h2Error.internal, (e as Error).message));
      return;
    }
    held = at === bytes.length ? Buffer.alloc(0) : bytes.subarray(at);
  }

  // Our settings: the concurrency limit (the window and frame size stay at
  // their defaults), then the connection window opened wide.
  send(
    settingsFrame([
      [settingMaxConcurrentStreams, Math.min(options.maxConcurrentStreams, 2 ** 32 - 1)],
    ]),
  );
  send(frame(type.windowUpdate, 0, 0, u32(connectionWindow - defaultWindow)));

  socket.on("data", onData);
  socket.on("error", (error: Error) => options.reportError(error));
  socket.once("close", () => {
    dead = true;
    clearTimeout(heldAckTimer);
    for (const s of streams.valuesSnapshot()) s.reset(h2Error.cancel);
    streams.clear();
  });
  socket.resume();

  return {
    get streamCount() {
      return streams.size;
    },
    drain() {
      if (goingAway || dead) return;
      goingAway = true;
      goaway(h2Error.noError);
      if (streams.size === 0) closeSoon();
    },
    destroy() {
      dead = true;
      socket.destroy();
    },
  };
}
