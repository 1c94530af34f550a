import { EventEmitter } from "node:events";
import { constants as h2, type IncomingHttpHeaders } from "node:http2";
import type { NodeHeaders } from "../direct-call.js";
import type { GrpcCallRequest, GrpcCallResponse } from "../grpc-call-objects.js";
import { encodeHeaderBlock } from "./header-block.js";

/** What a stream needs of its connection. */
export interface StreamConnection {
  /** The connection as `req.stream.session` (tls-peer-identity.ts reads its `socket`). */
  readonly session: { readonly socket: unknown };
  /** Queues a HEADERS frame (with CONTINUATIONs as needed). */
  sendHeaders(id: number, block: Buffer, endStream: boolean): void;
  /** Queues what the windows allow of `stream`'s pending data. */
  pump(stream: GrpcEngineStream): void;
  /** Lets the peer send `bytes` more on the stream (a WINDOW_UPDATE). */
  consumed(stream: GrpcEngineStream, bytes: number): void;
  /** Sends RST_STREAM. */
  sendReset(id: number, code: number): void;
  /** Request bytes held for paused readers grew (or shrank, negative) by `bytes`. */
  holding(bytes: number): void;
  /** The stream closed both ways or was reset: forget it. */
  closed(stream: GrpcEngineStream): void;
}

/** Most bytes a response may have queued before `write()` asks the writer to wait for "drain" (Node's default). */
const writeHighWaterMark = 16_384;

/**
 * Header blocks of the shared frozen header objects the direct paths answer
 * with, encoded once: response headers (`:status 200`) and trailers apart.
 */
const responseBlocks = new WeakMap<NodeHeaders, Buffer>();
const trailerBlocks = new WeakMap<NodeHeaders, Buffer>();

let dateSecond = -1;
let dateBlock: Buffer = Buffer.alloc(0);

/**
 * The `date` field Node adds to every HTTP/2 response (RFC 9110 §6.6.1),
 * encoded once a second.
 */
function dateField(): Buffer {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateBlock = encodeHeaderBlock(undefined, { date: new Date(now).toUTCString() });
  }
  return dateBlock;
}

function headerBlock(status: number | undefined, headers: NodeHeaders): Buffer {
  const cache = status === undefined ? trailerBlocks : status === 200 ? responseBlocks : undefined;
  if (cache === undefined || !Object.isFrozen(headers)) return encodeHeaderBlock(status, headers);
  let block = cache.get(headers);
  if (block === undefined) {
    block = encodeHeaderBlock(status, headers);
    cache.set(headers, block);
  }
  return block;
}

/** A response's header block: `status`, the fields, and `date` as Node adds it. */
function responseHeaderBlock(status: number, headers: NodeHeaders): Buffer {
  return Buffer.concat([headerBlock(status, headers), dateField()]);
}

/**
 * One HTTP/2 stream of the gRPC engine: its request (headers, DATA, the
 * peer's end or reset) and its answer (headers, DATA held to the flow-control
 * windows, trailers). `req` and `res` are what the direct gRPC paths take.
 */
export class GrpcEngineStream {
  readonly req: GrpcEngineRequest;
  readonly res: GrpcEngineResponse;
  /** What we may still send: the peer's window for this stream. */
  sendWindow: number;
  /** What the peer may still send before we update its window. */
  receiveWindow: number;
  /** Bytes read since the last WINDOW_UPDATE of this stream. */
  unacknowledged = 0;
  /** The RST_STREAM code, if the stream was reset. */
  rstCode: number | undefined = undefined;
  /** Nothing more can be sent: our side ended or the stream was reset. */
  destroyed = false;
  /** The peer sent END_STREAM. */
  remoteClosed = false;
  /** DATA waiting for window, in order. */
  queued: Buffer[] = [];
  queuedBytes = 0;
  /** While above 0, writes are queued but not sent (the response's `cork()`). */
  corks = 0;
  /** Trailers to send once `queued` is out. */
  trailers: Buffer | undefined = undefined;
  /** Request bytes held while paused; null marks the end. */
  private inbox: (Buffer | null)[] = [];
  private paused = false;
  private closeEmitted = false;
  private localEnded = false;

