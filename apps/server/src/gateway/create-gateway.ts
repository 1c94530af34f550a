import type { IncomingHttpHeaders } from "node:http";
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescMethodStreaming,
  type DescMethodUnary,
  type MessageShape,
  toJson,
} from "@bufbuild/protobuf";
import {
  type CallContext,
  callContextValues,
  createCallContext,
  defaultReadMaxBytes,
} from "@conclave/server";
import { Code, ConnectError, type ContextValues, type Transport } from "@connectrpc/connect";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { CallPipeline } from "../call-pipeline.js";
import { verifiedPeerCommonName } from "../tls-peer-identity.js";
import { type CallSlots, createCallSlots } from "./call-slots.js";
import {
  errorBody,
  type GatewayError,
  httpStatusFromCode,
  streamErrorChunk,
  toGatewayError,
} from "./gateway-errors.js";
import { gatewayPrefixes, gatewayRoutes } from "./gateway-routes.js";
import { createGatewayUnary, type GatewayUnary } from "./gateway-unary.js";
import { stringifyGoJson } from "./go-json.js";
import { createInProcessTransport } from "./in-process-transport.js";
import { createRequestReader, type RequestReader } from "./request-reader.js";

export interface GatewayOptions {
  /**
   * The longest JSON text of one request message, in characters. Fastify's
   * `bodyLimit` does not apply: the gateway reads bodies itself, streaming.
   * Default: enough for a message of the pipeline's `readMaxBytes` in
   * base64, or 64 MiB when that is Connect's default (no limit).
   */
  maxMessageChars?: number;
  /**
   * Gateway calls in progress at once, all clients together; more wait for
   * one to end. etcd's gateway is a gRPC client of its server over one
   * HTTP/2 connection, so `--max-concurrent-streams` caps its calls so
   * (etcd's e2e TestV3Curl_MaxStreams_* checks it). Default: no limit.
   */
  maxConcurrentCalls?: number;
}

/**
 * Serves etcd's grpc-gateway JSON API (`POST /v3/kv/range`, `/v3/watch`, …
 * and the `/v3beta` and `/v3alpha` spellings) on the app's port, HTTP/1.1
 * and HTTP/2 alike.
 *
 * Each request calls the real services in-process through a router transport
 * over the app's call pipeline, so the gateway cannot drift from the gRPC
 * API: the same services, the same layers (metrics, the error table), the
 * same limits (a message over `readMaxBytes` is ResourceExhausted, HTTP 429,
 * as etcd's gateway reports gRPC's "received message larger than max"), and
 * a call context built like the other entry paths' (the token from
 * `Authorization` or `Grpc-Metadata-Token`, the verified client
 * certificate's CN as `peerCommonNameKey`).
 *
 * The routes live in an encapsulated plugin that reads every body as JSON
 * whatever its content type, because curl's `-d` sends
 * `application/x-www-form-urlencoded` and etcd ignores the header; the
 * Connect routes keep their own parsers.
 */
