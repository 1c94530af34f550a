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
  /**
   * The response headers and trailers the protocol's handler starts from
   * (e.g. gRPC's content type and `grpc-status: 0`), shared by every call and
   * never written to. Default none.
   */
  responseHeader?: NodeHeaders;
  responseTrailer?: NodeHeaders;
  /** The call's context values (`callContextValues(call)`). */
  values: ContextValues;
}

/** Headers as Node's HTTP APIs take them: lowercase names, one value each. */
export type NodeHeaders = Readonly<Record<string, string>>;

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
 *
 * For the same reason its `responseHeader` and `responseTrailer` are Fetch
 * Headers made when first read: most calls leave them as the protocol starts
 * them, and the transport then writes those (`nodeResponseHeader()`) with
 * no Headers built and converted per call.
 */
export interface DirectCall extends HandlerContext {
  /** Aborts the signal (if anyone has it, or when someone asks for it later). Idempotent. */
  abort(reason: unknown): void;
  /** The response headers to write: the initial ones (shared: do not modify) unless they were read. */
  nodeResponseHeader(): NodeHeaders;
  /** The response trailers to write, as {@link nodeResponseHeader}. */
  nodeResponseTrailer(): NodeHeaders;
}

const noHeaders: NodeHeaders = Object.freeze({});

export function createDirectCall(init: DirectCallInit): DirectCall {
  return new LocalDirectCall(init);
}

/** A class rather than an object literal with getters and closures: one is made per call. */
class LocalDirectCall implements DirectCall {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly protocolName: string;
  readonly requestMethod = "POST";
  readonly url: string;
  readonly requestHeader: Headers;
  readonly values: ContextValues;
  private readonly call: CallContext;
  private readonly headerInit: NodeHeaders;
  private readonly trailerInit: NodeHeaders;
  private header: Headers | undefined = undefined;
  private trailer: Headers | undefined = undefined;

  constructor(init: DirectCallInit) {
    this.call = init.call;
    this.service = init.service;
    this.method = init.method;
    this.protocolName = init.protocolName;
    this.url = init.url;
    this.requestHeader = init.requestHeader;
    this.values = init.values;
    this.headerInit = init.responseHeader ?? noHeaders;
    this.trailerInit = init.responseTrailer ?? noHeaders;
  }

  get signal(): AbortSignal {
    return this.call.signal;
  }

  get responseHeader(): Headers {
    this.header ??= new Headers(this.headerInit);
    return this.header;
  }

  get responseTrailer(): Headers {
    this.trailer ??= new Headers(this.trailerInit);
    return this.trailer;
  }

  timeoutMs(): number | undefined {
    return this.call.timeoutMs();
  }

  abort(reason: unknown): void {
    this.call.abort(reason);
  }

  nodeResponseHeader(): NodeHeaders {
    return this.header === undefined ? this.headerInit : toNodeHeaders(this.header);
  }

  nodeResponseTrailer(): NodeHeaders {
    return this.trailer === undefined ? this.trailerInit : toNodeHeaders(this.trailer);
  }
}

export function toNodeHeaders(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  h.forEach((value, name) => {
    out[name] = value;
  });
  return out;
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
    service: req.service,
    method: call.method,
    protocolName: call.protocolName,
    requestMethod: call.requestMethod,
    url: call.url,
    requestHeader: req.header,
    responseHeader: call.responseHeader,
    responseTrailer: call.responseTrailer,
    signal: req.signal,
    timeoutMs: () => call.timeoutMs(),
    values: req.contextValues,
  };
}

/** Where the getters of {@link withCallGetters} find the call. */
const callKey = Symbol("direct call");

interface CallGetter {
  readonly name: string;
  readonly descriptor: PropertyDescriptor;
}

function callGetter(name: string, read: (call: DirectCall) => unknown): CallGetter {
  return {
    name,
    descriptor: {
      get(this: { [callKey]: DirectCall }) {
        return read(this[callKey]);
      },
      enumerable: true,
      configurable: true,
    },
  };
}

