import type { Interceptor } from "@connectrpc/connect";
import { toConnectError } from "./errors.js";

/**
 * Maps whatever a handler throws through the one error table, so services
 * throw domain sentinels and never build gRPC statuses themselves. Covers
 * unary responses and errors raised while a response stream is produced.
 */
export const errorInterceptor: Interceptor = (next) => async (req) => {
  let res: Awaited<ReturnType<typeof next>>;
  try {
    res = await next(req);
  } catch (err) {
    throw toConnectError(err);
  }
  if (!res.stream) return res;
  const inner = res.message;
  async function* mapped() {
    try {
      yield* inner;
    } catch (err) {
      throw toConnectError(err);
    }
  }
  return { ...res, message: mapped() };
};
