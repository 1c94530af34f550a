import {
  create,
  type DescMethodUnary,
  type DescService,
  type MessageShape,
} from "@bufbuild/protobuf";
import type { CallContext } from "@conclave/server";
import type {
  ContextValues,
  HandlerContext,
  Interceptor,
  UnaryRequest,
  UnaryResponse,
} from "@connectrpc/connect";

export interface UnaryCallInit {
  /** The call, as the transport built it: deadline, cancellation, credentials, limits. */
  call: CallContext;
  service: DescService;
  method: DescMethodUnary;
  protocolName: string;
  url: string;
  requestHeader: Headers;
  responseHeader: Headers;
  responseTrailer: Headers;
  /** The call's context values (`callContextValues(call)`). */
  values: ContextValues;
}

/**
 * What a unary handler is given: Connect's HandlerContext, whose `signal`
 * and `timeoutMs` are the call context's — so the AbortSignal, and the
 * deadline timer and shutdown listener behind it, are made only when a
 * handler or an interceptor reads `signal`.
 *
 * Why: most unary calls (Range, Put, Unlock, LeaseGrant…) never look at it,
 * and Connect's createHandlerContext builds three AbortControllers, a timer
 * and listeners for every call, then aborts them at the end; on small calls
 * that was about a tenth of the server's CPU.
 */
export interface UnaryCall extends HandlerContext {
  /** Aborts the signal (if anyone has it, or when someone asks for it later). Idempotent. */
  abort(reason: unknown): void;
}

export function createUnaryCall(init: UnaryCallInit): UnaryCall {
  const { call } = init;
  return {
    service: init.service,
    method: init.method,
    protocolName: init.protocolName,
    requestMethod: "POST",
    url: init.url,
    requestHeader: init.requestHeader,
    responseHeader: init.responseHeader,
    responseTrailer: init.responseTrailer,
    values: init.values,
    get signal() {
      return call.signal;
    },
    timeoutMs: call.timeoutMs,
    abort: call.abort,
  };
}

/**
 * Runs a unary implementation through the interceptors, as Connect's
 * invokeUnaryImplementation does, keeping the call's signal lazy when the
 * interceptors pass the request on unchanged. Response headers and trailers
 * an interceptor returns end up on the call.
 */
export async function invokeUnary(
  call: UnaryCall,
  impl: (input: never, ctx: HandlerContext) => unknown,
  input: MessageShape<DescMethodUnary["input"]>,
  interceptors: readonly Interceptor[],
): Promise<MessageShape<DescMethodUnary["output"]>> {
  const method = call.method as DescMethodUnary;
  const request: UnaryRequest = {
    stream: false,
    message: input,
    method,
    service: call.service,
    requestMethod: call.requestMethod,
    url: call.url,
    get signal() {
      return call.signal;
    },
    header: call.requestHeader,
    contextValues: call.values,
  };
  const last = async (req: UnaryRequest): Promise<UnaryResponse> => {
    // An interceptor that passed on a request of its own (other headers,
    // values or signal) gets a context built from it, as Connect does.
    const ctx: HandlerContext =
      req === request
        ? call
        : {
            ...call,
            service: req.service,
            requestHeader: req.header,
            signal: req.signal,
            values: req.contextValues,
          };
    const output = await impl(req.message as never, ctx);
    return {
      stream: false,
      message: create(method.output, output as never),
      method,
      service: call.service,
      header: call.responseHeader,
      trailer: call.responseTrailer,
    };
  };
  let next = last as (req: UnaryRequest) => Promise<UnaryResponse>;
  for (let i = interceptors.length - 1; i >= 0; i--) {
    next = (interceptors[i] as Interceptor)(next as never) as typeof next;
  }
  const res = await next(request);
  copyHeaders(res.header, call.responseHeader);
  copyHeaders(res.trailer, call.responseTrailer);
  return res.message;
}

function copyHeaders(from: Headers, to: Headers): void {
  if (from === to) return;
  for (const key of [...to.keys()]) to.delete(key);
  for (const [key, value] of from) to.set(key, value);
}
