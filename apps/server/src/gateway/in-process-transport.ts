import type { ClientTraffic } from "@conclave/server";
import {
  type ConnectRouter,
  type ConnectRouterOptions,
  type ContextValues,
  createConnectRouter,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import {
  createUniversalHandlerClient,
  type UniversalHandler,
  type UniversalServerRequest,
} from "@connectrpc/connect/protocol";
import { createTransport } from "@connectrpc/connect/protocol-connect";
import { countBodyBytes, countEnvelopedBytes } from "../count-message-bytes.js";

function isByteStream(body: unknown): body is AsyncIterable<Uint8Array> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}

/**
 * A transport that calls the services of `routes` in-process, like
 * Connect's `createRouterTransport`, except that the `contextValues` of each
 * call reach the handler's `ctx.values`.
 *
 * Connect's router transport gives every handler fresh context values, so a
 * value the caller knows and the client must not be able to claim (the CN
 * of the verified client certificate) would be lost; a header would be
 * forgeable. Here the client side remembers each call's values by its
 * request `Headers` object, which reaches the handler unchanged, and the
 * handlers are wrapped to pass them on.
 *
 * With `traffic`, the bytes of the messages passed both ways are counted
 * there: etcd's gateway calls its server over gRPC, whose codec counts them.
 */
export function createInProcessTransport(
  routes: (router: ConnectRouter) => void,
  routerOptions: ConnectRouterOptions = {},
  traffic?: ClientTraffic,
): Transport {
  const router = createConnectRouter({ ...routerOptions, connect: true });
  routes(router);
  const valuesByHeader = new WeakMap<Headers, ContextValues>();
  const countReceived = (bytes: number) => {
    if (traffic !== undefined) traffic.receivedBytes += bytes;
  };
  const countSent = (bytes: number) => {
    if (traffic !== undefined) traffic.sentBytes += bytes;
  };
  const handlers = router.handlers.map((handler): UniversalHandler => {
    // The Connect protocol in binary: a unary message is the whole body, stream messages are enveloped.
    const count = handler.method.methodKind === "unary" ? countBodyBytes : countEnvelopedBytes;
    return Object.assign(async (req: UniversalServerRequest) => {
      const contextValues = valuesByHeader.get(req.header);
      const call = contextValues === undefined ? { ...req } : { ...req, contextValues };
      if (traffic === undefined) return handler(call);
      if (isByteStream(call.body)) call.body = count(call.body, countReceived);
      const res = await handler(call);
      // A unary error's body is Connect's JSON error, not a message.
      if (res.body !== undefined && (res.status === 200 || count === countEnvelopedBytes)) {
        res.body = count(res.body, countSent);
      }
      return res;
    }, handler);
  });
  // Runs last, on the request as the HTTP client receives it.
  const rememberValues: Interceptor = (next) => (req) => {
    valuesByHeader.set(req.header, req.contextValues);
    return next(req);
  };
  return createTransport({
    httpClient: createUniversalHandlerClient(handlers),
    baseUrl: "https://in-memory",
    useBinaryFormat: true,
    interceptors: [rememberValues],
    acceptCompression: [],
    sendCompression: null,
    compressMinBytes: Number.MAX_SAFE_INTEGER,
    readMaxBytes: Number.MAX_SAFE_INTEGER,
    writeMaxBytes: Number.MAX_SAFE_INTEGER,
    // Responses nest as deeply as the requests the router accepts.
    ...(routerOptions.binaryOptions !== undefined && {
      binaryOptions: routerOptions.binaryOptions,
    }),
  });
}
