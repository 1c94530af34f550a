import type * as http from "node:http";
import type * as http2 from "node:http2";
import {
  type CallProtocol,
  callContextValues,
  createCallContext,
  txnRequestTypeName,
} from "@conclave/server";
import {
  Code,
  ConnectError,
  type ConnectRouterOptions,
  createConnectRouter,
} from "@connectrpc/connect";
import type {
  UniversalHandler,
  UniversalServerRequest,
  UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import * as protoConnect from "@connectrpc/connect/protocol-connect";
import * as protoGrpc from "@connectrpc/connect/protocol-grpc";
import * as protoGrpcWeb from "@connectrpc/connect/protocol-grpc-web";
import {
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import type { FastifyInstance } from "fastify";
import type { CallPipeline } from "./call-pipeline.js";
import { countEnvelopedBytes } from "./count-message-bytes.js";
import { cutDeepTxnBody, cutDeepTxnUnaryBody } from "./deep-txn-body.js";
import { useGrpcGoMessageEncoding } from "./encode-grpc-message.js";
import { limitGrpcRequestSize } from "./limit-grpc-request-size.js";

export interface ConnectEdgePluginOptions
  extends Omit<
    ConnectRouterOptions,
    | "interceptors"
    | "readMaxBytes"
    | "binaryOptions"
    | "jsonOptions"
    | "shutdownSignal"
    | "contextValues"
  > {
  /**
   * The services, layers, limits and shutdown signal, shared with the other
   * entry paths. Connect's router gets the layers as interceptors and the
   * limits as `readMaxBytes` and `recursionLimit`; the shutdown signal reaches
   * handlers through each call's context.
   */
  pipeline: CallPipeline;
  /** The verified client certificate's CN of a request's connection (tls-peer-identity.ts). */
  peerCommonName: (req: http.IncomingMessage | http2.Http2ServerRequest) => string | undefined;
}

/**
 * Serves Connect's universal handlers on Fastify — what
 * `@connectrpc/connect-fastify`'s plugin does — and is the edge where a gRPC
 * status leaves for the wire in etcd's form:
 *
 * - a gRPC request body passes {@link limitGrpcRequestSize} before Connect
 *   reads it, so a message over `readMaxBytes` is refused by the error table
 *   in grpc-go's words rather than by Connect in its own;
 * - the response's `grpc-message` (headers and trailers) is percent-encoded
 *   as grpc-go does ({@link useGrpcGoMessageEncoding});
 * - a gRPC call's message bytes both ways go to the pipeline's `traffic`.
 *
 * Owning these ~60 lines instead of using connect-fastify's plugin is what
 * lets both happen on Connect's `UniversalServerRequest`/`Response` values,
 * with no patched Node response methods.
 */
export function connectEdgePlugin(
  instance: FastifyInstance,
  opts: ConnectEdgePluginOptions,
  done: (err?: Error) => void,
): void {
  const { pipeline, peerCommonName, ...routerOptions } = opts;
  const { limits } = pipeline;
  const countSent = (bytes: number) => {
    pipeline.traffic.sentBytes += bytes;
  };
  const router = createConnectRouter({
    ...routerOptions,
    interceptors: [...pipeline.layers],
    readMaxBytes: limits.readMaxBytes,
    ...(limits.recursionLimit !== undefined && {
      binaryOptions: { recursionLimit: limits.recursionLimit },
      jsonOptions: { recursionLimit: limits.recursionLimit },
    }),
  });
  pipeline.routes(router);
  // Connect reads the bodies itself: every content type it knows is left unparsed.
  instance.addContentTypeParser(
    [
      protoConnect.contentTypeUnaryJson,
      protoConnect.contentTypeStreamJson,
      protoGrpcWeb.contentTypeProto,
      protoGrpcWeb.contentTypeJson,
      protoGrpc.contentTypeProto,
      protoGrpc.contentTypeJson,
    ],
    (_req, _payload, next) => next(null, undefined),
  );
  for (const re of [
    protoGrpc.contentTypeRegExp,
    protoGrpcWeb.contentTypeRegExp,
    protoConnect.contentTypeRegExp,
  ]) {
    instance.addContentTypeParser(re, (_req, _payload, next) => next(null, undefined));
  }
  for (const handler of router.handlers) {
    const txn = handler.method.input.typeName === txnRequestTypeName;
    instance.all(handler.requestPath, {}, async (req, reply) => {
      try {
        const uReq = universalRequestFromNodeRequest(req.raw, reply.raw, undefined, undefined);
        const protocol = protocolOf(req.headers["content-type"] ?? "");
        withCallContext(uReq, handler, protocol, pipeline, peerCommonName(req.raw));
        if (protocol === "grpc") {
          uReq.body = limitGrpcRequestSize(
            uReq.body as AsyncIterable<Uint8Array>,
            limits.readMaxBytes,
            pipeline.traffic,
          );
        }
        if (txn) {
          // A txn nested deeper than Connect's decoder goes is cut to what
          // validation reads before Connect decodes it (deep-txn-body.ts).
          const body = uReq.body as AsyncIterable<Uint8Array>;
          const format = /[/+]json\b/i.test(req.headers["content-type"] ?? "") ? "json" : "binary";
          const maxBytes = limits.readMaxBytes;
          if (protocol === "connect") {
            const read = await cutDeepTxnUnaryBody(body, { format, maxBytes });
            uReq.body = read.body;
            if (read.cut !== undefined) uReq.header.set("content-length", String(read.cut));
          } else {
            uReq.body = cutDeepTxnBody(body, { format, maxBytes });
          }
        }
        const uRes = await handler(uReq);
        if (protocol === "grpc" && uRes.body !== undefined) {
          uRes.body = countEnvelopedBytes(uRes.body, countSent);
        }
        // Headers hooks set on the reply (CORS) reach the raw response only on
        // reply.send(), which is not used here.
        for (const [name, value] of Object.entries(reply.getHeaders())) {
          if (value !== undefined) reply.raw.setHeader(name, value);
        }
        await universalResponseToNodeResponse(withGrpcGoMessages(uRes), reply.raw);
      } catch (e) {
        if (ConnectError.from(e).code === Code.Aborted) return;
        req.log.error(
          { err: e },
          `handler for rpc ${handler.method.name} of ${handler.service.typeName} failed`,
        );
      }
    });
  }
  done();
}

function protocolOf(contentType: string): CallProtocol {
  if (protoGrpc.contentTypeRegExp.test(contentType)) return "grpc";
  if (protoGrpcWeb.contentTypeRegExp.test(contentType)) return "grpc-web";
  return "connect";
}

/**
 * The call context of a Connect call, from the universal request: the
 * deadline its protocol's timeout header asks for, the request's own abort
 * signal (the client went away) and the pipeline's shutdown signal, the
 * token in its headers and the connection's verified CN. Connect sees it as
 * the request's signal and context values, so the handler's `ctx.signal`
 * and `ctx.values` derive from it, as on the other entry paths.
 *
 * Connect still applies the timeout header itself (it words a bad one);
 * both deadlines abort with the same DeadlineExceeded reason at the same time.
 */
function withCallContext(
  uReq: UniversalServerRequest,
  handler: UniversalHandler,
  protocol: CallProtocol,
  pipeline: CallPipeline,
  peerCommonName: string | undefined,
): void {
  const timeout =
    protocol === "connect"
      ? protoConnect.parseTimeout(
          uReq.header.get(protoConnect.headerTimeout),
          Number.MAX_SAFE_INTEGER,
        )
      : protoGrpc.parseTimeout(uReq.header.get(protoGrpc.headerTimeout), Number.MAX_SAFE_INTEGER);
  const call = createCallContext({
    protocol,
    service: handler.service.typeName,
    method: handler.method.name,
    requestHeader: uReq.header,
    peerCommonName,
    deadline: timeout.timeoutMs === undefined ? undefined : Date.now() + timeout.timeoutMs,
    shutdownSignal: pipeline.shutdownSignal,
    limits: pipeline.limits,
  });
  const requestSignal = uReq.signal;
  if (requestSignal.aborted) call.abort(requestSignal.reason);
  else
    requestSignal.addEventListener("abort", () => call.abort(requestSignal.reason), {
      once: true,
    });
  uReq.signal = call.signal;
  uReq.contextValues = callContextValues(call);
}

/**
 * The response with its `grpc-message` re-encoded when Node reads it:
 * headers after the first body chunk, trailers after the last — which is
 * when Connect has filled them in.
 */
function withGrpcGoMessages(res: UniversalServerResponse): UniversalServerResponse {
  return new GrpcGoMessageResponse(res);
}

/**
 * A class rather than a literal with getters over the call's headers: a
 * literal's getters are held from the old generation and keep what they
 * close over through young collections (design.md, "Memory").
 */
class GrpcGoMessageResponse implements UniversalServerResponse {
  readonly status: number;
  readonly body: AsyncIterable<Uint8Array> | undefined;
  private readonly rawHeader: Headers | undefined;
  private readonly rawTrailer: Headers | undefined;

  constructor(res: UniversalServerResponse) {
    this.status = res.status;
    this.body = res.body;
    this.rawHeader = res.header;
    this.rawTrailer = res.trailer;
  }

  get header(): Headers | undefined {
    if (this.rawHeader !== undefined) useGrpcGoMessageEncoding(this.rawHeader);
    return this.rawHeader;
  }

  get trailer(): Headers | undefined {
    if (this.rawTrailer !== undefined) useGrpcGoMessageEncoding(this.rawTrailer);
    return this.rawTrailer;
  }
}
