import { toBinary } from "@bufbuild/protobuf";
import { envelopePrefixBytes, rememberedEnvelope } from "@conclave/server";
import { grpcStatusOk } from "@connectrpc/connect/protocol-grpc";
import type { CallPipeline, StreamMethod } from "./call-pipeline.js";
import {
  asMessage,
  type DirectCall,
  invokeStream,
  type NodeHeaders,
  toNodeHeaders,
} from "./direct-call.js";
import type { GrpcCallRequest, GrpcCallResponse } from "./grpc-call-objects.js";
import {
  callFinished,
  closedEarly,
  createGrpcDirectCall,
  encodeEnvelopeBuffer,
  grpcResponseHeader,
  grpcResponseTrailer,
  isDirectGrpcRequest,
  setFinalStatus,
} from "./grpc-direct-wire.js";
import { readRequestMessages } from "./grpc-request-messages.js";

export interface GrpcStreamFastPathOptions {
  /**
   * What Connect serves with too: the registered methods, the layers, the
   * limits and the shutdown signal.
   */
  pipeline: CallPipeline;
  /** The verified client certificate's CN of a request's connection (tls-peer-identity.ts). */
  peerCommonName: (req: GrpcCallRequest) => string | undefined;
}

/**
 * A direct path for server-streaming and bidi gRPC calls over HTTP/2, beside
 * Connect: etcd's Watch and LeaseKeepAlive, Election Observe, Maintenance
 * Snapshot, conclave.v1 Watch and LeaderElection Events.
 *
 * Why: clientv3 opens a stream per `KeepAliveOnce` and per Watch with fresh
 * metadata, so opening and closing a stream is as hot as a unary call. Under
 * Connect each one went through Fastify's routing and hooks, a universal
 * request and response, a chain of async-iterable transforms each way,
 * three abort controllers, and an error object with a stack trace when the
 * client reset the stream — about 1 ms of CPU per stream against etcd's 90
 * µs. This path decodes each request envelope once
 * (grpc-request-messages.ts), runs the same implementation through the same
 * interceptors with the same HandlerContext (direct-call.ts), and writes each
 * response message as it comes, waiting for the HTTP/2 stream to drain
 * before asking the handler for the next one — so a reader that stops holds
 * the handler, never a growing buffer.
 *
 * The messages a handler has ready in one turn of the event loop go to
 * HTTP/2 as one write: the stream is corked at the first and uncorked once
 * the turn's promise jobs are done. A watch event for 100 watchers of one
 * stream is 100 messages at once; a write each cost a native write request,
 * its callback and the stream's bookkeeping per message.
 *
 * What a client sees is what Connect sends: headers with the first message
 * (or with the status when there is none), one envelope per message,
 * trailers with the final status in the error table's words.
 *
 * It takes only what it fully handles — POST, a registered server-streaming
 * or bidi method, `application/grpc` or `application/grpc+proto`, no request
 * compression — and leaves everything else to Connect.
 */
export interface GrpcStreamFastPath {
  /**
   * Serves `req` if it is a call this path takes and returns true; returns
   * false (having touched nothing) to leave it to Connect.
   */
  handle(req: GrpcCallRequest, res: GrpcCallResponse): boolean;
}

