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
 * Weakly held: an encoding lives exactly as long as its message.
 */
const encodings = new WeakMap<object, Uint8Array>();

/** Records `bytes` as `message`'s binary encoding (they must be what `toBinary` gives) and returns `message`. */
export function rememberEncoding<T extends object>(message: T, bytes: Uint8Array): T {
  encodings.set(message, bytes);
  return message;
}

/** The binary encoding recorded for `message`, if any. */
export function rememberedEncoding(message: unknown): Uint8Array | undefined {
  return typeof message === "object" && message !== null ? encodings.get(message) : undefined;
}