const signalOfCall = callGetter("signal", (call) => call.signal);
const headerOfCall = callGetter("header", (call) => call.responseHeader);
const trailerOfCall = callGetter("trailer", (call) => call.responseTrailer);

/**
 * `o` with own, enumerable getters that read `o[callKey]` (a request's
 * signal, a response's headers), so they are made only when read. Own properties,
 * as Connect's: interceptors spread requests and responses, which copies
 * only those. Why not getters in an object literal: each literal then makes
 * a closure per getter and, having accessors, is a dictionary-mode object —
 * ~600 bytes per object instead of ~100, on every call.
 */
function withCallGetters<T>(
  o: { readonly [callKey]: DirectCall } & Record<string, unknown>,
  ...getters: CallGetter[]
): T {
  for (const g of getters) Object.defineProperty(o, g.name, g.descriptor);
  return o as T;
}

/**
 * The request the interceptors see, as Connect builds it; its signal is
 * read from the call when asked.
 */
function callRequest<R extends UnaryRequest | StreamRequest>(
  call: DirectCall,
  stream: R["stream"],
  message: unknown,
  method: unknown,
): R {
  return withCallGetters<R>(
    {
      stream,
      message,
      method,
      service: call.service,
      requestMethod: call.requestMethod,
      url: call.url,
      header: call.requestHeader,
      contextValues: call.values,
      [callKey]: call,
    },
    signalOfCall,
  );
}

/** The response the interceptors see; its headers and trailers are the call's, made when read. */
function callResponse<R extends UnaryResponse | StreamResponse>(
  call: DirectCall,
  stream: R["stream"],
  message: unknown,
  method: unknown,
): R {
  return withCallGetters<R>(
    { stream, message, method, service: call.service, [callKey]: call },
    headerOfCall,
    trailerOfCall,
  );
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
  const request = callRequest<UnaryRequest>(call, false, input, method);
  let response: UnaryResponse | undefined;
  const last = async (req: UnaryRequest): Promise<UnaryResponse> => {
    const output = await impl(req.message as never, handlerContext(call, req, request));
    // The call's Headers are made only if a layer looks at them.
    response = callResponse<UnaryResponse>(
      call,
      false,
      create(method.output, output as never),
      method,
    );
    return response;
  };
  const res = await chain(last, interceptors)(request);
  if (res !== response) {
    copyHeaders(res.header, call.responseHeader);
    copyHeaders(res.trailer, call.responseTrailer);
  }
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
  const request = callRequest<StreamRequest>(call, true, input, method);
  let response: StreamResponse | undefined;
  const last = async (req: StreamRequest): Promise<StreamResponse> => {
    const ctx = handlerContext(call, req, request);
    const output =
      spec.kind === "server_streaming"
        ? spec.impl((await single(req.message)) as never, ctx)
        : spec.impl(req.message as never, ctx);
    response = callResponse<StreamResponse>(call, true, output, method);
    return response;
  };
  const res = await chain(last, interceptors)(request);
  if (res !== response) copyHeaders(res.header, call.responseHeader);
  return {
    messages: res.message as AsyncIterable<unknown>,
    finish: () => {
      if (res !== response) copyHeaders(res.trailer, call.responseTrailer);
    },
  };
}

/**
 * What Connect's protocol handlers report for what an implementation (or a
 * layer) threw: a ConnectError as it is, anything else as Internal
 * "internal error" (the services' error layer has mapped etcd's errors
 * before this).
 */
export function handlerError(error: unknown): ConnectError {
  return error instanceof ConnectError
    ? error
    : new ConnectError("internal error", Code.Internal, undefined, undefined, error);
}

function copyHeaders(from: Headers, to: Headers): void {
  if (from === to) return;
  for (const key of [...to.keys()]) to.delete(key);
  for (const [key, value] of from) to.set(key, value);
}
