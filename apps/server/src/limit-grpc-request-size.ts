import { type ClientTraffic, MessageTooLargeError, toConnectError } from "@conclave/server";
import type { ConnectError } from "@connectrpc/connect";
import { walkEnvelopes } from "./count-message-bytes.js";

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
export function limitGrpcRequestSize(
  body: AsyncIterable<Uint8Array>,
  readMaxBytes: number,
  traffic: ClientTraffic,
): AsyncIterable<Uint8Array> {
  return walkEnvelopes(body, (_flags, length) => {
    if (length > readMaxBytes) throw messageTooLarge(length, readMaxBytes);
    traffic.receivedBytes += length;
  });
}
