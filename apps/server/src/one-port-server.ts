import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";

/**
 * The HTTP/2 client connection preface (RFC 9113, section 3.4). A client that
 * speaks HTTP/2 with prior knowledge (grpc-go, etcdctl) sends it before
 * anything else; no HTTP/1.1 request can start with it.
 */
const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** The first byte of a TLS record carrying a handshake message (a ClientHello). */
const tlsHandshakeRecord = 0x16;

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
   * 2^32-1 (unlimited), the default of etcd's `--max-concurrent-streams`: one
   * etcd client multiplexes all its watches and lease keep-alives on a single
   * connection.
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
 * HTTP/2 client preface (HTTP/1.1) or contain all of it (HTTP/2). The bytes
 * are then pushed back onto the socket, which is handed to the matching
 * server with a synthetic `connection` event.
 */
export function createOnePortServer(
  handler: OnePortRequestHandler,
  options: OnePortServerOptions = {},
): OnePortServer {
  const firstBytesTimeoutMs = options.firstBytesTimeoutMs ?? 10_000;
  const defaultGraceMs = options.closeGraceMs ?? 5_000;
  const reportError = options.onConnectionError ?? (() => {});

  const http1 = http.createServer();
  http1.keepAliveTimeout = options.keepAliveTimeoutMs ?? 72_000;
  // Node only starts tracking HTTP/1.1 connections (needed for
  // closeIdleConnections(), headersTimeout and requestTimeout) when the
  // server emits "listening". This server never listens on its own.
  http1.emit("listening");

  const tlsServer = options.tls === undefined ? undefined : createTlsServer(options.tls);

  const h2 = http2.createServer({
    maxSessionMemory: options.http2MaxSessionMemoryMb ?? 32,
    settings: { maxConcurrentStreams: 2 ** 32 - 1, ...options.http2Settings },
  });

  /** Every accepted socket, until it closes. */
  const sockets = new Set<net.Socket>();
  /** Sockets that have not chosen a protocol yet. */
  const pending = new Set<net.Socket>();
  const http1Sockets = new Set<net.Socket>();
  /** HTTP/1.1 responses not yet closed. */
  const http1Responses = new Set<http.ServerResponse>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const listeners: net.Server[] = [];
  const schemes = new Map<net.Server, ListenerScheme>();

  let closing = false;
  let closePromise: Promise<void> | undefined;
  let onDrained: (() => void) | undefined;

  http1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (closing) {
      // Let this be the connection's last request.
      res.shouldKeepAlive = false;
    }
    http1Responses.add(res);
    res.once("close", () => {
      http1Responses.delete(res);
      if (closing) {
        // The connection became idle during shutdown: close it now rather
        // than when the keep-alive timeout fires. Node resets the socket's
        // current response after "finish"; wait a tick for that.
        setImmediate(() => http1.closeIdleConnections());
      }
    });
    // A response sent before its request body was read (a message refused as
    // too large) must close the connection: the unread body would otherwise
    // be parsed as the next request and the connection would hang.
    const writeHead = res.writeHead;
    res.writeHead = function (this: http.ServerResponse, ...args: unknown[]) {
      if (!req.complete) this.shouldKeepAlive = false;
      return (writeHead as (...a: unknown[]) => http.ServerResponse).apply(this, args);
    } as typeof res.writeHead;
    handler(req, res);
  });
  h2.on("request", (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    // A response sent before the request body was read (a message refused as
    // too large) leaves the peer blocked sending a body nobody reads: once the
    // trailers had time to go out, end the stream with RST_STREAM(NO_ERROR)
    // (RFC 9113 §8.1) so it neither lingers nor holds up a graceful shutdown.
    res.once("finish", () => {
      if (req.stream.destroyed || req.stream.state.remoteClose !== 0) return;
      setTimeout(() => {
        const st = req.stream;
        if (!st.destroyed && st.state.remoteClose === 0) st.close(http2.constants.NGHTTP2_NO_ERROR);
      }, 100).unref();
    });
    handler(req, res);
  });
  /** Streams of each session, to tell whether a closing session still has work. */
  const sessionStreams = new Map<http2.ServerHttp2Session, Set<http2.ServerHttp2Stream>>();
  /** Destroys a closing session once none of its streams is still live. */
  const destroyIfIdle = (session: http2.ServerHttp2Session) => {
    const streams = sessionStreams.get(session);
    for (const st of streams ?? []) {
      if (st.destroyed) continue;
      // Our side is done (response sent) and only the peer's refused body is
      // left: reset it rather than wait.
      if (st.state.localClose === 1) st.close(http2.constants.NGHTTP2_NO_ERROR);
      else return;
    }
    // Give GOAWAY and the last trailers a turn to be written.
    setImmediate(() => session.destroy());
  };
  const closeSession = (session: http2.ServerHttp2Session) => {
    session.close();
    // close() also waits for streams we already destroyed but whose peer is
    // still sending a body we refused (e.g. over readMaxBytes); nothing of
    // ours is left on those, so do not wait for the peer.
    destroyIfIdle(session);
  };
  h2.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    const streams = new Set<http2.ServerHttp2Stream>();
    sessionStreams.set(session, streams);
    session.on("stream", (stream: http2.ServerHttp2Stream) => {
      streams.add(stream);
      stream.once("close", () => {
        streams.delete(stream);
        if (closing) destroyIfIdle(session);
      });
    });
    session.once("close", () => {
      sessions.delete(session);
      sessionStreams.delete(session);
    });
    if (closing) closeSession(session);
  });
  // Errors on sessions are re-emitted here; without a listener they are
  // dropped, with one they are only reported.
  h2.on("sessionError", (error: Error) => reportError(error));

  function track(socket: net.Socket): void {
    sockets.add(socket);
    // Stays attached after the hand-off, so that no socket error can become
    // an uncaught exception, whatever the protocol servers do.
    socket.on("error", reportError);
    socket.once("close", () => {
      sockets.delete(socket);
      pending.delete(socket);
      http1Sockets.delete(socket);
      if (closing && sockets.size === 0) onDrained?.();
    });
  }

  function onConnection(socket: net.Socket, scheme: ListenerScheme): void {
    track(socket);
    if (closing) {
      socket.destroy();
      return;
    }
    pending.add(socket);
    if (scheme === "https") startTls(socket);
    else detectProtocol(socket, scheme === "http+https");
  }

  function toHttp1(socket: net.Socket): void {
    http1Sockets.add(socket);
    http1.emit("connection", socket);
    // The HTTP/1.1 server adds a "data" listener, which does not restart
    // a stream paused explicitly.
    socket.resume();
  }

  /**
   * Reads a plaintext connection until its first bytes tell its protocol:
   * the HTTP/2 preface (h2c), a TLS handshake record (when `acceptTls`), or
   * anything else (HTTP/1.1).
   */
  function detectProtocol(socket: net.Socket, acceptTls: boolean): void {
    let head: Buffer = Buffer.alloc(0);
    const onTimeout = () => socket.destroy();
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const isTls = acceptTls && head[0] === tlsHandshakeRecord;
      const n = Math.min(head.length, http2Preface.length);
      const isHttp2 = !isTls && head.compare(http2Preface, 0, n, 0, n) === 0;
      if (isHttp2 && head.length < http2Preface.length) {
        return; // Still a prefix of the preface: wait for more.
      }
      socket.removeListener("data", onData);
      socket.removeListener("timeout", onTimeout);
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(head);
      if (isTls) {
        // The TLS socket reads the unshifted bytes first.
        startTls(socket);
        return;
      }
      pending.delete(socket);
      if (isHttp2) {
        // The session reads the unshifted bytes itself and then consumes the
        // socket's handle directly; resuming the stream here would steal
        // frames from it.
        h2.emit("connection", socket);
      } else {
        toHttp1(socket);
      }
    };
    if (firstBytesTimeoutMs > 0) {
      socket.setTimeout(firstBytesTimeoutMs, onTimeout);
    }
    socket.on("data", onData);
  }

  /** Hands a connection to the TLS server, which emits "secureConnection" after the handshake. */
  function startTls(socket: net.Socket): void {
    if (tlsServer === undefined) {
      // createListener() refuses TLS schemes without TLS options.
      socket.destroy();
      return;
    }
    tlsServer.emit("connection", socket);
  }

  tlsServer?.on("secureConnection", (socket: tls.TLSSocket) => {
    // The plaintext socket under it stays tracked in `sockets` (it closes
    // with the TLS socket); from here on the TLS socket is the connection.
    const raw = (socket as unknown as { _parent?: unknown })._parent;
    if (raw instanceof net.Socket) pending.delete(raw);
    socket.on("error", reportError);
    if (closing) {
      socket.destroy();
      return;
    }
    socket.once("close", () => http1Sockets.delete(socket));
    if (socket.alpnProtocol === "h2") {
      h2.emit("connection", socket);
    } else {
      // "http/1.1", or a client that offered no ALPN: like Go's server
      // (and etcd), HTTP/1.1.
      toHttp1(socket);
    }
  });
  // Failed handshakes: plaintext on a TLS port, unknown ALPN protocols,
  // timeouts. With a listener, Node leaves the socket open (a timed-out
  // handshake would linger): close it.
  tlsServer?.on("tlsClientError", (error: Error, socket: tls.TLSSocket) => {
    reportError(error);
    socket.destroy();
  });

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

  function createTlsServer(tlsOptions: tls.TlsOptions): tls.Server {
    return tls.createServer({
      ...tlsOptions,
      ALPNProtocols: ["h2", "http/1.1"],
      // Node's default is 120 s; 0 would mean that default too.
      handshakeTimeout: firstBytesTimeoutMs > 0 ? firstBytesTimeoutMs : 2 ** 31 - 1,
    });
  }

  const server = createListener();

  async function closeAll(graceMs: number): Promise<void> {
    closing = true;
    const drained = new Promise<void>((resolve) => {
      onDrained = resolve;
      if (sockets.size === 0) resolve();
    });
    const listenersClosed = Promise.all(
      listeners.map((l) => new Promise<void>((resolve) => l.close(() => resolve()))),
    );

    for (const socket of pending) socket.destroy();
    http1.closeIdleConnections();
    for (const res of http1Responses) {
      // Answers "Connection: close" if the headers are not out yet, so the
      // client does not reuse a connection about to close.
      if (!res.headersSent) res.shouldKeepAlive = false;
    }
    for (const session of sessions) closeSession(session);

    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), Math.max(0, graceMs));
    });
    const result = await Promise.race([drained, graceOver]);
    clearTimeout(timer);
    if (result === "timeout") {
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
      await drained;
    }

    // Clears the connection-checking interval started by "listening".
    http1.close();
    h2.close();
    await listenersClosed;
  }

  return {
    server,
    get listeners() {
      return listeners;
    },
    http1,
    http2: h2,
    tls: tlsServer,
    get closing() {
      return closing;
    },
    createListener,
    schemeOf: (listener) => schemes.get(listener) ?? "http",
    setScheme,
    connections() {
      return { pending: pending.size, http1: http1Sockets.size, http2: sessions.size };
    },
    close(graceMs = defaultGraceMs) {
      closePromise ??= closeAll(graceMs);
      return closePromise;
    },
  };
}
