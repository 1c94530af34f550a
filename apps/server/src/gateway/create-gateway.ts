import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescMethodStreaming,
  type DescMethodUnary,
  type MessageShape,
  toJson,
} from "@bufbuild/protobuf";
import { defaultReadMaxBytes } from "@conclave/server";
import { Code, type Transport } from "@connectrpc/connect";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { CallPipeline } from "../call-pipeline.js";
import type { CorsHeaders } from "../cors.js";
import type { ConclaveApp } from "../create-app.js";
import {
  type CallScope,
  createUnaryCallRegistry,
  openCallScope,
  type UnaryCallRegistry,
} from "./call-scope.js";
import { type CallSlots, createCallSlots } from "./call-slots.js";
import {
  errorBody,
  type GatewayError,
  httpStatusFromCode,
  streamErrorChunk,
  toGatewayError,
} from "./gateway-errors.js";
import { gatewayPrefixes, gatewayRoutes } from "./gateway-routes.js";
import { createGatewayStream, type GatewayStream } from "./gateway-stream.js";
import { createGatewayUnary, type GatewayUnary } from "./gateway-unary.js";
import { stringifyGoJson } from "./go-json.js";
import { createInProcessTransport } from "./in-process-transport.js";
import {
  createRequestReader,
  type RequestReader,
  type RequestReaderOptions,
  readFirstMessage,
} from "./request-reader.js";

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
  /**
   * The CORS headers `registerCors` gives the app's replies, for the unary
   * calls served before Fastify (see `ConclaveApp.serveFirst`). Default
   * none: pass what `registerCors` returned when the app has CORS.
   */
  cors?: CorsHeaders;
  /**
   * Whether streaming calls (Watch, LeaseKeepAlive, Observe, Snapshot) run
   * straight through the pipeline (gateway-stream.ts) rather than through
   * the in-process Connect client and router. Default true; false is for
   * the test that holds the two to the same bytes.
   */
  directStreams?: boolean;
}

/**
 * Serves etcd's grpc-gateway JSON API (`POST /v3/kv/range`, `/v3/watch`, …
 * and the `/v3beta` and `/v3alpha` spellings) on the app's port, HTTP/1.1
 * and HTTP/2 alike.
 *
 * Each request calls the real services in-process through the app's call
 * pipeline (gateway-unary.ts, gateway-stream.ts; a service registered with
 * options of its own through a router transport), so the gateway cannot drift from the gRPC
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
  server: Pick<ConclaveApp, "app" | "pipeline" | "serveFirst">,
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
  const readerOptions: RequestReaderOptions = {
    maxValueChars,
    ...(limits.recursionLimit !== undefined && { recursionLimit: limits.recursionLimit }),
  };
  const serveOptions: ServeOptions = { transport, readerOptions, pipeline, slots, unaryCalls };
  const unaryRoutes = new Map<
    string,
    { method: DescMethodUnary; direct: GatewayUnary | undefined }
  >();
  const { cors } = options;
  // The unary routes before Fastify: what its router, hooks and reply did
  // here (CORS headers, a catch-all body parser) is done by hand.
  server.serveFirst((req, res) => {
    if (req.method !== "POST") return false;
    const route = unaryRoutes.get(req.url ?? "");
    // A closing app answers through Fastify (503, "Connection: close").
    if (route === undefined || pipeline.closingSignal.aborted) return false;
    serveUnary(route.method, directAnswer(req, res, cors), serveOptions, route.direct).catch(
      () => req.destroy(), // nothing of Fastify's to answer a bug with: drop the request
    );
    return true;
  });

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
        if (method.methodKind === "unary") {
          unaryRoutes.set(url, { method: method as DescMethodUnary, direct });
        }
        const stream =
          method.methodKind !== "unary" && options.directStreams !== false
            ? createGatewayStream(pipeline, method as DescMethodStreaming)
            : undefined;
        scope.post(url, (request, reply) =>
          serve(method, request, reply, serveOptions, direct, stream),
        );
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

function outputJson(method: DescMethod, message: unknown): string {
  return stringifyGoJson(
    toJson(method.output, message as MessageShape<DescMessage>, { useProtoFieldName: true }),
  );
}

/** What a gateway call needs besides its method and request. */
interface ServeOptions {
  readonly transport: Transport;
  /** How request bodies are read: the size limit of a JSON value, the nesting limit. */
  readonly readerOptions: RequestReaderOptions;
  readonly pipeline: CallPipeline;
  readonly slots: CallSlots;
  readonly unaryCalls: UnaryCallRegistry;
}

/**
 * Where a call's answer goes: a Fastify reply, or the raw response of a
 * request served before Fastify routed it (with the CORS headers Fastify's
 * hook would have added).
 */
interface Answer {
  readonly req: IncomingMessage | Http2ServerRequest;
  readonly res: ServerResponse | Http2ServerResponse;
  /** Writes a complete answer. */
  send(status: number, headers: Record<string, string>, body: Buffer): void;
  /** The client went away: nothing will be written. */
  drop(): void;
}