export function registerGateway(
  server: { readonly app: FastifyInstance; readonly pipeline: CallPipeline },
  options: GatewayOptions = {},
): void {
  const { app, pipeline } = server;
  const { limits } = pipeline;
  const transport = createInProcessTransport(
    pipeline.routes,
    {
      interceptors: [...pipeline.layers],
      readMaxBytes: limits.readMaxBytes,
      ...(limits.recursionLimit !== undefined && {
        binaryOptions: { recursionLimit: limits.recursionLimit },
      }),
    },
    pipeline.traffic,
  );
  const maxValueChars =
    options.maxMessageChars ??
    (limits.readMaxBytes !== defaultReadMaxBytes
      ? Math.ceil(limits.readMaxBytes / 3) * 4 + 64 * 1024
      : 64 * 1024 * 1024);
  const known = new Set<string>();
  const slots = createCallSlots(options.maxConcurrentCalls ?? Number.POSITIVE_INFINITY);
  const unaryCalls = createUnaryCallRegistry(pipeline.shutdownSignal);

  app.register(async (scope) => {
    // etcd reads any body as JSON whatever its Content-Type (even "text" or a
    // malformed one), so the header is dropped before Fastify checks it and
    // every body reaches the catch-all parser, which leaves it unread for the
    // handlers to stream (one message per JSON value).
    scope.addHook("onRequest", async (request) => {
      delete request.raw.headers["content-type"];
    });
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_request, _payload, done) => done(null, undefined));

    for (const prefix of gatewayPrefixes) {
      for (const route of gatewayRoutes) {
        const url = prefix + route.path;
        known.add(url);
        const { method } = route;
        const direct =
          method.methodKind === "unary"
            ? createGatewayUnary(pipeline, method as DescMethodUnary)
            : undefined;
        const serveOptions = { maxValueChars, pipeline, slots, direct, unaryCalls };
        scope.post(url, (request, reply) => serve(transport, method, request, reply, serveOptions));
      }
      // grpc-gateway's answers for what it does not route.
      scope.all(`${prefix}/*`, async (request, reply) => {
        reply.headers(corsHeaders);
        if (request.method === "OPTIONS") return reply.code(200).send();
        const path = request.url.split("?")[0] ?? "";
        const [status, text] = known.has(path)
          ? [405, "Method Not Allowed\n"]
          : [404, "Not Found\n"];
        return reply
          .code(status)
          .header("content-type", "text/plain; charset=utf-8")
          .header("x-content-type-options", "nosniff")
          .send(text);
      });
    }
  });
}

const noRelease = () => {};

/** etcd's gateway allows any origin (its default `--cors`). */
const corsHeaders = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "POST, GET, OPTIONS, PUT, DELETE",
  "access-control-allow-headers": "accept, content-type, authorization",
};

/** grpc-gateway forwards the gRPC response header this way; etcd clients may look at it. */
const grpcMetadataHeader = { "grpc-metadata-content-type": "application/grpc" };

/** The in-process call's lifetime: the client's connection and the `Grpc-Timeout` deadline. */
interface CallScope {
  /** The call context, as every entry path builds one. */
  readonly call: CallContext;
  /** Request headers to forward: `Authorization` and `Grpc-Metadata-*`. */
  readonly header: Headers;
  /** The call's context values: the call and the verified client certificate's CN. */
  readonly contextValues: ContextValues;
  /** True when the client went away: nothing more is written. */
  clientGone(): boolean;
  /** The error to report instead of whatever the aborted call threw (deadline, shutdown). */
  abortError(): GatewayError | undefined;
  /** Marks the response complete (a later close is not a disconnect) and stops the timer. */
  finish(): void;
  /**
   * `work`, or its rejection with the reason the call ends early for: the
   * deadline, shutdown, the client leaving — so the answer does not wait
   * for a handler that does not look at its signal, as Connect's router
   * transport raced it.
   */
  race<T>(work: Promise<T>): Promise<T>;
}

/**
 * The unary calls in flight, so that shutdown ends them with one listener
 * on the shutdown signal rather than one per call: a call's own signal (an
 * AbortController, listeners and a timer) is made only when something reads it.
 */
interface UnaryCallRegistry {
  add(stop: (reason: unknown) => void): boolean;
  delete(stop: (reason: unknown) => void): void;
}

function createUnaryCallRegistry(shutdownSignal: AbortSignal): UnaryCallRegistry {
  const live = new Set<(reason: unknown) => void>();
  shutdownSignal.addEventListener(
    "abort",
    () => {
      for (const stop of [...live]) stop(shutdownSignal.reason);
      live.clear();
    },
    { once: true },
  );
  return {
    /** False (and `stop` called) when shutdown has already begun. */
    add(stop) {
      if (shutdownSignal.aborted) {
        stop(shutdownSignal.reason);
        return false;
      }
      live.add(stop);
      return true;
    },
    delete: (stop) => live.delete(stop),
  };
}

