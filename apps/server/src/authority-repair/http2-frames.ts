/** The HTTP/2 client connection preface (RFC 9113 §3.4). */
export const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** Every HTTP/2 frame starts with a 9-byte header (RFC 9113 §4.1). */
export const frameHeaderLength = 9;

/** Frame types (RFC 9113 §6). */
export const frameType = {
  data: 0x0,
  headers: 0x1,
  priority: 0x2,
  rstStream: 0x3,
  settings: 0x4,
  pushPromise: 0x5,
  ping: 0x6,
  goaway: 0x7,
  windowUpdate: 0x8,
  continuation: 0x9,
} as const;

/** Frame flags (the same bit means different things on different frame types). */
export const frameFlag = {
  /** DATA, HEADERS: the last frame the sender sends on the stream. */
  endStream: 0x1,
  /** SETTINGS: an acknowledgement. */
  ack: 0x1,
  /** HEADERS, CONTINUATION: the header block ends in this frame. */
  endHeaders: 0x4,
  /** HEADERS: a pad length byte first, padding last. */
  padded: 0x8,
  /** HEADERS: 5 bytes of priority after the pad length. */
  priority: 0x20,
} as const;

/**
 * The largest frame payload every HTTP/2 endpoint accepts: the initial
 * SETTINGS_MAX_FRAME_SIZE, which Node keeps unless told otherwise.
 */
export const minMaxFrameSize = 16_384;

/** SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §6.5.2). */
export const settingMaxConcurrentStreams = 0x3;

/** A SETTINGS frame with these parameters (identifier, value). */
export function settingsFrame(parameters: readonly (readonly [number, number])[]): Buffer {
  const frame = Buffer.alloc(frameHeaderLength + 6 * parameters.length);
  frame.writeUIntBE(6 * parameters.length, 0, 3);
  frame[3] = frameType.settings;
  parameters.forEach(([id, value], i) => {
    frame.writeUInt16BE(id, frameHeaderLength + 6 * i);
    frame.writeUInt32BE(value, frameHeaderLength + 6 * i + 2);
  });
  return frame;
}

/** A frame's header. */
export interface FrameHeader {
  readonly length: number;
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
}

/** Reads the frame header at `offset` (which must have 9 bytes after it). */
export function readFrameHeader(bytes: Buffer, offset: number): FrameHeader {
  return {
    length: bytes.readUIntBE(offset, 3),
    type: bytes[offset + 3] ?? 0,
    flags: bytes[offset + 4] ?? 0,
    streamId: bytes.readUInt32BE(offset + 5) & 0x7fff_ffff,
  };
}

/** Writes a frame header into the first 9 bytes of `out`. */
export function writeFrameHeader(
  out: Buffer,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): void {
  out.writeUIntBE(length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId, 5);
}

/** Encodes a frame header. */
export function frameHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  const header = Buffer.alloc(frameHeaderLength);
  writeFrameHeader(header, length, type, flags, streamId);
  return header;
}

/** A whole frame: its header and `payload` in one buffer. */
export function encodeFrame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = emptyPayload,
): Buffer {
  const out = Buffer.allocUnsafe(frameHeaderLength + payload.length);
  writeFrameHeader(out, payload.length, type, flags, streamId);
  out.set(payload, frameHeaderLength);
  return out;
}

const emptyPayload = new Uint8Array(0);

/** Whether a frame is a SETTINGS acknowledgement. */
export function isSettingsAck(header: FrameHeader): boolean {
  return (
    header.type === frameType.settings &&
    (header.flags & frameFlag.ack) !== 0 &&
    header.length === 0 &&
    header.streamId === 0
  );
}

/**
 * The header block fragment of a HEADERS frame's payload: without its
 * padding and priority fields. Undefined if the payload is too short for
 * the flags it has (a protocol error the server will answer).
 */
export function headersFragment(flags: number, payload: Buffer): Buffer | undefined {
  let start = 0;
  let end = payload.length;
  if (flags & frameFlag.padded) {
    start = 1;
    end -= payload[0] ?? 0;
  }
  if (flags & frameFlag.priority) start += 5;
  return start <= end ? payload.subarray(start, end) : undefined;
}
