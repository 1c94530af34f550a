import * as http2 from "node:http2";
import type * as net from "node:net";
import type { Duplex } from "node:stream";

/**
 * Streams one HTTP/2 connection may have open at once, unless configured:
 * 2^32-1, unlimited, the default of etcd's `--max-concurrent-streams` (one
 * etcd client multiplexes all its watches and keep-alives on one
 * connection).
 */
export const defaultMaxConcurrentStreams = 2 ** 32 - 1;

/** The HTTP/2 side of a one-port server: a server that never listens, fed sockets. */
export interface Http2Sessions {
  readonly server: http2.Http2Server;
  /** Open sessions. */
  readonly count: number;
  /**
   * Hands over a socket whose (unshifted) bytes are HTTP/2, or a stream over
   * one (which Node reads through JavaScript).
   */
  accept(socket: net.Socket | Duplex): void;
  /** Sends every session a GOAWAY; each is destroyed once its streams end. */
  drain(): void;
  /** Destroys every session (the grace period is over). */
  destroyAll(): void;
}

export interface Http2SessionsOptions {
  /** Memory (MB) one session may buffer before Node tears it down with ENHANCE_YOUR_CALM. */
  maxSessionMemoryMb: number;
  /** Settings announced to clients (`maxConcurrentStreams` defaults to {@link defaultMaxConcurrentStreams}). */
  settings: http2.Settings | undefined;
  /** While true, a new session is closed at once and a session is destroyed when idle. */
  isClosing: () => boolean;
  /** Receives session errors (only for logging). */
  reportError: (error: Error) => void;
}

export function createHttp2Sessions(
  handler: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
  options: Http2SessionsOptions,
): Http2Sessions {
  const { isClosing } = options;
  const server = http2.createServer({
    maxSessionMemory: options.maxSessionMemoryMb,
    settings: { maxConcurrentStreams: defaultMaxConcurrentStreams, ...options.settings },
  });
  /** Streams of each open session, to tell whether a closing session still has work. */
  const sessions = new Map<http2.ServerHttp2Session, Set<http2.ServerHttp2Stream>>();

  server.on("request", (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
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

  /** Destroys a closing session once none of its streams is still live. */
  const destroyIfIdle = (session: http2.ServerHttp2Session) => {
    for (const st of sessions.get(session) ?? []) {
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

  server.on("session", (session: http2.ServerHttp2Session) => {
    const streams = new Set<http2.ServerHttp2Stream>();
    sessions.set(session, streams);
    session.on("stream", (stream: http2.ServerHttp2Stream) => {
      streams.add(stream);
      stream.once("close", () => {
        streams.delete(stream);
        if (isClosing()) destroyIfIdle(session);
      });
    });
    session.once("close", () => sessions.delete(session));
    if (isClosing()) closeSession(session);
  });
  // Errors on sessions are re-emitted here; without a listener they are
  // dropped, with one they are only reported.
  server.on("sessionError", (error: Error) => options.reportError(error));

  return {
    server,
    get count() {
      return sessions.size;
    },
    accept(socket) {
      // The session reads the unshifted bytes itself and then consumes the
      // socket's handle directly; resuming the stream here would steal
      // frames from it.
      server.emit("connection", socket);
    },
    drain() {
      for (const session of sessions.keys()) closeSession(session);
    },
    destroyAll() {
      for (const session of sessions.keys()) session.destroy();
    },
  };
}