  constructor(
    readonly connection: StreamConnection,
    readonly id: number,
    initialSendWindow: number,
    initialReceiveWindow: number,
    headers: IncomingHttpHeaders,
    rawHeaders: string[],
  ) {
    this.sendWindow = initialSendWindow;
    this.receiveWindow = initialReceiveWindow;
    this.req = new GrpcEngineRequest(this, headers, rawHeaders);
    this.res = new GrpcEngineResponse(this);
  }

  get corked(): boolean {
    return this.corks > 0;
  }

  uncork(): void {
    if (this.corks === 0) return;
    this.corks--;
    if (this.corks === 0) this.connection.pump(this);
  }

  get session(): { readonly socket: unknown } {
    return this.connection.session;
  }

  /** DATA (possibly empty) from the peer, and whether it ended the request. */
  receive(data: Buffer, end: boolean): void {
    if (end) this.remoteClosed = true;
    if (this.paused || this.inbox.length > 0) {
      if (data.length > 0) {
        this.inbox.push(data);
        this.connection.holding(data.length);
      }
      if (end) this.inbox.push(null);
      return;
    }
    if (data.length > 0) {
      this.connection.consumed(this, data.length);
      this.req.emit("data", data);
    }
    if (end) this.req.emit("end");
    this.maybeClose();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    while (!this.paused && this.inbox.length > 0) {
      const item = this.inbox.shift();
      if (item === null || item === undefined) this.req.emit("end");
      else {
        this.connection.holding(-item.length);
        this.connection.consumed(this, item.length);
        this.req.emit("data", item);
      }
    }
    this.maybeClose();
  }

  /** The peer reset the stream, or the connection went away (`code` as the reason). */
  reset(code: number): void {
    if (this.closeEmitted) return;
    this.rstCode = code;
    this.destroyed = true;
    this.queued = [];
    this.queuedBytes = 0;
    this.trailers = undefined;
    for (const item of this.inbox) if (item !== null) this.connection.holding(-item.length);
    this.inbox = [];
    this.emitClose();
  }

  writeHeaders(status: number, headers: NodeHeaders): void {
    this.connection.sendHeaders(this.id, responseHeaderBlock(status, headers), false);
  }

  /** We reset the stream: RST_STREAM with `code` to the peer, then as {@link reset}. */
  abort(code: number): void {
    if (this.closeEmitted) return;
    this.connection.sendReset(this.id, code);
    this.reset(code);
  }

  /**
   * Answers with one HEADERS frame that ends the stream (gRPC's
   * "trailers-only" answer, as Node relays it from Connect): nothing else
   * may have been sent.
   */
  respondAndEnd(status: number, headers: NodeHeaders): void {
    if (this.destroyed || this.localEnded) return;
    this.localEnded = true;
    this.finishWith(responseHeaderBlock(status, headers));
  }

  /** Queues DATA; false once more than the high-water mark waits. */
  write(data: Buffer): boolean {
    if (this.destroyed) return false;
    if (data.length === 0) return true;
    this.queued.push(data);
    this.queuedBytes += data.length;
    this.connection.pump(this);
    return this.queuedBytes < writeHighWaterMark;
  }

  /** Ends our side with trailers, after the queued DATA. */
  end(trailers: NodeHeaders): void {
    if (this.destroyed || this.localEnded) return;
    this.localEnded = true;
    this.trailers = headerBlock(undefined, trailers);
    this.corks = 0;
    this.connection.pump(this);
  }

  /** Called by the connection once queued DATA went out (some or all). */
  drained(allSent: boolean): void {
    if (allSent && this.trailers !== undefined) {
      const trailers = this.trailers;
      this.trailers = undefined;
      this.finishWith(trailers);
      return;
    }
    if (this.queuedBytes < writeHighWaterMark) this.res.emit("drain");
  }

