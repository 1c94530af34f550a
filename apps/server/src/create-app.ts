import { lookup } from "node:dns/promises";
import type * as http from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { AddressInfo, Server as NetServer } from "node:net";
import type { TlsOptions } from "node:tls";
import type { ClientTraffic } from "@conclave/server";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { type FastifyInstance, fastify, LogController } from "fastify";
import { type LevelWithSilent, type Logger, pino } from "pino";
import { type CallPipeline, createCallPipeline } from "./call-pipeline.js";
import { connectEdgePlugin } from "./connect-edge-plugin.js";
import type { GrpcCallRequest, GrpcCallResponse } from "./grpc-call-objects.js";
import { createGrpcStreamFastPath } from "./grpc-stream-fast-path.js";
import { createGrpcUnaryFastPath } from "./grpc-unary-fast-path.js";
import {
  createOnePortServer,
  type ListenerScheme,
  type OnePortRequestHandler,
  type OnePortServer,
  type OnePortServerOptions,
} from "./one-port-server.js";
import { verifiedPeerCommonName } from "./tls-peer-identity.js";

export interface CreateAppOptions {
  /** Registers the Connect services, e.g. `(router) => router.service(KV, kvImpl)`. */
  routes: (router: ConnectRouter) => void;
  /** The logger for Fastify and the listeners. Default: a new pino logger at `logLevel`. */
  logger?: Logger;
  /** The level of the logger created when `logger` is not given. Default "info". */
  logLevel?: LevelWithSilent;
  /**
   * Log a line per HTTP request (Fastify's "incoming request" / "request
   * completed", at info level).
   *
   * Default false: etcd clients send many small RPCs, and etcd does not log
   * them either.
   */
  logRequests?: boolean;
  /**
   * The largest request message Connect reads, in bytes. Requests above it
   * fail with ResourceExhausted. Fastify's `bodyLimit` does not apply to
   * Connect routes. Callers pass `--max-request-bytes` plus 512 KiB, like
   * etcd's gRPC overhead allowance, and check the exact etcd limit in the
   * handlers.
   *
   * Default: Connect's (2^32-1).
   */
  readMaxBytes?: number;
  /**
   * How deeply request and response messages may nest (protobuf-es
   * `recursionLimit` for binary and JSON). Default protobuf-es's 100, which
   * refuses a txn nested 50 levels deep; the server passes
   * `maxMessageDepth`, so every txn etcd would run decodes.
   */
  recursionLimit?: number;
  /**
   * The one chain of layers between the transports and the services, as
   * Connect interceptors, outermost first: every call of every entry path
   * (Connect, gRPC-Web, Connect JSON, the direct gRPC path, the JSON gateway)
   * passes it. The server passes metrics, then the error table. Default none.
   */
  interceptors?: Interceptor[];
  /**
   * Where every entry path counts the bytes of gRPC messages it receives
   * and sends (the server passes its metrics' `traffic`). Default a count of
   * the app's own that nothing reads.
   */
  traffic?: ClientTraffic;
  /**
   * The grace period of `close()` when none is given: how long in-flight
   * requests may run after the listeners stop before their connections are
   * destroyed.
   *
   * Default 5 000 ms.
   */
  closeGraceMs?: number;
  /**
   * How long after shutdown begins RPC handlers see `ctx.signal` abort with
   * Unavailable "server is shutting down". Streaming RPCs such as Watch and
   * LeaseKeepAlive never end on their own: they must watch `ctx.signal` and
   * return, so their clients get a status (and can retry elsewhere) before
   * the connection is destroyed at the end of the grace period.
   *
   * Default: half the grace period. Capped at the grace period.
   */
  shutdownTimeoutMs?: number;
  /** Options of the one-port listeners: timeouts and HTTP/2 settings. */
  onePort?: OnePortServerOptions;
  /**
   * The TLS settings of `https://` listen URLs (see `tls.createServer()`):
   * `key`, `cert`, and for client certificates `ca`, `requestCert` and
   * `rejectUnauthorized`. Handlers see a verified client certificate's CN as
   * the context value `peerCommonNameKey`.
   *
   * Default none: only `http://` URLs can be listened on.
   */
  tls?: TlsOptions;
  /**
   * Serve gRPC calls over HTTP/2 on the direct paths of
   * grpc-unary-fast-path.ts and grpc-stream-fast-path.ts rather than through
   * Connect's handler pipeline (same implementations, interceptors, statuses
   * and bytes on the wire).
   *
   * Default: true, unless `logRequests` is set (Fastify logs only the
   * requests it serves). False sends every call through Connect.
   */
  grpcDirectPaths?: boolean;
  /**
   * Serve connections whose first request is gRPC with the gRPC engine
   * (grpc-engine/, one-port-server.ts `grpcHandler`): the direct paths over
   * HTTP/2 frames of our own; what they do not take goes to Node's HTTP/2
   * server as before.
   *
   * Default false. Only with the direct paths on.
   */
  grpcEngine?: boolean;
}

