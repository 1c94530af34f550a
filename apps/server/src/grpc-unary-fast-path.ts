import { toBinary } from "@bufbuild/protobuf";
import { fromBinaryRequest } from "@conclave/server";
import { Code, ConnectError } from "@connectrpc/connect";
import type { CallPipeline, UnaryMethod } from "./call-pipeline.js";
import { type DirectCall, invokeUnary, type NodeHeaders, toNodeHeaders } from "./direct-call.js";
import type { GrpcCallRequest, GrpcCallResponse } from "./grpc-call-objects.js";
import {
  callFinished,
  closedEarly,
  createGrpcDirectCall,
  encodeEnvelopeBuffer,
  grpcResponseHeader,
  grpcResponseTrailer,
  incompleteEnvelope,
  isDirectGrpcRequest,
  setFinalStatus,
} from "./grpc-direct-wire.js";
import { messageTooLarge } from "./limit-grpc-request-size.js";

export interface GrpcUnaryFastPathOptions {
  /**
   * What Connect serves with too: the registered methods, the layers, the
   * limits and the shutdown signal.
   */
  pipeline: CallPipeline;
  /** The verified client certificate's CN of a request's connection (tls-peer-identity.ts). */
  peerCommonName: (req: GrpcCallRequest) => string | undefined;
}

/**
 * A direct path for unary gRPC calls over HTTP/2, beside Connect.
 *
 * Why: etcd clients (etcdctl, grpc-go, grpc-js, jetcd) send almost every
 * request as a small unary gRPC call. Connect serves each through a pipeline
 * of async iterables, header conversions and abort signals built for every
 * protocol and every streaming shape; on a lock hand-over that machinery was
 * most of the server's CPU per call, and it sends a response in more event
 * loop turns than needed. This path reads the one enveloped message, runs the
 * same service implementation through the same interceptors with the same
 * HandlerContext (see direct-call.ts), and writes the answer: what a client
 * sees is what Connect would send.
 *
 * It takes only what it fully handles — POST, a registered unary method,
 * `application/grpc` or `application/grpc+proto`, no request compression —
 * and leaves everything else (streams, gRPC-Web, Connect, JSON, compressed
 * requests, HTTP/1.1) to Connect.
 */
export interface GrpcUnaryFastPath {
  /**
   * Serves `req` if it is a call this path takes and returns true; returns
   * false (having touched nothing) to leave it to Connect.
   */
  handle(req: GrpcCallRequest, res: GrpcCallResponse): boolean;
}

/**
 * Writes a unary gRPC answer as Connect does: headers, the message if any,
 * then the trailers (carrying the final status: {@link finalTrailer}).
 */
function writeAnswer(
  res: GrpcCallResponse,
  header: NodeHeaders,
  trailer: NodeHeaders,
  body: Uint8Array | undefined,
): void {
  if (res.headersSent || res.writableEnded || res.stream.destroyed) return;
  res.writeHead(200, header);
  if (body !== undefined) res.write(body);
  res.addTrailers(trailer);
  res.end();
}

/**
 * The trailers of a call's answer: as the layers left them, with `error`'s
 * status (a non-Connect error as Internal) encoded as at Connect's edge
 * (connect-edge-plugin.ts). Without an error they are usually the shared
 * initial ones, never converted.
 */
function finalTrailer(call: DirectCall, error: unknown): NodeHeaders {
  if (error !== undefined) setFinalStatus(call.responseTrailer, error);
  return call.nodeResponseTrailer();
}

