import type * as http from "node:http";
import type * as http2 from "node:http2";
import { txnRequestTypeName } from "@conclave/server";
import { Code, ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import {
  contentTypeProto,
  setTrailerStatus,
  trailerFlag,
  trailerSerialize,
} from "@connectrpc/connect/protocol-grpc-web";
import type { CallPipeline, UnaryMethod } from "./call-pipeline.js";
import type { CorsHeaders } from "./cors.js";
import type { DirectRequestHandler } from "./create-app.js";
import { cutDeepTxnChunks } from "./deep-txn-body.js";
import { handlerError, invokeUnary } from "./direct-call.js";
import { createEdgeSerialization } from "./edge-serialization.js";
import { callFinished, createGrpcDirectCall, incompleteEnvelope } from "./grpc-direct-wire.js";

export interface GrpcWebUnaryFastPathOptions {
  /** The registered methods, layers, limits and shutdown signal Connect's router has too. */
  pipeline: CallPipeline;
  /** The verified client certificate's CN of a request's connection (tls-peer-identity.ts). */
  peerCommonName: (req: http.IncomingMessage | http2.Http2ServerRequest) => string | undefined;
  /** The CORS headers Fastify's hook adds to the Connect routes' answers (registerCors). */
  cors?: CorsHeaders;
}

const clientGone = () => new ConnectError("the client closed the call", Code.Canceled);

/** The bit of an envelope's flags that says its message is compressed. */
const compressedFlag = 0b01;

/**
 * A direct path for unary gRPC-Web calls with binary messages (`POST`,
 * `application/grpc-web` or `application/grpc-web+proto`), HTTP/1.1 and
 * HTTP/2, beside Connect's router: browser gRPC-Web clients send these.
 *
 * Why: Connect serves them through Fastify's routing and hooks, a universal
 * request and response, five async-iterable transforms each way and three
 * AbortControllers per call; under a Range load that cost ~700 µs of CPU
 * per call, three times the gRPC direct path's, and its p99 was hundreds of
 * milliseconds. This reads the envelopes as Connect's reader does, runs the
 * same implementation through the same layers with the same call context
 * (grpc-direct-wire.ts, as the gRPC paths do) and writes the answer with
 * Connect's own serialization, trailer status and trailer frame, in the
 * same writes, so what a client sees is what Connect sends:
 *
 * - the request body is split into envelopes chunk by chunk, as Connect's
 *   envelope decoder splits it (each chunk's headers checked against
 *   `readMaxBytes` before its messages are parsed), and a compressed or
 *   second message, a trailer envelope, a cut or missing one are refused
 *   or skipped as Connect does, in its words;
 * - an answer known before the body ends (a bad `grpc-timeout`, a bad
 *   envelope) is written one microtask later, where Connect's pipeline
 *   writes it: an HTTP/1.1 request whose body has not all arrived by then
 *   is its connection's last (http1-connections.ts), as it is under Connect;
 * - the body: the message envelope, then the trailers as an envelope
 *   flagged 0x80, their `grpc-message` in Connect's encoding
 *   (encodeURIComponent; grpc-go's encoding is for gRPC trailers only);
 * - a KV/Txn body is held to its end and a txn nested deeper than the
 *   decoder goes is cut first, as Connect's edge does (deep-txn-body.ts).
 *
 * It takes only what it fully handles: a registered unary method, exactly
 * one of those content types, no request compression, an app that is not
 * closing. Everything else (gRPC-Web JSON and text, streams, other
 * methods) stays Connect's.
 */
export function createGrpcWebUnaryFastPath(
  options: GrpcWebUnaryFastPathOptions,
): DirectRequestHandler {
  const { pipeline, peerCommonName, cors } = options;
  const { limits, layers } = pipeline;
  const { readMaxBytes } = limits;
  const { serializationOf } = createEdgeSerialization(limits);

  return (req, res) => {
    if (req.method !== "POST") return false;
    const type = req.headers["content-type"];
    if (type !== contentTypeProto && type !== "application/grpc-web") return false;
    const entry = pipeline.unaryMethod(req.url ?? "");
    if (entry === undefined) return false;
    const encoding = req.headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    if (pipeline.closingSignal.aborted) return false;
    try {
      serve(entry, req, res);
    } catch (error) {
      // Nothing may escape into the server's "request" event (an uncaught
      // exception): a bug here gets the status Connect gives an error it
      // did not expect (Internal "internal error"), in a trailer frame.
      if (!res.headersSent) {
        const out = res as http.ServerResponse;
        out.writeHead(200, {
          ...cors?.(req.headers.origin),
          "content-type": contentTypeProto,
        });
        const trailer = new Headers();
        setTrailerStatus(trailer, handlerError(error));
        out.end(encodeEnvelope(trailerFlag, trailerSerialize(trailer)));
      }
    }
    return true;
  };

  function serve(
    entry: UnaryMethod,
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ): void {
    const { context, timeoutError } = createGrpcDirectCall(
      req,
      entry,
      pipeline,
      peerCommonName,
      "grpc-web",
    );
    const parser = serializationOf(entry).getI(true);
    const txn = entry.spec.method.input.typeName === txnRequestTypeName;
    let answered = false;
    const onClose = () => {
      if (!answered) context.abort(clientGone());
    };
    res.once("close", onClose);

    const answer = (message: Uint8Array | undefined, error: unknown) => {
      if (answered) return;
      answered = true;
      res.removeListener("close", onClose);
      req.removeListener("data", onData);
      req.removeListener("end", onEnd);
      context.abort(callFinished);
      const trailer = context.responseTrailer;
      if (error !== undefined) {
        setTrailerStatus(trailer, handlerError(error));
      }
      if (res.headersSent || res.writableEnded || res.destroyed) return;
      // As Fastify's CORS hook and then connect-node's writeHead put them.
      const head = { ...cors?.(req.headers.origin), ...context.nodeResponseHeader() };
      // (Both kinds of response take these calls; their union's types do not.)
      const out = res as http.ServerResponse;
      out.writeHead(200, head);
      // Connect writes each envelope as it is made: over HTTP/1.1 a chunk each.
      if (message !== undefined) out.write(encodeEnvelope(0, message));
      out.write(encodeEnvelope(trailerFlag, trailerSerialize(trailer)));
      out.end();
    };
    /** An answer before the body's end, in the microtask where Connect's pipeline would write it. */
    const fail = (error: unknown) => {
      req.removeListener("data", onData);
      req.removeListener("end", onEnd);
      queueMicrotask(() => answer(undefined, error));
    };

    // Envelopes as Connect's decoder splits them: bytes not yet an envelope
    // are held, each chunk's complete envelope headers are checked against
    // readMaxBytes before any of its messages is parsed. Returns false once
    // the call has failed.
    let held: Buffer | undefined;
    let input: ReturnType<typeof parser.parse> | undefined;
    const feed = (chunk: Buffer): boolean => {
      const all = held === undefined ? chunk : Buffer.concat([held, chunk]);
      try {
        const envelopes: { flags: number; at: number; size: number }[] = [];
        let at = 0;
        while (all.length - at >= 5) {
          const size = all.readUInt32BE(at + 1);
          if (size > readMaxBytes) {
            throw new ConnectError(
              `message size ${size} is larger than configured readMaxBytes ${readMaxBytes}`,
              Code.ResourceExhausted,
            );
          }
          if (all.length - at - 5 < size) break;
          envelopes.push({ flags: all[at] as number, at: at + 5, size });
          at += 5 + size;
        }
        held = at === all.length ? undefined : all.subarray(at);
        for (const { flags, at, size } of envelopes) {
          if ((flags & compressedFlag) !== 0) {
            throw new ConnectError(
              "received compressed envelope, but do not know how to decompress",
              Code.Internal,
            );
          }
          // A trailer envelope in a request is skipped, as Connect skips it.
          if ((flags & trailerFlag) === trailerFlag) continue;
          // A plain Uint8Array view, as Connect hands handlers: bytes fields
          // of a Buffer would be Buffers, whose slice() is a view, not a copy.
          const message = parser.parse(new Uint8Array(all.buffer, all.byteOffset + at, size));
          if (input !== undefined) {
            throw new ConnectError(
              "protocol error: received extra input message for unary method",
              Code.Unimplemented,
            );
          }
          input = message;
        }
        return true;
      } catch (error) {
        fail(error);
        return false;
      }
    };
    // A KV/Txn body is held to its end, as Connect's edge holds it to cut a
    // deep txn (deep-txn-body.ts), unless it outgrows the size limit: then
    // what came is read at once and the rest as it comes.
    let holding: Buffer[] | undefined = txn ? [] : undefined;
    let holdingSize = 0;
    const onData = (chunk: Buffer) => {
      if (holding === undefined) {
        feed(chunk);
        return;
      }
      holding.push(chunk);
      holdingSize += chunk.length;
      if (holdingSize <= readMaxBytes + 5) return;
      const chunks = holding;
      holding = undefined;
      for (const c of chunks) if (!feed(c)) return;
    };
    const onEnd = () => {
      if (holding !== undefined) {
        for (const c of cutDeepTxnChunks(holding, holdingSize, "binary")) {
          if (!feed(Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.length))) return;
        }
      }
      if (held !== undefined) {
        answer(undefined, incompleteEnvelope());
      } else if (input === undefined) {
        answer(
          undefined,
          new ConnectError(
            "protocol error: missing input message for unary method",
            Code.Unimplemented,
          ),
        );
      } else {
        void run(input);
      }
    };
    // Connect raises a bad grpc-timeout as its first read of the body does.
    if (timeoutError !== undefined) {
      fail(timeoutError);
      return;
    }
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", () => context.abort(clientGone()));

    async function run(message: NonNullable<typeof input>): Promise<void> {
      try {
        const output = await invokeUnary(context, entry.spec.impl, message, layers);
        answer(serializationOf(entry).getO(true).serialize(output), undefined);
      } catch (error) {
        answer(undefined, error);
      }
    }
  }
}