/** Serves a request and returns true, or returns false to leave it to Fastify. */
export type DirectRequestHandler = (
  req: http.IncomingMessage | Http2ServerRequest,
  res: http.ServerResponse | Http2ServerResponse,
) => boolean;

/** A Fastify app with Connect routes, served on one or more one-port listeners. */
export interface ConclaveApp {
  /** The Fastify instance: add plain HTTP routes and hooks before `listen()`. */
  readonly app: FastifyInstance;
  /**
   * The services, layers, limits and shutdown signals every entry path
   * shares: more entry paths (the JSON gateway) are built on it.
   */
  readonly pipeline: CallPipeline;
  /** The shared HTTP/1.1 and HTTP/2 servers and their listeners. */
  readonly onePort: OnePortServer;
  /**
   * Lets `handler` take requests before Fastify routes them, HTTP/1.1 and
   * HTTP/2 alike, after the direct gRPC paths: it answers the ones it
   * fully serves and returns true, or returns false having touched nothing.
   * For entry paths whose every request is a small call (the gateway's unary
   * routes), where Fastify's routing, hooks and reply were most of the cost.
   *
   * Ignored — Fastify serves everything — when the direct paths are off
   * (`grpcDirectPaths: false`, or `logRequests`: Fastify logs only what it
   * serves). A handler must leave alone what Fastify's hooks would change
   * (the answers of a closing server, say) and add the CORS headers itself.
   */
  serveFirst(handler: DirectRequestHandler): void;
  /**
   * Binds every URL (`http://host:port` or `https://host:port`, the latter
   * with the `tls` option) and resolves with the bound URLs.
   *
   * Each URL's host must be an IP address or "localhost"; "localhost" binds
   * every address it resolves to (usually 127.0.0.1 and ::1) on the same
   * port, so IPv4 and IPv6 clients both reach it, ignoring addresses the
   * machine does not have. Port 0 picks a free port (the same one for all
   * addresses of one URL). An `http://` and an `https://` URL with the same
   * host and (non-zero) port share one listener that serves both, telling
   * TLS from plaintext by the first byte, as etcd does.
   *
   * The first address is bound by Fastify (so `onListen` hooks run); the
   * others get listeners of their own that feed the same HTTP/1.1 and HTTP/2
   * servers. If any bind fails, everything is closed and the error is
   * thrown: the app cannot be listened again.
   */
  listen(urls: readonly string[]): Promise<string[]>;
  /**
   * The bound URLs, as `http://host:port` or `https://host:port` with the
   * real port; a listener serving both schemes appears with each.
   */
  addresses(): string[];
  /**
   * Shuts down: stops accepting, drains connections gracefully (see
   * `OnePortServer.close()`), aborts RPC handlers' `ctx.signal` after
   * `shutdownTimeoutMs`, then runs Fastify's `onClose` hooks. `app.close()`
   * does the same with the default grace period.
   *
   * @param graceMs Default `closeGraceMs`.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Builds the Fastify app that serves Connect, gRPC and gRPC-Web (and any
 * plain Fastify routes) over HTTP/1.1 and h2c on the same port.
 *
 * Fastify does not manage the connections: its `serverFactory` returns the
 * one-port listener, which owns timeouts and the graceful close.
 */
export function createApp(options: CreateAppOptions): ConclaveApp {
  const closeGraceMs = options.closeGraceMs ?? 5_000;
  const logger = options.logger ?? pino({ level: options.logLevel ?? "info" });

  const pipeline = createCallPipeline({
    routes: options.routes,
    ...(options.interceptors !== undefined && { layers: options.interceptors }),
    ...(options.readMaxBytes !== undefined && { readMaxBytes: options.readMaxBytes }),
    ...(options.recursionLimit !== undefined && { recursionLimit: options.recursionLimit }),
    ...(options.traffic !== undefined && { traffic: options.traffic }),
  });
  const abortRpcs = () => pipeline.abortCalls();
  const directPathsOn = options.grpcDirectPaths ?? !options.logRequests;
  const directPaths = directPathsOn
    ? [
        createGrpcUnaryFastPath({ pipeline, peerCommonName: verifiedPeerCommonName }),
        createGrpcStreamFastPath({ pipeline, peerCommonName: verifiedPeerCommonName }),
      ]
    : [];
  const firstHandlers: DirectRequestHandler[] = [];

  let onePort: OnePortServer | undefined;
  // Cast to the default logger type, so that plugins written against plain
  // `FastifyInstance` can be registered.
  const app = fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: !options.logRequests }),
    // The one-port server closes connections itself; Fastify would look for
    // methods a net.Server does not have.
    forceCloseConnections: false,
    serverFactory(handler) {
      const fastifyHandler = handler as unknown as OnePortRequestHandler;
      const wrapped = ((req: http.IncomingMessage, res: http.ServerResponse) => {
        if ("stream" in req) {
          for (const path of directPaths) {
            if (
              path.handle(
                req as unknown as Http2ServerRequest,
                res as unknown as Http2ServerResponse,
              )
            ) {
              return;
            }
          }
        }
        for (const serve of firstHandlers) if (serve(req, res)) return;
        fastifyHandler(req, res);
      }) as OnePortRequestHandler;
      onePort = createOnePortServer(wrapped, {
        onConnectionError: (error) => logger.debug({ err: error }, "connection error"),
        ...(options.tls !== undefined && { tls: options.tls }),
        ...(options.grpcEngine === true &&
          directPaths.length > 0 && {
            grpcHandler: (req: GrpcCallRequest, res: GrpcCallResponse) =>
              directPaths.some((path) => path.handle(req, res)),
          }),
        ...options.onePort,
      });
      // Fastify only calls listen(), address(), close() and event methods on
      // the server, which a net.Server has.
      return onePort.server as unknown as http.Server;
    },
  }) as unknown as FastifyInstance;
  if (onePort === undefined) {
    throw new Error("fastify did not call serverFactory");
  }
  const port: OnePortServer = onePort;

  app.register(connectEdgePlugin, {
    // The services, layers, limits and our own shutdown signal rather than
    // the plugin's shutdownTimeoutMs: its timer starts at Fastify's preClose
    // and cannot follow the grace period given to close().
    pipeline,
    grpc: true,
    grpcWeb: true,
    connect: true,
    // No response compression: etcd sends none, and gzipping every watch
    // batch over 1 KiB cost more CPU than it saved on loopback and LANs.
    acceptCompression: [],
    // The verified client certificate's CN, for auth (never from a header).
    peerCommonName: verifiedPeerCommonName,
  });

  let requestedGraceMs: number | undefined;
  // preClose runs after Fastify starts answering new requests with 503 (and
  // "Connection: close") and before its onClose hooks, which release what
  // the handlers use: drain here.
  app.addHook("preClose", async () => {
    pipeline.beginClose();
    const graceMs = requestedGraceMs ?? closeGraceMs;
    const abortAfterMs = Math.min(options.shutdownTimeoutMs ?? graceMs / 2, graceMs);
    const timer = setTimeout(abortRpcs, abortAfterMs);
    try {
      await port.close(graceMs);
    } finally {
      clearTimeout(timer);
      abortRpcs();
    }
  });

  async function bindAll(urls: readonly string[]): Promise<void> {
    let first = true;
    for (const { raw, url, scheme } of groupByAddress(urls)) {
      const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
      const hosts =
        host === "localhost"
          ? [...new Set((await lookup(host, { all: true })).map((a) => a.address))]
          : [host];
      let bindPort = url.port === "" ? defaultPort(url) : Number(url.port);
      for (const [i, address] of hosts.entries()) {
        try {
          if (first) {
            port.setScheme(port.server, scheme);
            await app.listen({
              host: address,
              port: bindPort,
              // Fastify writes http:// whatever the listener speaks.
              listenTextResolver: (text) =>
                `Server listening at ${scheme === "https" ? text.replace(/^http:/, "https:") : text}`,
            });
            first = false;
          } else {
            await listenOn(port.createListener(scheme), address, bindPort);
          }
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (i > 0 && (code === "EADDRNOTAVAIL" || code === "EAFNOSUPPORT")) {
            logger.warn({ err: error }, `not listening on ${address} for ${raw}`);
            continue;
          }
          throw error;
        }
        if (i === 0) bindPort = boundPort(port.listeners.at(-1));
      }
    }
  }

  /**
   * Parses the listen URLs and merges an `http://` and an `https://` URL of
   * the same host and non-zero port into one "http+https" listener.
   */
  function groupByAddress(urls: readonly string[]) {
    const groups: { raw: string; url: URL; scheme: ListenerScheme }[] = [];
    for (const raw of urls) {
      const url = new URL(raw);
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new Error(`cannot listen on ${raw}: only http:// and https:// URLs are supported`);
      }
      if (url.protocol === "https:" && port.tls === undefined) {
        throw new Error(
          `cannot listen on ${raw}: https:// needs TLS options (a key and certificate)`,
        );
      }
      const scheme = url.protocol === "https:" ? "https" : "http";
      const same =
        url.port === "0"
          ? undefined
          : groups.find((g) => g.url.hostname === url.hostname && g.url.port === url.port);
      if (same === undefined) groups.push({ raw, url, scheme });
      else if (same.scheme !== scheme) same.scheme = "http+https";
    }
    return groups;
  }

  async function listen(urls: readonly string[]): Promise<string[]> {
    if (urls.length === 0) throw new Error("no URL to listen on");
    try {
      await bindAll(urls);
    } catch (error) {
      await close(0);
      throw error;
    }
    const bound = addresses();
    for (const address of bound.slice(1)) {
      logger.info(`Server listening at ${address}`);
    }
    return bound;
  }

  function addresses(): string[] {
    const result: string[] = [];
    for (const listener of port.listeners) {
      const a = listener.address();
      if (a === null || typeof a === "string") continue;
      const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
      const scheme = port.schemeOf(listener);
      if (scheme !== "https") result.push(`http://${host}:${a.port}`);
      if (scheme !== "http") result.push(`https://${host}:${a.port}`);
    }
    return result;
  }

  let closePromise: Promise<void> | undefined;
  function close(graceMs?: number): Promise<void> {
    closePromise ??= (async () => {
      requestedGraceMs = graceMs;
      await app.close();
      // If Fastify never became ready, it skips preClose hooks.
      await port.close(graceMs ?? closeGraceMs);
      abortRpcs();
    })();
    return closePromise;
  }

  function serveFirst(handler: DirectRequestHandler): void {
    if (directPathsOn) firstHandlers.push(handler);
  }

  return { app, pipeline, onePort: port, serveFirst, listen, addresses, close };
}

function listenOn(listener: NetServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    listener.once("error", onError);
    listener.listen({ host, port }, () => {
      listener.removeListener("error", onError);
      resolve();
    });
  });
}

/** WHATWG URLs leave out the scheme's default port. */
function defaultPort(url: URL): number {
  return url.protocol === "https:" ? 443 : 80;
}

function boundPort(listener: NetServer | undefined): number {
  const a = listener?.address() as AddressInfo | null | undefined;
  if (a === null || a === undefined || typeof a !== "object") {
    throw new Error("listener is not bound");
  }
  return a.port;
}
