import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ConnectRouterOptions,
  type ContextValues,
  createConnectRouter,
} from "@connectrpc/connect";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import * as protoConnect from "@connectrpc/connect/protocol-connect";
import * as protoGrpc from "@connectrpc/connect/protocol-grpc";
import * as protoGrpcWeb from "@connectrpc/connect/protocol-grpc-web";
import {
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { useGrpcGoMessageEncoding } from "./encode-grpc-message.js";
import { limitGrpcRequestSize } from "./limit-grpc-request-size.js";

export interface ConnectEdgePluginOptions extends ConnectRouterOptions {
  /** Registers the services on Connect's router. */
  routes: (router: ConnectRouter) => void;
  /** Context values of a request (the client certificate's CN), handed to the handlers. */
  contextValues?: (req: FastifyRequest) => ContextValues;
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
 *   as grpc-go does ({@link useGrpcGoMessageEncoding}).
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
  const router = createConnectRouter(opts);
  opts.routes(router);
  // Connect's default (2^32-1) when not given, as its handlers do.
  const readMaxBytes = opts.readMaxBytes ?? 0xffffffff;
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
    instance.all(handler.requestPath, {}, async (req, reply) => {
      try {
        const uReq = universalRequestFromNodeRequest(
          req.raw,
          reply.raw,
          undefined,
          opts.contextValues?.(req),
        );
        if (protoGrpc.contentTypeRegExp.test(req.headers["content-type"] ?? "")) {
          uReq.body = limitGrpcRequestSize(uReq.body as AsyncIterable<Uint8Array>, readMaxBytes);
        }
        const uRes = await handler(uReq);
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

/**
 * The response with its `grpc-message` re-encoded when Node reads it:
 * headers after the first body chunk, trailers after the last — which is
 * when Connect has filled them in.
 */
function withGrpcGoMessages(res: UniversalServerResponse): UniversalServerResponse {
  const { header, trailer } = res;
  return {
    ...res,
    get header() {
      if (header !== undefined) useGrpcGoMessageEncoding(header);
      return header;
    },
    get trailer() {
      if (trailer !== undefined) useGrpcGoMessageEncoding(trailer);
      return trailer;
    },
  };
}