export function createGrpcStreamFastPath(options: GrpcStreamFastPathOptions): GrpcStreamFastPath {
  const { pipeline, peerCommonName } = options;
  const interceptors = pipeline.layers;
  const { limits, traffic } = pipeline;
  const readOptions =
    limits.recursionLimit === undefined ? undefined : { recursionLimit: limits.recursionLimit };

  function handle(req: GrpcCallRequest, res: GrpcCallResponse): boolean {
    const entry = pipeline.streamMethod(req.url);
    if (entry === undefined || !isDirectGrpcRequest(req)) return false;
    if (pipeline.shutdownSignal.aborted) return false;
    void serve(entry, req, res).catch((error: unknown) => {
      // Nothing may escape as an unhandled rejection: answer as Connect
      // answers a throw, if the stream can still take an answer.
      finish(res, undefined, error);
    });
    return true;
  }

  async function serve(
    entry: StreamMethod,
    req: GrpcCallRequest,
    res: GrpcCallResponse,
  ): Promise<void> {
    const { context, timeoutError } = createGrpcDirectCall(req, entry, pipeline, peerCommonName);
    const input = readRequestMessages(req, entry.spec.method.input, {
      readMaxBytes: limits.readMaxBytes,
      readOptions,
      traffic,
    });
    // Connect raises a bad grpc-timeout when the handler first reads.
    if (timeoutError !== undefined) input.abort(timeoutError);

    let gone = false; // the client went away: nothing more can be written
    let wake: (() => void) | undefined;
    const onDrain = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const onClose = () => {
      gone = true;
      const reason = closedEarly(req.stream.rstCode ?? 0);
      context.abort(reason);
      input.abort(reason);
      onDrain();
    };
    req.once("close", onClose);

    const schema = entry.spec.method.output;
    // Messages of one turn go out in one write (see the comment above).
    const stream = res.stream;
    let corked = false;
    const uncork = () => {
      corked = false;
      stream.uncork();
    };
    let error: unknown;
    let messages: AsyncIterator<unknown> | undefined;
    try {
      const output = await invokeStream(context, entry.spec, input, interceptors);
      messages = output.messages[Symbol.asyncIterator]();
      for (;;) {
        const next = await messages.next();
        if (next.done === true) {
          messages = undefined;
          output.finish();
          break;
        }
        if (gone) break;
        // A response the service encoded itself (the watch fan-out's) is written as it is.
        let envelope = rememberedEnvelope(next.value);
        if (envelope === undefined) {
          envelope = encodeEnvelopeBuffer(0, toBinary(schema, asMessage(schema, next.value)));
        }
        traffic.sentBytes += envelope.length - envelopePrefixBytes;
        if (!res.headersSent) res.writeHead(200, context.nodeResponseHeader());
        if (!corked) {
          corked = true;
          stream.cork();
          process.nextTick(uncork);
        }
        if (!res.write(envelope)) {
          // Ask for no more until HTTP/2 has taken this (or the client left).
          await new Promise<void>((resolve) => {
            wake = resolve;
            res.once("drain", onDrain);
          });
          res.removeListener("drain", onDrain);
        }
      }
    } catch (e) {
      messages = undefined;
      error = e;
    }
    req.removeListener("close", onClose);
    context.abort(error ?? callFinished);
    // A handler left at a `yield` (its client went away) runs its `finally` now.
    messages?.return?.().catch(() => {});
    if (gone) return;
    finish(res, context, error);
  }

  /**
   * Headers (if no message sent them), then trailers with the final status:
   * those of `call` as the layers left them — usually the shared initial
   * ones, never converted — or, for a call that could not be built,
   * Connect's defaults.
   */
  function finish(res: GrpcCallResponse, call: DirectCall | undefined, error: unknown): void {
    let trailer: NodeHeaders;
    if (call === undefined) {
      const t = new Headers(grpcResponseTrailer);
      setFinalStatus(t, error);
      trailer = toNodeHeaders(t);
    } else {
      if (error !== undefined) setFinalStatus(call.responseTrailer, error);
      trailer = call.nodeResponseTrailer();
      // A layer may have replaced the trailers with ones without a status.
      if (trailer["grpc-status"] === undefined)
        trailer = { ...trailer, "grpc-status": grpcStatusOk };
    }
    if (res.writableEnded || res.stream.destroyed) return;
    if (!res.headersSent) res.writeHead(200, call?.nodeResponseHeader() ?? grpcResponseHeader);
    res.addTrailers(trailer);
    res.end();
  }

  return { handle };
}