function fastifyAnswer(reply: FastifyReply): Answer {
  return {
    req: reply.request.raw,
    res: reply.raw,
    send(status, headers, body) {
      // A Buffer: Fastify would add "; charset=utf-8" to a string's type.
      reply.code(status).headers(headers).send(body);
    },
    drop: () => reply.hijack(),
  };
}

/** An answer as Fastify writes one: CORS headers, ours, then the length. */
function directAnswer(
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
  cors: CorsHeaders | undefined,
): Answer {
  return {
    req,
    res,
    send(status, headers, body) {
      const all = {
        ...cors?.(req.headers.origin),
        ...headers,
        "content-length": String(body.length),
      };
      (res as ServerResponse).writeHead(status, all);
      res.end(body);
    },
    drop() {},
  };
}

async function serve(
  method: DescMethod,
  request: FastifyRequest,
  reply: FastifyReply,
  options: ServeOptions,
  direct: GatewayUnary | undefined,
  stream: GatewayStream | undefined,
): Promise<void> {
  if (method.methodKind === "unary") {
    await serveUnary(method as DescMethodUnary, fastifyAnswer(reply), options, direct);
    return;
  }
  let scope: CallScope;
  try {
    scope = openCallScope(request.raw, reply.raw, method, options.pipeline, options.unaryCalls);
  } catch (err) {
    sendError(fastifyAnswer(reply), toGatewayError(err));
    return;
  }
  const release = await acquireSlot(scope, fastifyAnswer(reply), options.slots);
  if (release === undefined) return;
  try {
    await serveStream(
      options.transport,
      stream,
      method as DescMethodStreaming,
      readerOf(request.raw, method, options),
      scope,
      reply,
    );
  } finally {
    scope.finish();
    release();
  }
}

function readerOf(
  req: IncomingMessage | Http2ServerRequest,
  method: DescMethod,
  options: ServeOptions,
): RequestReader<DescMessage> {
  return createRequestReader(req as AsyncIterable<Uint8Array>, method.input, options.readerOptions);
}

/**
 * A call slot (see call-slots.ts), or undefined once the call ended while
 * waiting for one (answered, or nobody to answer).
 */
async function acquireSlot(
  scope: CallScope,
  answer: Answer,
  slots: CallSlots,
): Promise<(() => void) | undefined> {
  if (!slots.limited) return noRelease;
  try {
    return await slots.acquire(scope.call.signal);
  } catch {
    scope.finish();
    if (scope.clientGone()) answer.drop();
    else sendError(answer, scope.abortError() ?? toGatewayError(scope.call.signal.reason));
    return undefined;
  }
}

/**
 * A unary call: the first JSON value of the body is the request (the rest is
 * ignored, as Go's json.Decoder leaves it), one JSON answer.
 */
async function serveUnary(
  method: DescMethodUnary,
  answer: Answer,
  options: ServeOptions,
  direct: GatewayUnary | undefined,
): Promise<void> {
  let scope: CallScope;
  try {
    scope = openCallScope(answer.req, answer.res, method, options.pipeline, options.unaryCalls);
  } catch (err) {
    await requestParsed(answer.req);
    sendError(answer, toGatewayError(err));
    return;
  }
  const release = await acquireSlot(scope, answer, options.slots);
  if (release === undefined) return;
  let body: string;
  try {
    const input =
      (await readFirstMessage(answer.req, method.input, options.readerOptions)) ??
      create(method.input);
    const output =
      direct !== undefined
        ? await scope.race(direct(input, scope))
        : (
            await options.transport.unary(
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
      answer.drop(); // nobody to answer
    } else {
      const e = scope.abortError() ?? toGatewayError(err);
      await requestParsed(answer.req);
      sendError(answer, e);
    }
    scope.finish();
    release();
    return;
  }
  scope.finish();
  release();
  await requestParsed(answer.req);
  answer.send(200, okHeaders, Buffer.from(body));
}

const okHeaders = { ...corsHeaders, "content-type": "application/json", ...grpcMetadataHeader };
const errorHeaders = { ...corsHeaders, "content-type": "application/json" };

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
function requestParsed(req: IncomingMessage | Http2ServerRequest): Promise<void> | undefined {
  if (req.complete || req.httpVersionMajor !== 1) return undefined;
  return new Promise((resolve) => setImmediate(resolve));
}

function sendError(answer: Answer, e: GatewayError): void {
  answer.send(httpStatusFromCode(e.code), errorHeaders, Buffer.from(errorBody(e)));
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
  direct: GatewayStream | undefined,
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
    sendError(
      fastifyAnswer(reply),
      bidi && e.code === Code.InvalidArgument ? { ...e, code: Code.Unknown } : e,
    );
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
    const messages =
      direct !== undefined
        ? await direct(requests(), scope)
        : (
            await transport.stream(
              method,
              scope.call.signal,
              undefined,
              scope.header,
              requests(),
              scope.contextValues,
            )
          ).message;
    for await (const message of messages) {
      // Leaving the loop ends the handler (its `finally` runs) rather than waiting for its next message.
      if (scope.clientGone()) return;
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