/** The reason a gateway call's signal aborts with at its deadline, in Go's words. */
const deadlineExceeded = () => new ConnectError("context deadline exceeded", Code.DeadlineExceeded);

/** Why a finished call's signal aborts: nothing reads it. */
const callFinished = new ConnectError("the call has finished", Code.Canceled);

/**
 * The gateway's call context: deadline from `Grpc-Timeout`, cancellation
 * when the client disconnects and at shutdown — for unary calls when gRPC
 * calls are aborted too, for streams (a watch never ends by itself) as soon
 * as the app starts closing, instead of holding the close until its grace
 * period is over and their connections are cut.
 */
function openCallScope(
  request: FastifyRequest,
  reply: FastifyReply,
  method: DescMethod,
  pipeline: CallPipeline,
  unaryCalls: UnaryCallRegistry,
): CallScope {
  // First, as it may throw (InvalidArgument): nothing is registered yet.
  const timeoutMs = parseGrpcTimeout(request.headers["grpc-timeout"]);
  const header = forwardedHeaders(request.headers);
  const call = createCallContext({
    protocol: "gateway",
    service: method.parent.typeName,
    method: method.name,
    requestHeader: header,
    peerCommonName: verifiedPeerCommonName(request.raw),
    deadline: timeoutMs === undefined ? undefined : Date.now() + timeoutMs,
    // Only with a deadline: a ConnectError (and its stack trace) per call was ~5% of a Range's CPU.
    ...(timeoutMs !== undefined && { deadlineError: deadlineExceeded() }),
    shutdownSignal:
      method.methodKind === "unary" ? pipeline.shutdownSignal : pipeline.closingSignal,
    limits: pipeline.limits,
  });
  // Go's context is already expired for a deadline under a millisecond.
  if (timeoutMs !== undefined && timeoutMs < 1) call.abort(deadlineExceeded());
  let gone = false;
  let finished = false;
  let stopEarly: ((reason: unknown) => void) | undefined;

  const onClientGone = () => {
    if (finished) return;
    gone = true;
    const reason = new ConnectError("client disconnected", Code.Canceled);
    call.abort(reason);
    stopEarly?.(reason);
  };
  reply.raw.once("close", onClientGone);

  return {
    call,
    header,
    contextValues: callContextValues(call),
    clientGone: () => gone,
    abortError() {
      const { signal } = call;
      return !gone && signal.aborted ? toGatewayError(signal.reason) : undefined;
    },
    finish() {
      if (finished) return;
      finished = true;
      call.abort(callFinished);
    },
    race(work) {
      // With a deadline the signal's timer is needed anyway: race it.
      if (timeoutMs !== undefined) return raceSignal(call.signal, work);
      return new Promise((resolve, reject) => {
        const stop = (reason: unknown) => {
          stopEarly = undefined;
          unaryCalls.delete(stop);
          call.abort(reason);
          reject(reason);
        };
        if (gone) return stop(call.signal.reason);
        if (!unaryCalls.add(stop)) return;
        stopEarly = stop;
        const settled = () => {
          stopEarly = undefined;
          unaryCalls.delete(stop);
        };
        work.then(
          (value) => {
            settled();
            resolve(value);
          },
          (err: unknown) => {
            settled();
            reject(err);
          },
        );
      });
    },
  };
}

/** `work`, or the signal's reason once it aborts first. */
function raceSignal<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/** gRPC's `Grpc-Timeout` (digits and a unit of H, M, S, m, u, n) in milliseconds. */
function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? (value[0] ?? "") : value;
  const m = /^(\d+)([HMSmun])$/.exec(text);
  if (m === null) throw new ConnectError(`invalid grpc-timeout: ${text}`, Code.InvalidArgument);
  const perUnit = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
  return Number(m[1]) * perUnit[m[2] as keyof typeof perUnit];
}

/**
 * What grpc-gateway passes on as gRPC metadata: the `Authorization` header
 * (etcd's auth token) and every `Grpc-Metadata-<name>` header as `<name>`.
 */
