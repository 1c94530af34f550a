import * as http from "node:http";
import type * as net from "node:net";
import { IndexedSet } from "@conclave/core";

/** The HTTP/1.1 side of a one-port server: a server that never listens, fed sockets. */
export interface Http1Connections {
  readonly server: http.Server;
  /** Connections handed over and not closed yet. */
  readonly count: number;
  /** Hands over a socket whose (unshifted) bytes are HTTP/1.1. */
  accept(socket: net.Socket): void;
  /**
   * Closes idle connections and makes every response not yet started the
   * connection's last; the server must be closing (`isClosing`) by then.
   */
  drain(): void;
}

/**
 * @param keepAliveTimeoutMs How long an idle keep-alive connection stays open.
 * @param isClosing While true, each response is its connection's last, and a
 *   connection is closed as soon as it becomes idle.
 */
export function createHttp1Connections(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  keepAliveTimeoutMs: number,
  isClosing: () => boolean,
): Http1Connections {
  const server = http.createServer({ ServerResponse: Http1Response });
  server.keepAliveTimeout = keepAliveTimeoutMs;
  // Node only starts tracking HTTP/1.1 connections (needed for
  // closeIdleConnections(), headersTimeout and requestTimeout) when the
  // server emits "listening". This server never listens on its own.
  server.emit("listening");
  const sockets = new Set<net.Socket>();
  /** Responses not yet closed: an IndexedSet, not a Set (see there). */
  const responses = new IndexedSet<http.ServerResponse>();
  /** One listener for every response: `this` is the response. */
  function onResponseClose(this: http.ServerResponse): void {
    responses.delete(this);
    if (isClosing()) {
      // The connection became idle during shutdown: close it now rather
      // than when the keep-alive timeout fires. Node resets the socket's
      // current response after "finish"; wait a tick for that.
      setImmediate(() => server.closeIdleConnections());
    }
  }

  // No closure per request is attached to the response (see Http1Response).
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (isClosing()) {
      // Let this be the connection's last request.
      res.shouldKeepAlive = false;
    }
    responses.add(res);
    res.on("close", onResponseClose);
    handler(req, res);
  });

  return {
    server,
    get count() {
      return sockets.size;
    },
    accept(socket) {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      server.emit("connection", socket);
      // The HTTP/1.1 server adds a "data" listener, which does not restart
      // a stream paused explicitly.
      socket.resume();
    },
    drain() {
      server.closeIdleConnections();
      for (const res of responses) {
        // Answers "Connection: close" if the headers are not out yet, so the
        // client does not reuse a connection about to close.
        if (!res.headersSent) res.shouldKeepAlive = false;
      }
    },
  };
}

/**
 * A response sent before its request body was read (a message refused as
 * too large) must close the connection: the unread body would otherwise be
 * parsed as the next request and the connection would hang. A subclass
 * rather than a `writeHead` closure set on each response: one object less
 * per request, and responses keep one shape.
 */
class Http1Response extends http.ServerResponse {}

const baseWriteHead = http.ServerResponse.prototype.writeHead;
Http1Response.prototype.writeHead = function (this: http.ServerResponse, ...args: unknown[]) {
  if (!this.req.complete) this.shouldKeepAlive = false;
  return (baseWriteHead as (...a: unknown[]) => http.ServerResponse).apply(this, args);
} as typeof baseWriteHead;
