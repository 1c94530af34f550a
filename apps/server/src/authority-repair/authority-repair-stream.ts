import type * as net from "node:net";
import { Duplex } from "node:stream";
import type { checkFirstRequest } from "./first-request-check.js";
import { createHpackDecoder, encodeLiteralField } from "./hpack-decoder.js";
import {
  frameFlag,
  frameHeader,
  frameHeaderLength,
  frameType,
  headersFragment,
  http2Preface,
  minMaxFrameSize,
  readFrameHeader,
} from "./http2-frames.js";
import { repairedAuthority } from "./repaired-authority.js";

/**
 * Most bytes of one header block (HEADERS and its CONTINUATIONs) held while
 * it is being read. Past it the stream stops decoding and passes everything
 * on as it is; nghttp2 refuses such a block anyway (Node's header list limit
 * is far smaller).
 */
const maxHeaderBlockBytes = 1 << 20;

/** Repair streams and the sockets they read, for {@link transportOf}. */
const transports = new WeakMap<object, net.Socket>();

/**
 * Records that Node's HTTP/2 server reads `stream` in place of `socket`
 * (a repair stream, or the gRPC engine's in-process link for the requests
 * it hands to Node), so {@link transportOf} finds the socket's TLS state.
 */
export function setTransport(stream: object, socket: net.Socket): void {
  transports.set(stream, socket);
}

/**
 * A duplex over an HTTP/2 connection's socket that hands Node's HTTP/2
 * server the client's bytes with every literal `:authority` that carries a
 * URL scheme repaired ({@link repairedAuthority}), and writes the server's
 * bytes to the socket unchanged.
 *
 * It keeps HPACK's dynamic table in step with the client's encoder to find
 * those literals in every header block, for the whole connection: grpc-go
 * sends the authority as a literal with incremental indexing once and then
 * by index, and sends it literally again whenever its entry was evicted.
 * The repaired value has the same length, so the table Node keeps stays as
 * large as the client's. Everything but header blocks passes as it came.
 *
 * Only connections whose first request needed a repair get one (Node wraps
 * a stream that is not a socket in JavaScript, which costs a little on every
 * read and write); the rest keep their socket.
 *
 * `socket` must be paused with the connection's bytes from its first (the
 * preface) on still to be read, as {@link checkFirstRequest} leaves it.
 */
export function createAuthorityRepairStream(socket: net.Socket): Duplex {
  const repair = createHeaderBlockRepair();
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, (error) => callback(error ?? null));
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(error, callback) {
      socket.destroy();
      callback(error);
    },
  });
  transports.set(stream, socket);
  const deliver = (chunk: Buffer) => {
    for (const out of repair(chunk)) {
      if (!stream.push(out)) socket.pause();
    }
  };
  socket.on("data", deliver);
  socket.once("end", () => stream.push(null));
  socket.once("close", () => stream.destroy());
  return stream;
}

/**
 * The socket under a socket-like object Node's HTTP/2 session reports
 * (`session.socket`), when that is the wrapper of a repair stream: TLS
 * properties (`authorized`, `getPeerCertificate`) live on the socket.
 */
export function transportOf(socket: unknown): unknown {
  const wrapped = (socket as { stream?: unknown } | undefined)?.stream;
  return typeof wrapped === "object" && wrapped !== null
    ? (transports.get(wrapped) ?? socket)
    : socket;
}

/** A header block being read: its HEADERS frame's fields and the frames so far. */
interface OpenBlock {
  readonly streamId: number;
  /** HEADERS flags without PADDED and END_HEADERS. */
  readonly flags: number;
  /** The priority fields of the HEADERS frame, if it had them. */
  readonly priority: Buffer;
  readonly fragments: Buffer[];
  /** The frames as they came, to pass on unchanged when nothing needs repair. */
  readonly frames: Buffer[];
  size: number;
}

/**
 * The byte-stream side of the repair: takes the client's bytes in any
 * chunking, returns the bytes to hand Node.
 */
