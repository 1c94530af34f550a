import { type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf";
import type { ClientTraffic } from "@conclave/server";
import { Code, ConnectError } from "@connectrpc/connect";
import type { GrpcCallRequest } from "./grpc-call-objects.js";
import { incompleteEnvelope } from "./grpc-direct-wire.js";
import { messageTooLarge } from "./limit-grpc-request-size.js";

export interface RequestMessagesOptions {
  /** The largest message, in bytes: a larger envelope header fails the stream (grpc-go's words). */
  readMaxBytes: number;
  /** protobuf-es read options (`recursionLimit`), or undefined for its defaults. */
  readOptions: { recursionLimit: number } | undefined;
  /** Where each message's length is counted, as the Connect edge counts it. */
  traffic: ClientTraffic;
  /**
   * How many decoded messages may wait for the handler before the request
   * stops being read (HTTP/2 flow control then holds the client). Default 16.
   */
  highWaterMark?: number;
}

/**
 * The request messages of a gRPC stream, as its handler iterates them.
 * The handler sees each message in order, then the end of the stream when
 * the client half-closes, or an error: one the envelope reader hit (in
 * Connect's words and order: a size over the limit at its header, a
 * compressed or malformed message, a cut-off envelope at the end), or the
 * reason given to {@link abort}.
 */
export interface RequestMessages<Desc extends DescMessage>
  extends AsyncIterable<MessageShape<Desc>> {
  /** Ends iteration at once with `reason`, dropping what was not read: the client went away. */
  abort(reason: unknown): void;
}

/**
 * Reads a gRPC request stream's envelopes from an HTTP/2 request as they
 * arrive and decodes each message once.
 *
 * Why not Connect's pipeline of transforms: each envelope went through four
 * async generators (body, split, decompress, parse) before the handler saw
 * it; a keep-alive or a watch create is one small message, and those hops
 * were a large share of its cost.
 */
export function readRequestMessages<Desc extends DescMessage>(
  req: GrpcCallRequest,
  schema: Desc,
  options: RequestMessagesOptions,
): RequestMessages<Desc> {
  const { readMaxBytes, readOptions, traffic } = options;
  const highWaterMark = options.highWaterMark ?? 16;
  const queue: MessageShape<Desc>[] = [];
  let head = 0;
  let pending: Buffer = Buffer.alloc(0);
  let ended = false;
  let error: unknown;
  let paused = false;
  let waiter:
    | { resolve: (r: IteratorResult<MessageShape<Desc>>) => void; reject: (e: unknown) => void }
    | undefined;

  const settle = () => {
    const w = waiter;
    if (w === undefined) return;
    if (head < queue.length) {
      waiter = undefined;
      w.resolve({ value: take(), done: false });
    } else if (ended) {
      waiter = undefined;
      if (error !== undefined) w.reject(error);
      else w.resolve({ value: undefined, done: true });
    }
  };
  const take = (): MessageShape<Desc> => {
    const m = queue[head] as MessageShape<Desc>;
    queue[head++] = undefined as never;
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    }
    if (paused && queue.length - head < highWaterMark) {
      paused = false;
      req.resume();
    }
    return m;
  };
  const stop = (reason: unknown) => {
    if (ended) return;
    ended = true;
    error = reason;
    req.removeListener("data", onData);
    req.removeListener("end", onEnd);
    settle();
  };

  function onData(chunk: Buffer): void {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    try {
      // Every envelope header that has arrived is checked before any message
      // is decoded, as the Connect edge's size check passes a chunk on only
      // once all headers in it are within the limit (limit-grpc-request-size.ts).
      for (let at = 0; at + 5 <= pending.length; at += 5 + pending.readUInt32BE(at + 1)) {
        const size = pending.readUInt32BE(at + 1);
        if (size > readMaxBytes) throw messageTooLarge(size, readMaxBytes);
      }
      while (pending.length >= 5) {
        const size = pending.readUInt32BE(1);
        if (pending.length < 5 + size) break;
        if (((pending[0] as number) & 0b01) !== 0) {
          throw new ConnectError(
            "received compressed envelope, but do not know how to decompress",
            Code.Internal,
          );
        }
        // What etcd's codec counts: every message it is asked to decode.
        traffic.receivedBytes += size;
        let message: MessageShape<Desc>;
        try {
          // A copy into a plain Uint8Array, as Connect's envelope reader
          // makes: bytes fields (keys) would otherwise be Buffers, whose
          // slice() is a view — the services' `key.slice()` then edits the
          // request (a watch prefix's end computed in place).
          const bytes = new Uint8Array(size);
          bytes.set(pending.subarray(5, 5 + size));
          message = fromBinary(schema, bytes, readOptions);
        } catch (e) {
          throw new ConnectError(
            `parse binary: ${e instanceof Error ? e.message : String(e)}`,
            Code.Internal,
          );
        }
        pending = pending.subarray(5 + size);
        queue.push(message);
      }
    } catch (e) {
      stop(e);
      return;
    }
    if (!paused && queue.length - head >= highWaterMark) {
      paused = true;
      req.pause();
    }
    settle();
  }
  function onEnd(): void {
    stop(pending.length > 0 ? incompleteEnvelope() : undefined);
  }
  req.on("data", onData);
  req.on("end", onEnd);

  const iterator: AsyncIterator<MessageShape<Desc>> = {
    next() {
      if (head < queue.length) return Promise.resolve({ value: take(), done: false });
      if (ended) {
        return error !== undefined
          ? Promise.reject(error)
          : Promise.resolve({ value: undefined, done: true });
      }
      return new Promise((resolve, reject) => {
        waiter = { resolve, reject };
      });
    },
    return() {
      return Promise.resolve({ value: undefined, done: true });
    },
  };
  return {
    [Symbol.asyncIterator]: () => iterator,
    abort(reason) {
      queue.length = 0;
      head = 0;
      pending = Buffer.alloc(0);
      stop(reason);
    },
  };
}
