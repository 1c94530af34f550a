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
 */
export function createInProcessTransport(
  routes: (router: ConnectRouter) => void,
  routerOptions: ConnectRouterOptions = {},
): Transport {
  const router = createConnectRouter({ ...routerOptions, connect: true });
  routes(router);
  const valuesByHeader = new WeakMap<Headers, ContextValues>();
  const handlers = router.handlers.map(
    (handler): UniversalHandler =>
      Object.assign((req: UniversalServerRequest) => {
        const contextValues = valuesByHeader.get(req.header);
        return handler(contextValues === undefined ? req : { ...req, contextValues });
      }, handler),
  );
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
