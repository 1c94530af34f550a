/**
 * Binary encodings a service computed for the response messages it yields,
 * so that a transport which writes protobuf bytes itself can use them rather
 * than encode the message again.
 *
 * Why: a watch event goes to every watcher of its key, and each watcher's
 * response differs only in its `watch_id`. The watch service encodes the
 * header once per revision and each event once, and joins them per watcher;
 * the direct gRPC stream path (apps/server, grpc-stream-fast-path.ts) writes
 * the joined bytes. Connect, which encodes by itself, still gets a complete
 * message with the same content and writes the same bytes.
 *
 * The encoding is kept enveloped — the 5-byte prefix every streaming
 * protocol here frames a message with (gRPC, gRPC-Web, Connect: flags 0,
 * then the length, big-endian) followed by the message — so that the stream
 * path writes it as it is, with no second buffer and copy per watcher.
 *
 * Held by the message itself in a private field (not in a WeakMap, whose
 * entries cost a hash insert each and extra work in every GC, nor under a
 * symbol, which only `Object.defineProperty` could keep out of deep
 * equality, at ~200 ns a message): an encoding lives exactly as long as its
 * message, and neither protobuf-es's toBinary, toJson and equals nor
 * node:assert's deep equality and util.inspect see a private field.
 */
class Passthrough {
  constructor(message: object) {
    // biome-ignore lint/correctness/noConstructorReturn: returning the message makes the subclass's private field land on it (see Enveloped).
    return message as Passthrough;
  }
}

/**
 * Adds its private field to an existing object: `super(message)` returns
 * the message, so the field initializer runs on it. Private fields are
 * stored like any property (one hidden-class transition, shared by every
 * message of a shape), and `#envelope in o` is the brand check.
 */
class Enveloped extends Passthrough {
  #envelope: Uint8Array;
  constructor(message: object, envelope: Uint8Array) {
    super(message);
    this.#envelope = envelope;
  }
  static of(message: object): Uint8Array | undefined {
    return #envelope in message ? (message as Enveloped).#envelope : undefined;
  }
}

/** Bytes before a message in its envelope: flags (1) and length (4). */
export const envelopePrefixBytes = 5;

/**
 * Records `envelope` — {@link envelopePrefixBytes} of prefix (flags 0, the
 * length), then exactly what `toBinary` gives for `message` — as
 * `message`'s encoding, and returns `message`.
 */
export function rememberEnvelope<T extends object>(message: T, envelope: Uint8Array): T {
  new Enveloped(message, envelope);
  return message;
}

/**
 * An envelope for a `length`-byte message: a Buffer from Node's pool with
 * the prefix (`flags`, default 0, then the length) written and the message's
 * bytes still to fill in at {@link envelopePrefixBytes}. Why pooled: a small
 * Uint8Array of its own is a fresh ArrayBuffer, ~1 µs each, where a pooled
 * Buffer costs a tenth of that — and Node writes only Buffers.
 */
export function allocEnvelope(length: number, flags = 0): Buffer {
  const envelope = Buffer.allocUnsafe(envelopePrefixBytes + length);
  envelope[0] = flags;
  envelope.writeUInt32BE(length, 1);
  return envelope;
}

/** The enveloped encoding recorded for `message`, if any. */
export function rememberedEnvelope(message: unknown): Uint8Array | undefined {
  return typeof message === "object" && message !== null ? Enveloped.of(message) : undefined;
}

/** The binary encoding recorded for `message` (without its envelope prefix), if any. */
export function rememberedEncoding(message: unknown): Uint8Array | undefined {
  return rememberedEnvelope(message)?.subarray(envelopePrefixBytes);
}