function forwardedHeaders(headers: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    let key: string;
    if (name === "authorization") key = name;
    else if (name.startsWith("grpc-metadata-")) key = name.slice("grpc-metadata-".length);
    else continue;
    for (const v of Array.isArray(value) ? value : [value]) out.append(key, v);
  }
  return out;
}

function outputJson(method: DescMethod, message: unknown): string {
  return stringifyGoJson(
    toJson(method.output, message as MessageShape<DescMessage>, { useProtoFieldName: true }),
  );
}

async function serve(
  transport: Transport,
  method: DescMethod,
  request: FastifyRequest,
  reply: FastifyReply,
  options: {
    maxValueChars: number;
    pipeline: CallPipeline;
    slots: CallSlots;
    /** The unary method straight through the pipeline, when it has a direct entry. */
    direct: GatewayUnary | undefined;
    unaryCalls: UnaryCallRegistry;
  },
): Promise<void> {
  const { maxValueChars, pipeline, slots } = options;
  const { recursionLimit } = pipeline.limits;
  const unary = method.methodKind === "unary";
  let scope: CallScope;
  try {
    scope = openCallScope(request, reply, method, pipeline, options.unaryCalls);
  } catch (err) {
    sendError(reply, toGatewayError(err));
    return;
  }
  let release = noRelease;
  try {
    if (slots.limited) release = await slots.acquire(scope.call.signal);
  } catch {
    scope.finish();
    if (scope.clientGone())
      reply.hijack(); // nobody to answer
    else sendError(reply, scope.abortError() ?? toGatewayError(scope.call.signal.reason));
    return;
  }
  const reader = createRequestReader(request.raw as AsyncIterable<Uint8Array>, method.input, {
    maxValueChars,
    ...(recursionLimit !== undefined && { recursionLimit }),
  });
  try {
    if (unary) {
      await serveUnary(transport, method as DescMethodUnary, reader, scope, reply, options.direct);
    } else {
      await serveStream(transport, method as DescMethodStreaming, reader, scope, reply);
    }
  } finally {
    scope.finish();
    release();
  }
}

async function serveUnary(
  transport: Transport,
  method: DescMethodUnary,
  reader: RequestReader<DescMessage>,
  scope: CallScope,
  reply: FastifyReply,
  direct: GatewayUnary | undefined,
): Promise<void> {
  let body: string;
  try {
    // Like Go's json.Decoder: the first value is the request, the rest is ignored.
    const input = (await reader.next()) ?? create(method.input);
    const output =
      direct !== undefined
        ? await scope.race(direct(input, scope))
        : (
            await transport.unary(
              method,
              scope.call.signal,
              undefined,
              scope.header,
              input,
              scope.contextValues,
            )
          ).message;
    body = outputJson(method, output);
  } catch (err) {
    if (scope.clientGone()) {
      reply.hijack(); // nobody to answer
      return;
    }
    const e = scope.abortError() ?? toGatewayError(err);
    await requestParsed(reply);
    sendError(reply, e);
    return;
  }
  scope.finish();
  await requestParsed(reply);
  reply
    .code(200)
    .headers({ ...corsHeaders, "content-type": "application/json", ...grpcMetadataHeader })
    .send(Buffer.from(body)); // a Buffer: Fastify would add "; charset=utf-8" to a string's type
}

/**
 * Waits, if needed, until Node's HTTP/1.1 parser has seen the end of the
 * request, so that the answer can keep the connection open
 * (http1-connections.ts closes it after an answer written before its
 * request was complete).
 *
 * Why: on a reused connection Node's parser runs the handler's promise
 * continuations between a body and the end of its message, so a unary call
 * whose first JSON value arrived was answered before `complete` was set —
 * and every second request of a connection closed it. The parser finishes
 * that message in the same turn; one `setImmediate` is enough. A body that
 * is really still arriving (a client streaming more values) is not waited
 * for: its answer closes the connection, as before.
 */