export function createHeaderBlockRepair(): (chunk: Buffer) => Buffer[] {
  const decoder = createHpackDecoder();
  let pending: Buffer = Buffer.alloc(0);
  let prefaceLeft = http2Preface.length;
  /** Payload bytes of a frame that passes unchanged, still to come. */
  let passLeft = 0;
  let block: OpenBlock | undefined;
  /** Set when the stream cannot follow the client's HPACK state any more: pass everything. */
  let lost = false;

  const loseTrack = (out: Buffer[]) => {
    lost = true;
    if (block !== undefined) out.push(...block.frames);
    block = undefined;
  };

  const finishBlock = (open: OpenBlock, out: Buffer[]) => {
    const bytes = Buffer.concat(open.fragments);
    let fields: ReturnType<typeof decoder.decode>;
    try {
      fields = decoder.decode(bytes);
    } catch {
      return loseTrack(out);
    }
    const parts: Buffer[] = [];
    let copied = 0;
    for (const field of fields) {
      if (field.representation === "indexed" || field.name !== ":authority") continue;
      const value = repairedAuthority(field.value);
      if (value === undefined) continue;
      parts.push(bytes.subarray(copied, field.start), encodeLiteralField(field, value));
      copied = field.end;
    }
    if (parts.length === 0) {
      out.push(...open.frames);
      return;
    }
    parts.push(bytes.subarray(copied));
    out.push(...headerFrames(open, Buffer.concat(parts)));
  };

  return (chunk) => {
    const out: Buffer[] = [];
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length > 0) {
      if (lost) {
        out.push(pending);
        pending = Buffer.alloc(0);
        break;
      }
      const unchanged = Math.min(prefaceLeft + passLeft, pending.length);
      if (unchanged > 0) {
        out.push(pending.subarray(0, unchanged));
        pending = pending.subarray(unchanged);
        const fromPreface = Math.min(prefaceLeft, unchanged);
        prefaceLeft -= fromPreface;
        passLeft -= unchanged - fromPreface;
        continue;
      }
      if (pending.length < frameHeaderLength) break;
      const header = readFrameHeader(pending, 0);
      const isBlock =
        header.type === frameType.headers ||
        (header.type === frameType.continuation && block !== undefined);
      if (!isBlock) {
        // A frame inside a header block other than its CONTINUATION is a
        // protocol error (nghttp2 will say so); stop following.
        if (block !== undefined) {
          loseTrack(out);
          continue;
        }
        out.push(pending.subarray(0, frameHeaderLength));
        pending = pending.subarray(frameHeaderLength);
        passLeft = header.length;
        continue;
      }
      const frameLength = frameHeaderLength + header.length;
      if ((block?.size ?? 0) + header.length > maxHeaderBlockBytes) {
        loseTrack(out);
        continue;
      }
      if (pending.length < frameLength) break;
      const frame = pending.subarray(0, frameLength);
      pending = pending.subarray(frameLength);
      const payload = frame.subarray(frameHeaderLength);
      if (header.type === frameType.headers) {
        const fragment = headersFragment(header.flags, payload);
        if (block !== undefined || fragment === undefined) {
          loseTrack(out);
          out.push(frame);
          continue;
        }
        const priorityAt = header.flags & frameFlag.padded ? 1 : 0;
        block = {
          streamId: header.streamId,
          flags: header.flags & ~(frameFlag.padded | frameFlag.endHeaders),
          priority:
            header.flags & frameFlag.priority
              ? payload.subarray(priorityAt, priorityAt + 5)
              : Buffer.alloc(0),
          fragments: [fragment],
          frames: [frame],
          size: header.length,
        };
      } else if (block !== undefined) {
        if (header.streamId !== block.streamId) {
          loseTrack(out);
          out.push(frame);
          continue;
        }
        block.fragments.push(payload);
        block.frames.push(frame);
        block.size += header.length;
      }
      if (header.flags & frameFlag.endHeaders && block !== undefined) {
        const open = block;
        block = undefined;
        finishBlock(open, out);
      }
    }
    return out;
  };
}

/** A header block as a HEADERS frame and as many CONTINUATION frames as it needs. */
function headerFrames(open: OpenBlock, block: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  const firstRoom = minMaxFrameSize - open.priority.length;
  let rest = block.subarray(Math.min(firstRoom, block.length));
  const first = block.subarray(0, Math.min(firstRoom, block.length));
  frames.push(
    frameHeader(
      open.priority.length + first.length,
      frameType.headers,
      open.flags | (rest.length === 0 ? frameFlag.endHeaders : 0),
      open.streamId,
    ),
    open.priority,
    first,
  );
  while (rest.length > 0) {
    const part = rest.subarray(0, minMaxFrameSize);
    rest = rest.subarray(part.length);
    frames.push(
      frameHeader(
        part.length,
        frameType.continuation,
        rest.length === 0 ? frameFlag.endHeaders : 0,
        open.streamId,
      ),
      part,
    );
  }
  return frames;
}