export function createGrpcUnaryFastPath(options: GrpcUnaryFastPathOptions): GrpcUnaryFastPath {
  const { pipeline, peerCommonName } = options;
  const interceptors = pipeline.layers;
  const { limits, traffic } = pipeline;
  const readMaxBytes = limits.readMaxBytes;
  const readOptions =
    limits.recursionLimit === undefined ? undefined : { recursionLimit: limits.recursionLimit };

  function handle(req: GrpcCallRequest, res: GrpcCallResponse): boolean {
    const entry = pipeline.unaryMethod(req.url);
    if (entry === undefined || !isDirectGrpcRequest(req)) return false;
    if (pipeline.shutdownSignal.aborted) return false;
    try {
      serve(entry, req, res);
    } catch (error) {
      // Nothing may escape into the HTTP/2 server's "request" event: it
      // would be an uncaught exception. Answer as Connect answers a throw.
      failEarly(res, error);
    }
    return true;
  }

  function failEarly(res: GrpcCallResponse, error: unknown): void {
    const trailer = new Headers(grpcResponseTrailer);
    setFinalStatus(
      trailer,
      new ConnectError("internal error", Code.Internal, undefined, undefined, error),
    );
    writeAnswer(res, grpcResponseHeader, toNodeHeaders(trailer), undefined);
  }

  function serve(entry: UnaryMethod, req: GrpcCallRequest, res: GrpcCallResponse) {
    const { context, timeoutError } = createGrpcDirectCall(req, entry, pipeline, peerCommonName);
    let answered = false;
    const onClose = () => {
      if (!answered) context.abort(closedEarly(req.stream.rstCode ?? 0));
    };
    req.once("close", onClose);

    const answer = (body: Uint8Array | undefined, error: unknown) => {
      if (answered) return;
      answered = true;
      req.removeListener("close", onClose);
      context.abort(callFinished);
      const trailer = finalTrailer(context, error);
      writeAnswer(res, context.nodeResponseHeader(), trailer, body);
    };

    if (timeoutError !== undefined) {
      answer(undefined, timeoutError);
      return;
    }

    // Read the one enveloped message (5 bytes: flags and length, then the
    // message), failing as Connect's pipeline fails on a body that arrives at
    // once, and holding at most two envelopes: sizes are checked as headers
    // arrive, the first message is parsed once a second header is seen (or at
    // the end), and a complete second envelope is an error.
    const chunks: Buffer[] = [];
    let received = 0;
    let first = -1; // length the first envelope declares
    let second = -1; // length a second envelope declares
    let firstInput: ReturnType<typeof fromBinaryRequest> | undefined;
    const bytes = () => {
      if (chunks.length > 1) chunks.splice(0, chunks.length, Buffer.concat(chunks));
      return chunks[0] ?? Buffer.alloc(0);
    };
    const fail = (error: unknown) => {
      req.removeListener("data", onData);
      req.removeListener("end", onEnd);
      answer(undefined, error);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      try {
        if (first < 0 && received >= 5) {
          first = bytes().readUInt32BE(1);
          if (first > readMaxBytes) throw messageTooLarge(first, readMaxBytes);
        }
        if (first >= 0 && second < 0 && received >= 10 + first) {
          const all = bytes();
          second = all.readUInt32BE(6 + first);
          if (second > readMaxBytes) throw messageTooLarge(second, readMaxBytes);
          firstInput = parseEnvelope(all, 0, first);
        }
        if (second >= 0 && received >= 10 + first + second) {
          parseEnvelope(bytes(), 5 + first, second);
          throw new ConnectError(
            "protocol error: received extra input message for unary method",
            Code.Unimplemented,
          );
        }
      } catch (error) {
        fail(error);
      }
    };
    const onEnd = () => {
      try {
        const all = bytes();
        if (all.length === 0) {
          throw new ConnectError(
            "protocol error: missing input message for unary method",
            Code.Unimplemented,
          );
        }
        if (all.length < 5 || all.length < 5 + first) throw incompleteEnvelope();
        const input = firstInput ?? parseEnvelope(all, 0, first);
        // A second envelope that is complete was refused in onData.
        if (all.length > 5 + first) throw incompleteEnvelope();
        void run(input);
      } catch (error) {
        answer(undefined, error);
      }
    };
    req.on("data", onData);
    req.on("end", onEnd);

    /** The message of the envelope at `at` declaring `size` bytes, as Connect reads it. */
    function parseEnvelope(all: Buffer, at: number, size: number) {
      if (((all[at] as number) & 0b01) !== 0) {
        throw new ConnectError(
          "received compressed envelope, but do not know how to decompress",
          Code.Internal,
        );
      }
      // What etcd's codec counts: every message it is asked to decode.
      traffic.receivedBytes += size;
      try {
        // A plain Uint8Array view, as Connect hands handlers: bytes fields
        // of a Buffer would be Buffers, whose slice() is a view, not a copy.
        // A KV/Txn nested deeper than the decoder goes is cut to what
        // validation reads (deep-txn.ts), as on every door.
        return fromBinaryRequest(
          entry.spec.method.input,
          new Uint8Array(all.buffer, all.byteOffset + at + 5, size),
          readOptions,
        );
      } catch (e) {
        throw new ConnectError(
          `parse binary: ${e instanceof Error ? e.message : String(e)}`,
          Code.Internal,
        );
      }
    }

    async function run(input: ReturnType<typeof fromBinaryRequest>): Promise<void> {
      try {
        const output = await invokeUnary(context, entry.spec.impl, input, interceptors);
        const message = toBinary(entry.spec.method.output, output);
        traffic.sentBytes += message.length;
        answer(encodeEnvelopeBuffer(0, message), undefined);
      } catch (error) {
        answer(undefined, error);
      }
    }
  }

  return { handle };
}
