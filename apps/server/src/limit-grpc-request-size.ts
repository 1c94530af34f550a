import { type ClientTraffic, MessageTooLargeError, toConnectError } from "@conclave/server";
import type { ConnectError } from "@connectrpc/connect";

/**
 * The error for a request message that declares `size` bytes when `max` are
 * allowed, from the one error table: ResourceExhausted `grpc: received
 * message larger than max (N vs. M)`, as grpc-go (and so etcd) words it.
 */
export function messageTooLarge(size: number, max: number): ConnectError {
  return toConnectError(new MessageTooLargeError(size, max));
}

/**
 * Passes a gRPC request body through, failing with {@link messageTooLarge}
 * as soon as an envelope header declares more than `readMaxBytes`, and
 * adding each message's length within it to `traffic.receivedBytes` (the
 * envelopes are parsed here anyway).
 *
 * Why: Connect checks the same limit inside its envelope reader, in its own
 * words ("message size N is larger than configured readMaxBytes M") and with
 * no hook to word it otherwise. Checking here, upstream of Connect, means
 * Connect never sees an envelope over the limit: the refusal is ours. It
 * fails at the same point Connect would (the header of the first envelope
 * over the limit, before any message after it is parsed), so the answer is
 * otherwise Connect's. Connect's own `readMaxBytes` stays configured for the
 * protocols this does not cover (Connect, gRPC-Web).
 */
export async function* limitGrpcRequestSize(
  body: AsyncIterable<Uint8Array>,
  readMaxBytes: number,
  traffic: ClientTraffic,
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
        if (skip > readMaxBytes) throw messageTooLarge(skip, readMaxBytes);
        traffic.receivedBytes += skip;
      }
    }
    yield chunk;
  }
}
