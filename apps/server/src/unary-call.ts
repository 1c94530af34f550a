import {
  create,
  type DescMethodUnary,
  type DescService,
  type MessageShape,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  type HandlerContext,
  type Interceptor,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";

export interface UnaryCallInit {
  service: DescService;
  method: DescMethodUnary;
  protocolName: string;
  url: string;
  requestHeader: Headers;
  responseHeader: Headers;
  responseTrailer: Headers;
  values: ContextValues;
  /** The call's deadline (`Date.now()` scale); undefined for none. */
  deadline: number | undefined;
  /** Aborts the call's signal with its reason, e.g. at server shutdown. */
  shutdownSignal: AbortSignal | undefined;
}

/**
 * What a unary handler is given: Connect's HandlerContext, with one
 * difference that no handler can observe — the AbortSignal, and the deadline
 * timer and shutdown listener behind it, are made only when a handler or an
 * interceptor reads `signal`.
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
  let controller: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  let doneReason: unknown;
  const { deadline, shutdownSignal } = init;

  const onShutdown = () => controller?.abort(shutdownSignal?.reason);
  const timedOut = () => {
    controller?.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
  };

  function signal(): AbortSignal {
    if (controller !== undefined) return controller.signal;
    const c = new AbortController();
    controller = c;
    if (done) {
      c.abort(doneReason);
    } else if (shutdownSignal?.aborted === true) {
      c.abort(shutdownSignal.reason);
    } else {
      shutdownSignal?.addEventListener("abort", onShutdown, { once: true });
      if (deadline !== undefined) {
        const left = deadline - Date.now();
        if (left <= 0) timedOut();
        else timer = setTimeout(timedOut, left);
      }
    }
    return c.signal;
  }

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
      return signal();
    },
    timeoutMs: () => (deadline === undefined ? undefined : deadline - Date.now()),
    abort(reason) {
      if (done) return;
      done = true;
      doneReason = reason;
      clearTimeout(timer);
      if (controller !== undefined) {
        shutdownSignal?.removeEventListener("abort", onShutdown);
        controller.abort(reason);
      }
    },
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
