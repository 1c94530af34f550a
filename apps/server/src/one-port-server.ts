import type * as http from "node:http";
import type * as http2 from "node:http2";
import * as net from "node:net";
import type * as tls from "node:tls";
import { createAuthorityRepairStream } from "./authority-repair/authority-repair-stream.js";
import { checkFirstRequest } from "./authority-repair/first-request-check.js";
import { createConnectionTracker } from "./connection-tracker.js";
import type { GrpcCallRequest, GrpcCallResponse } from "./grpc-call-objects.js";
import {
  type GrpcEngineConnection,
  serveGrpcEngineConnection,
} from "./grpc-engine/grpc-engine-connection.js";
import { createNodeFallback } from "./grpc-engine/node-fallback.js";
import { createHttp1Connections } from "./http1-connections.js";
import { createHttp2Sessions, defaultMaxConcurrentStreams } from "./http2-sessions.js";
import { sniffProtocol } from "./protocol-sniffing.js";
import { createTlsAcceptor } from "./tls-acceptor.js";

/**
 * What a listener accepts: plaintext HTTP ("http"), TLS ("https"), or both on
 * one port ("http+https", as etcd serves `http://` and `https://` URLs with
 * the same host and port), told apart by the first byte.
 */
export type ListenerScheme = "http" | "https" | "http+https";

/**
 * A request handler that accepts both HTTP/1.1 and HTTP/2 compatibility
 * objects, like the one Fastify passes to its `serverFactory`.
 */
