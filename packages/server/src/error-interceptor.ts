import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { errorFlavourOf, toConnectError } from "./errors.js";
import { observeResponse } from "./observe-stream.js";

/**
 * Maps whatever a handler throws through the one error table, in the
 * flavour the table declares for the method (errors.ts, `errorFlavourOf`),
 * so services throw domain sentinels and never build gRPC statuses
 * themselves. Covers unary responses and errors raised while a response
 * stream is produced. Every entry path runs it: Connect's protocols, the
 * direct unary gRPC path and the JSON gateway.
 */
export const errorInterceptor: Interceptor = (next) => async (req) => {
  // The flavour is looked up only on failure: the success path stays as cheap as before.
  // (A ConnectError — a stream whose client went away ends with one — needs no lookup.)
  const map = (err: unknown) =>
    err instanceof ConnectError
      ? err
      : toConnectError(err, errorFlavourOf(req.service.typeName, req.method.name));
  let res: Awaited<ReturnType<typeof next>>;
  try {
    res = await next(req);
  } catch (err) {
    throw map(err);
  }
  if (!res.stream) return res;
  return observeResponse(res, { error: map });
};
