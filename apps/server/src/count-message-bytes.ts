/**
 * Passes an enveloped body (gRPC's, or the Connect protocol's streaming
 * one: flags byte, 4-byte length, message) through, calling `onEnvelope`
 * with each envelope's flags and declared message length as its header goes
 * by — before the message's bytes are passed on, so a throw from it stops
 * the body there (limitGrpcRequestSize's check).
 */
export async function* walkEnvelopes(
  body: AsyncIterable<Uint8Array>,
  onEnvelope: (flags: number, length: number) => void,
): AsyncIterable<Uint8Array> {
  const header = new Uint8Array(5);
  let headerBytes = 0; // of the current envelope's header seen so far
  let skip = 0; // message bytes of the current envelope still to come
  for await (const chunk of body) {
    let at = 0;
    while (at < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - at);
        skip -= n;
        at += n;
        continue;
      }
      header[headerBytes++] = chunk[at++] as number;
      if (headerBytes === 5) {
        headerBytes = 0;
        skip = new DataView(header.buffer).getUint32(1);
        onEnvelope(header[0] as number, skip);
      }
    }
    yield chunk;
  }
}

/**
 * {@link walkEnvelopes}, calling `count` with each message's length.
 * Connect's end-of-stream envelope (flag 0b10: trailers as JSON, not a
 * message) is not counted. For `etcd_network_client_grpc_*_bytes_total`,
 * which count message bytes without envelope headers, as etcd's gRPC codec
 * sees them.
 */
export function countEnvelopedBytes(
  body: AsyncIterable<Uint8Array>,
  count: (bytes: number) => void,
): AsyncIterable<Uint8Array> {
  return walkEnvelopes(body, (flags, length) => {
    if ((flags & 0b10) === 0) count(length);
  });
}

/** Passes an unenveloped body (one Connect unary message) through, calling `count` with its length at the end. */
export async function* countBodyBytes(
  body: AsyncIterable<Uint8Array>,
  count: (bytes: number) => void,
): AsyncIterable<Uint8Array> {
  let n = 0;
  for await (const chunk of body) {
    n += chunk.length;
    yield chunk;
  }
  count(n);
}