export interface OnePortRequestHandler {
  (req: http.IncomingMessage, res: http.ServerResponse): void;
  (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void;
}

export interface OnePortServerOptions {
  /**
   * How long a new connection may take to send enough bytes to tell HTTP/1.1
   * from HTTP/2 (one byte for most HTTP/1.1 requests, the 24-byte preface for
   * HTTP/2). Connections that stay silent longer are destroyed, so idle
   * sockets cannot pile up before any protocol timeout applies.
   *
   * Defaults to 10 000 ms. 0 disables the timeout.
   */
  firstBytesTimeoutMs?: number;
  /**
   * How long an idle HTTP/1.1 keep-alive connection stays open.
   *
   * Defaults to 72 000 ms, like Fastify: longer than the 60 s idle timeout of
   * common load balancers, so the server is not the one that closes a
   * connection the balancer is about to reuse.
   */
  keepAliveTimeoutMs?: number;
  /**
   * HTTP/2 settings announced to clients.
   *
   * Defaults to Node's defaults with `maxConcurrentStreams` spelled out as
   * 2^32-1 (unlimited, {@link defaultMaxConcurrentStreams}), the default of
   * etcd's `--max-concurrent-streams`: one etcd client multiplexes all its
   * watches and lease keep-alives on a single connection.
   */
  http2Settings?: http2.Settings;
  /**
   * Memory (in megabytes) one HTTP/2 session may buffer before Node tears it
   * down with ENHANCE_YOUR_CALM.
   *
   * Defaults to 32. Node's default of 10 holds only a handful of etcd's
   * maximum-size requests (1.5 MiB each) in flight on one connection.
   */
  http2MaxSessionMemoryMb?: number;
  /**
   * The grace period of `close()` when none is given.
   *
   * Defaults to 5 000 ms.
   */
  closeGraceMs?: number;
  /**
   * Receives errors of sockets and HTTP/2 sessions: client resets, garbage
   * bytes, protocol errors. They never reach the process's `error` handlers;
   * this hook only exists for logging. By default they are dropped.
   */
  onConnectionError?: (error: Error) => void;
  /**
   * The TLS settings of "https" listeners: `key`, `cert`, `ca`,
   * `requestCert`, `rejectUnauthorized`, `minVersion`… (see
   * `tls.createServer()`). ALPN is always `h2` then `http/1.1`; the handshake
   * must finish within `firstBytesTimeoutMs`.
   *
   * Default none: only "http" listeners can be created.
   */
  tls?: tls.TlsOptions;
  /**
   * Runs after each TLS handshake; a reason closes the connection
   * (`--client-crl-file`, checked as etcd does: crl-check.ts). Default none.
   */
  tlsCheckPeer?: (socket: tls.TLSSocket) => string | undefined;
  /**
   * Serves connections whose first request is gRPC with the gRPC engine
   * (grpc-engine/): HTTP/2 frames of our own instead of Node's session, each
   * request handed to this handler, which returns false for a request it
   * does not take; those go to Node's HTTP/2 server over an in-process link
   * (node-fallback.ts), as if the engine were not there.
   *
   * Default none: every HTTP/2 connection goes to Node's session.
   */
  grpcHandler?: (req: GrpcCallRequest, res: GrpcCallResponse) => boolean;
}

/**
 * Serves HTTP/1.1 and cleartext HTTP/2 with prior knowledge (h2c) on the
 * same port, which neither `http.createServer()` nor `http2.createServer()`
 * can do alone: Node's `allowHTTP1` only works with TLS, where ALPN picks the
 * protocol. Listeners may also speak TLS, where ALPN picks it: `h2` is
 * HTTP/2, `http/1.1` or no ALPN is HTTP/1.1. Every listener feeds the same
 * two servers, so plaintext and TLS clients share handlers and shutdown.
 */
export interface OnePortServer {
  /**
   * The first listening socket. Return it from Fastify's `serverFactory`;
   * Fastify calls `listen()` on it.
   */
  readonly server: net.Server;
  /** Every listening socket, `server` first. */
  readonly listeners: readonly net.Server[];
  /** The HTTP/1.1 server that connections without the HTTP/2 preface go to. It never listens. */
  readonly http1: http.Server;
  /** The HTTP/2 server that connections with the preface go to. It never listens. */
  readonly http2: http2.Http2Server;
  /**
   * The TLS server that performs the handshakes of "https" connections before
   * they go to `http1` or `http2`; undefined without the `tls` option. It
   * never listens.
   */
  readonly tls: tls.Server | undefined;
  /** True once `close()` was called. */
  readonly closing: boolean;
  /**
   * Creates another listening socket that feeds the same HTTP/1.1 and HTTP/2
   * servers, for an additional listen address. The caller calls `listen()`.
   *
   * @param scheme Default "http". "https" and "http+https" need the `tls` option.
   */
  createListener(scheme?: ListenerScheme): net.Server;
  /** What a listener accepts. */
  schemeOf(listener: net.Server): ListenerScheme;
  /**
   * Changes what a listener accepts, for connections accepted from now on
   * (e.g. for `server`, created before the caller knew its URL).
   */
  setScheme(listener: net.Server, scheme: ListenerScheme): void;
  /** Open connections by kind, for metrics and tests. */
  connections(): { pending: number; http1: number; http2: number };
  /**
   * Shuts down gracefully, and resolves once every socket is closed:
   *
   * 1. All listeners stop accepting; connections that have not chosen a
   *    protocol yet (including TLS handshakes in progress) are destroyed.
   * 2. Idle HTTP/1.1 connections are closed; busy ones are closed as soon as
   *    their response ends.
   * 3. HTTP/2 sessions get a GOAWAY (`session.close()`); they close once
   *    their open streams end.
   * 4. After `graceMs`, whatever is left is destroyed.
   *
   * Calling it again returns the same promise.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Creates a server that serves HTTP/1.1 and h2c on one plaintext port with
 * one request handler.
 *
 * Each accepted socket is read until its first bytes either differ from the
 * HTTP/2 client preface (HTTP/1.1) or contain all of it (HTTP/2)
 * ({@link sniffProtocol}). The bytes are then pushed back onto the socket,
 * which is handed to the matching server ({@link createHttp1Connections},
 * {@link createHttp2Sessions}, or {@link createTlsAcceptor} first) with a
 * synthetic `connection` event. {@link createConnectionTracker} keeps every
 * socket for the graceful close.
 *
 * Starts no work of its own: the listeners accept only once the caller calls
 * `listen()`. (The HTTP/1.1 server's connection-checking interval, which Node
 * starts on "listening", runs from here until `close()`.)
 */
export function createOnePortServer(
  handler: OnePortRequestHandler,
  options: OnePortServerOptions = {},
): OnePortServer {
  const firstBytesTimeoutMs = options.firstBytesTimeoutMs ?? 10_000;
  const defaultGraceMs = options.closeGraceMs ?? 5_000;
  const reportError = options.onConnectionError ?? (() => {});
  const maxConcurrentStreams =
    options.http2Settings?.maxConcurrentStreams ?? defaultMaxConcurrentStreams;

  const tracker = createConnectionTracker(reportError);
  const isClosing = () => tracker.closing;
  const http1 = createHttp1Connections(handler, options.keepAliveTimeoutMs ?? 72_000, isClosing);
  const h2 = createHttp2Sessions(handler, {
    maxSessionMemoryMb: options.http2MaxSessionMemoryMb ?? 32,
    settings: options.http2Settings,
    isClosing,
    reportError,
  });
  const tlsServer =
    options.tls === undefined
      ? undefined
      : createTlsAcceptor(options.tls, {
          handshakeTimeoutMs: firstBytesTimeoutMs,
          isClosing,
          toHttp2: (socket, raw) => acceptHttp2(socket, raw),
          toHttp1: (socket, raw) => {
            if (raw !== undefined) tracker.pending.delete(raw);
            http1.accept(socket);
          },
          reportError,
          ...(options.tlsCheckPeer !== undefined && { checkPeer: options.tlsCheckPeer }),
        });
  const engines = new Set<GrpcEngineConnection>();
  const listeners: net.Server[] = [];
  const schemes = new Map<net.Server, ListenerScheme>();
  let closePromise: Promise<void> | undefined;

  /** Hands a connection to the TLS server, which routes it after the handshake. */
  function startTls(socket: net.Socket): void {
    if (tlsServer === undefined) {
      // createListener() refuses TLS schemes without TLS options.
      socket.destroy();
      return;
    }
    tlsServer.emit("connection", socket);
  }

  /**
   * Hands an HTTP/2 connection (h2c, or TLS with `raw` under it) to the
   * HTTP/2 server once its first request showed whether its `:authority`
   * needs repair ({@link checkFirstRequest}); until then it counts as not
   * having chosen a protocol.
   */
  function acceptHttp2(socket: net.Socket, raw: net.Socket | undefined): void {
    checkFirstRequest(
      socket,
      {
        timeoutMs: firstBytesTimeoutMs,
        maxConcurrentStreams,
        grpc: options.grpcHandler !== undefined,
      },
      (verdict) => {
        if (raw !== undefined) tracker.pending.delete(raw);
        tracker.pending.delete(socket);
        if (tracker.closing) {
          socket.destroy();
          return;
        }
        if (verdict === "grpc" && options.grpcHandler !== undefined) {
          acceptGrpc(socket, options.grpcHandler);
          return;
        }
        h2.accept(verdict === "repair" ? createAuthorityRepairStream(socket) : socket);
      },
    );
  }

  /** Serves a connection with the gRPC engine, handing what the handler declines to Node. */
  function acceptGrpc(
    socket: net.Socket,
    grpcHandler: (req: GrpcCallRequest, res: GrpcCallResponse) => boolean,
  ): void {
    const fallback = createNodeFallback((link) => h2.accept(link), socket);
    const engine = serveGrpcEngineConnection(socket, {
      maxConcurrentStreams,
      maxHeldBytes: (options.http2MaxSessionMemoryMb ?? 32) * 1024 * 1024,
      maxHeaderBlockBytes: 64 * 1024,
      reportError,
      onStream(stream) {
        let taken = false;
        try {
          taken = grpcHandler(stream.req, stream.res);
        } catch (error) {
          reportError(error as Error);
        }
        if (!taken) fallback.forward(stream);
      },
    });
    engines.add(engine);
    socket.once("close", () => {
      engines.delete(engine);
      fallback.close();
    });
    if (tracker.closing) engine.drain();
  }

  function onConnection(socket: net.Socket, scheme: ListenerScheme): void {
    tracker.track(socket);
    if (tracker.closing) {
      socket.destroy();
      return;
    }
    tracker.pending.add(socket);
    if (scheme === "https") {
      startTls(socket);
      return;
    }
    sniffProtocol(socket, scheme === "http+https", firstBytesTimeoutMs, (protocol) => {
      // The TLS socket reads the unshifted bytes first.
      if (protocol === "tls") return startTls(socket);
      if (protocol === "h2c") return acceptHttp2(socket, undefined);
      tracker.pending.delete(socket);
      http1.accept(socket);
    });
  }

  function createListener(scheme: ListenerScheme = "http"): net.Server {
    const listener = net.createServer({
      // Small gRPC frames must not wait for Nagle's algorithm; Node's HTTP
      // servers disable it too, but only on sockets they accept themselves.
      noDelay: true,
      // Detects dead peers on long-lived watch and keep-alive streams.
      keepAlive: true,
      keepAliveInitialDelay: 30_000,
    });
    setScheme(listener, scheme);
    listener.on("connection", (socket: net.Socket) =>
      onConnection(socket, schemes.get(listener) ?? "http"),
    );
    listeners.push(listener);
    return listener;
  }

  function setScheme(listener: net.Server, scheme: ListenerScheme): void {
    if (scheme !== "http" && tlsServer === undefined) {
      throw new Error(`cannot serve ${scheme}: the one-port server has no TLS options`);
    }
    schemes.set(listener, scheme);
  }

  /** The graceful close, as {@link OnePortServer.close} describes it. */
  async function closeAll(graceMs: number): Promise<void> {
    const drained = tracker.startClosing();
    const listenersClosed = Promise.all(
      listeners.map((l) => new Promise<void>((resolve) => l.close(() => resolve()))),
    );

    for (const socket of tracker.pending) socket.destroy();
    http1.drain();
    h2.drain();
    for (const engine of engines) engine.drain();

    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), Math.max(0, graceMs));
    });
    const result = await Promise.race([drained, graceOver]);
    clearTimeout(timer);
    if (result === "timeout") {
      h2.destroyAll();
      for (const socket of tracker.sockets) socket.destroy();
      await drained;
    }

    // Clears the connection-checking interval started by "listening".
    http1.server.close();
    h2.server.close();
    await listenersClosed;
  }

  const server = createListener();
  return {
    server,
    get listeners() {
      return listeners;
    },
    http1: http1.server,
    http2: h2.server,
    tls: tlsServer,
    get closing() {
      return tracker.closing;
    },
    createListener,
    schemeOf: (listener) => schemes.get(listener) ?? "http",
    setScheme,
    connections() {
      return { pending: tracker.pending.size, http1: http1.count, http2: h2.count + engines.size };
    },
    close(graceMs = defaultGraceMs) {
      closePromise ??= closeAll(graceMs);
      return closePromise;
    },
  };
}