  /** Ends our side with a HEADERS frame carrying END_STREAM, and the stream with it. */
  private finishWith(block: Buffer): void {
    this.destroyed = true;
    this.connection.sendHeaders(this.id, block, true);
    // The peer still sending a body we will not read (an answer before the
    // whole request, e.g. a refused size): end its side too (RFC 9113 §8.1).
    if (!this.remoteClosed) this.connection.sendReset(this.id, h2.NGHTTP2_NO_ERROR);
    this.res.emit("finish");
    this.emitClose();
  }

  private maybeClose(): void {
    if (this.remoteClosed && this.destroyed && this.inbox.length === 0) this.emitClose();
  }

  private emitClose(): void {
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    this.connection.closed(this);
    this.req.emit("close");
    this.res.emit("close");
  }
}

/** The request side of an engine stream, as the direct paths read it. */
export class GrpcEngineRequest extends EventEmitter implements GrpcCallRequest {
  readonly method: string;
  readonly url: string;
  readonly scheme: string;
  readonly authority: string;

  constructor(
    readonly stream: GrpcEngineStream,
    readonly headers: IncomingHttpHeaders,
    readonly rawHeaders: string[],
  ) {
    super();
    this.method = String(headers[":method"] ?? "");
    this.url = String(headers[":path"] ?? "");
    this.scheme = String(headers[":scheme"] ?? "");
    this.authority = String(headers[":authority"] ?? "");
  }

  pause(): this {
    this.stream.pause();
    return this;
  }

  resume(): this {
    this.stream.resume();
    return this;
  }
}

/**
 * What the direct paths reach through `res.stream`. Frames of one turn
 * leave in one socket write anyway (the connection's flush); corking also
 * puts a turn's messages into one DATA frame.
 *
 * A class, not an object literal with a getter and closures per response:
 * such a literal's getter was held from the old generation (most likely by
 * the accessor pair V8 makes for it), which kept the closure, the stream and all it
 * reached alive through every young collection — every engine stream was
 * promoted (~2.8 MB per scavenge and 4–5 ms pauses at 50k streams/s;
 * BENCHMARKS.md, "Requests that outlived their answers";
 * per-call-shapes.test.ts).
 */
class StreamControl {
  constructor(private readonly engineStream: GrpcEngineStream) {}

  get destroyed(): boolean {
    return this.engineStream.destroyed;
  }

  cork(): void {
    this.engineStream.corks++;
  }

  uncork(): void {
    this.engineStream.uncork();
  }
}

/** The response side of an engine stream, as the direct paths write it. */
export class GrpcEngineResponse extends EventEmitter implements GrpcCallResponse {
  headersSent = false;
  writableEnded = false;
  private trailerFields: NodeHeaders = {};
  readonly stream: { readonly destroyed: boolean; cork(): void; uncork(): void };

  constructor(private readonly engineStream: GrpcEngineStream) {
    super();
    this.stream = new StreamControl(engineStream);
  }

  writeHead(status: number, headers: NodeHeaders): this {
    if (this.headersSent || this.engineStream.destroyed) return this;
    this.headersSent = true;
    this.engineStream.writeHeaders(status, headers);
    return this;
  }

  write(chunk: Uint8Array): boolean {
    if (!this.headersSent) this.writeHead(200, {});
    const data = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    return this.engineStream.write(data);
  }

  addTrailers(trailers: NodeHeaders): void {
    this.trailerFields =
      Object.keys(this.trailerFields).length === 0
        ? trailers
        : { ...this.trailerFields, ...trailers };
  }

  end(): this {
    if (this.writableEnded) return this;
    this.writableEnded = true;
    if (!this.headersSent) this.writeHead(200, {});
    this.engineStream.end(this.trailerFields);
    return this;
  }
}