function requestParsed(reply: FastifyReply): Promise<void> | undefined {
  const raw = reply.request.raw;
  if (raw.complete || raw.httpVersionMajor !== 1) return undefined;
  return new Promise((resolve) => setImmediate(resolve));
}

function sendError(reply: FastifyReply, e: GatewayError): void {
  reply
    .code(httpStatusFromCode(e.code))
    .headers({ ...corsHeaders, "content-type": "application/json" })
    .send(Buffer.from(errorBody(e)));
}

/**
 * Streams the responses as grpc-gateway does: status 200 and the headers
 * with the first response, then one `{"result":…}` line per response,
 * flushed as it comes. A call that fails before its first response gets
 * that error's status; one that fails later ends with an `{"error":…}` chunk.
 *
 * Watch and LeaseKeepAlive read one request per JSON value of the body as it
 * arrives. When the body ends the call is half-closed: a keep-alive stream
 * then ends, a watch stays open until the client disconnects.
 */
async function serveStream(
  transport: Transport,
  method: DescMethodStreaming,
  reader: RequestReader<DescMessage>,
  scope: CallScope,
  reply: FastifyReply,
): Promise<void> {
  const bidi = method.methodKind === "bidi_streaming";
  let first: MessageShape<DescMessage> | undefined;
  try {
    first = await reader.next();
  } catch (err) {
    if (scope.clientGone()) {
      reply.hijack();
      return;
    }
    const e = toGatewayError(err);
    // grpc-gateway reports a bad first message of a bidi stream as a plain
    // (non-status) error: Unknown; of a server stream as InvalidArgument.
    sendError(reply, bidi && e.code === Code.InvalidArgument ? { ...e, code: Code.Unknown } : e);
    return;
  }

  async function* requests(): AsyncGenerator<MessageShape<DescMessage>> {
    if (!bidi) {
      yield first ?? create(method.input);
      return;
    }
    if (first === undefined) return;
    yield first;
    for (;;) {
      let next: MessageShape<DescMessage> | undefined;
      try {
        next = await reader.next();
      } catch {
        // As grpc-gateway: a later undecodable message half-closes the stream.
        return;
      }
      if (next === undefined) return;
      yield next;
    }
  }

  reply.hijack();
  const res = reply.raw;
  let started = false;
  const start = (status: number, extra: Record<string, string>) => {
    started = true;
    // Headers set on the reply by hooks, as connect-fastify copies them.
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined) res.setHeader(name, value);
    }
    res.writeHead(status, { ...corsHeaders, "content-type": "application/json", ...extra });
  };

  try {
    const call = await transport.stream(
      method,
      scope.call.signal,
      undefined,
      scope.header,
      requests(),
      scope.contextValues,
    );
    for await (const message of call.message) {
      if (!started) start(200, grpcMetadataHeader);
      await write(
        res,
        `${stringifyGoJson({ result: toJson(method.output, message, { useProtoFieldName: true }) })}\n`,
      );
    }
    if (!started) start(200, {});
  } catch (err) {
    if (scope.clientGone()) return;
    const aborted = scope.abortError();
    const e = aborted ?? toGatewayError(err);
    if (!started && aborted !== undefined) {
      // grpc-gateway was still waiting for the stream's headers: a plain error reply.
      res.writeHead(httpStatusFromCode(e.code), {
        ...corsHeaders,
        "content-type": "application/json",
      });
      scope.finish();
      res.end(errorBody(e));
      return;
    }
    if (!started) start(httpStatusFromCode(e.code), {});
    await write(res, streamErrorChunk(e));
  }
  scope.finish();
  res.end();
}

/** Writes a chunk, waiting for the client to drain the previous ones (a slow watcher backs up the stream, not memory). */
async function write(res: NodeJS.WritableStream & { destroyed?: boolean }, chunk: string) {
  if (res.destroyed === true) return;
  if (res.write(chunk)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      res.removeListener("drain", done);
      res.removeListener("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}
