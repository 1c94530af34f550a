import {
  create,
  type DescMessage,
  type DescMethod,
  type DescMethodUnary,
  type DescService,
  isMessage,
  type MessageShape,
} from "@bufbuild/protobuf";
import type { CallContext } from "@conclave/server";
import {
  Code,
  ConnectError,
  type ContextValues,
  type HandlerContext,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import type { StreamMethod } from "./call-pipeline.js";

export interface DirectCallInit {
  /** The call, as the transport built it: deadline, cancellation, credentials, limits. */
  call: CallContext;
  service: DescService;
  method: DescMethod;
  protocolName: string;
  url: string;
  requestHeader: Headers;
  responseHeader: Headers;
  responseTrailer: Headers;
  /** The call's context values (`callContextValues(call)`). */
  values: ContextValues;
}

/**
 * What a handler on the direct gRPC paths is given: Connect's
 * HandlerContext, whose `signal` and `timeoutMs` are the call context's — so
 * the AbortSignal, and the deadline timer and shutdown listener behind it,
 * are made only when a handler or an interceptor reads `signal`.
 *
 * Why: most unary calls (Range, Put, Unlock, LeaseGrant…) never look at it,
 * and Connect's createHandlerContext builds three AbortControllers, a timer
 * and listeners for every call, then aborts them at the end; on small calls
 * that was about a tenth of the server's CPU. Streams do read it, and get
 * one controller rather than three.
 */
export interface DirectCall extends HandlerContext {
  /** Aborts the signal (if anyone has it, or when someone asks for it later). Idempotent. */
  abort(reason: unknown): void;
}

export function createDirectCall(init: DirectCallInit): DirectCall {
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
 * The context a handler gets: the call itself, or — when an interceptor
 * passed on a request of its own (other headers, values or signal) — one
 * built from that request, as Connect does.
 */
function handlerContext(
  call: DirectCall,
  req: UnaryRequest | StreamRequest,
  original: UnaryRequest | StreamRequest,
): HandlerContext {
  if (req === original) return call;
  return {
    ...call,
    service: req.service,
    requestHeader: req.header,
    signal: req.signal,
    values: req.contextValues,
  };
}

/** `last` wrapped by the interceptors, outermost first, as Connect applies them. */
function chain<Req, Res>(
  last: (req: Req) => Promise<Res>,
  interceptors: readonly Interceptor[],
): (req: Req) => Promise<Res> {
  let next = last;
  for (let i = interceptors.length - 1; i >= 0; i--) {
    next = (interceptors[i] as Interceptor)(next as never) as unknown as typeof next;
  }
  return next;
}

/**
 * Runs a unary implementation through the interceptors, as Connect's
 * invokeUnaryImplementation does, keeping the call's signal lazy when the
 * interceptors pass the request on unchanged. Response headers and trailers
 * an interceptor returns end up on the call.
 */
export async function invokeUnary(
  call: DirectCall,
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
    const output = await impl(req.message as never, handlerContext(call, req, request));
    return {
      stream: false,
      message: create(method.output, output as never),
      method,
      service: call.service,
      header: call.responseHeader,
      trailer: call.responseTrailer,
    };
  };
  const res = await chain(last, interceptors)(request);
  copyHeaders(res.header, call.responseHeader);
  copyHeaders(res.trailer, call.responseTrailer);
  return res.message;
}

/** The one request message of a server-streaming call, failing as Connect's ensureSingle does. */
async function single<T>(input: AsyncIterable<T>): Promise<T> {
  const it = input[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done === true) {
    throw new ConnectError(
      "protocol error: missing input message for server-streaming method",
      Code.Unimplemented,
    );
  }
  const second = await it.next();
  if (second.done !== true) {
    throw new ConnectError(
      "protocol error: received extra input message for server-streaming method",
      Code.Unimplemented,
    );
  }
  return first.value;
}

/**
 * A response message of `schema` as a message (handlers may yield plain
 * initialisers), as Connect's normalizeIterable makes it — called by the
 * writer, not by one more generator between the handler and the wire.
 */
export function asMessage(schema: DescMessage, m: unknown): MessageShape<DescMessage> {
  return isMessage(m, schema) ? m : create(schema, m as never);
}

/** What a stream answers: its messages, then (once they are read) its trailers. */
export interface StreamOutput {
  /** The handler's output through the interceptors; see {@link asMessage}. */
  readonly messages: AsyncIterable<unknown>;
  /** Copies the trailers an interceptor returned onto the call; after the last message. */
  finish(): void;
}

/**
 * Runs a server-streaming or bidi implementation through the interceptors,
 * as Connect's transformInvokeImplementation does, and resolves with the
 * response messages. The response headers an interceptor returns are on the
 * call when this resolves; its trailers after `finish()`.
 *
 * Why a copy of Connect's: the streaming direct path feeds it messages it
 * decoded itself and writes what comes out itself, with no universal
 * request/response, envelope transforms or per-call abort controllers
 * between them (see grpc-stream-fast-path.ts).
 */
export async function invokeStream(
  call: DirectCall,
  spec: StreamMethod["spec"],
  input: AsyncIterable<unknown>,
  interceptors: readonly Interceptor[],
): Promise<StreamOutput> {
  const method = spec.method;
  const request: StreamRequest = {
    stream: true,
    message: input as AsyncIterable<never>,
    method: method as never,
    service: call.service,
    requestMethod: call.requestMethod,
    url: call.url,
    get signal() {
      return call.signal;
    },
    header: call.requestHeader,
    contextValues: call.values,
  };
  const last = async (req: StreamRequest): Promise<StreamResponse> => {
    const ctx = handlerContext(call, req, request);
    const output =
      spec.kind === "server_streaming"
        ? spec.impl((await single(req.message)) as never, ctx)
        : spec.impl(req.message as never, ctx);
    return {
      stream: true,
      message: output as never,
      method: method as never,
      service: call.service,
      header: call.responseHeader,
      trailer: call.responseTrailer,
    };
  };
  const res = await chain(last, interceptors)(request);
  copyHeaders(res.header, call.responseHeader);
  return {
    messages: res.message as AsyncIterable<unknown>,
    finish: () => copyHeaders(res.trailer, call.responseTrailer),
  };
}

function copyHeaders(from: Headers, to: Headers): void {
  if (from === to) return;
  for (const key of [...to.keys()]) to.delete(key);
  for (const [key, value] of from) to.set(key, value);
}
