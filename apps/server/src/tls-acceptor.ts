import * as net from "node:net";
import * as tls from "node:tls";

export interface TlsAcceptorOptions {
  /** Handshake deadline in ms (0: none; Node's own default would be 120 s). */
  handshakeTimeoutMs: number;
  /** While true, a finished handshake's connection is destroyed. */
  isClosing: () => boolean;
  /**
   * Receives the connection after an `h2` handshake, with the plaintext
   * socket under it (undefined if Node did not expose it).
   */
  toHttp2: (socket: tls.TLSSocket, raw: net.Socket | undefined) => void;
  /** Receives the connection after an `http/1.1` or ALPN-less handshake, likewise. */
  toHttp1: (socket: tls.TLSSocket, raw: net.Socket | undefined) => void;
  /** Receives TLS and socket errors (only for logging). */
  reportError: (error: Error) => void;
  /**
   * Runs after each handshake; a reason closes the connection (etcd's
   * listener checks `--client-crl-file` so). Default none.
   */
  checkPeer?: (socket: tls.TLSSocket) => string | undefined;
}

/**
 * The TLS server of a one-port server: it never listens; a connection is
 * handed to it with `emit("connection", socket)` and, after the handshake,
 * goes by ALPN to HTTP/2 (`h2`) or HTTP/1.1 (`http/1.1`, or no ALPN, as Go's
 * server and etcd do). `setSecureContext` on it reloads certificates.
 */
export function createTlsAcceptor(
  tlsOptions: tls.TlsOptions,
  options: TlsAcceptorOptions,
): tls.Server {
  const server = tls.createServer({
    ...tlsOptions,
    ALPNProtocols: ["h2", "http/1.1"],
    // Node's default is 120 s; 0 would mean that default too.
    handshakeTimeout: options.handshakeTimeoutMs > 0 ? options.handshakeTimeoutMs : 2 ** 31 - 1,
  });
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    // The plaintext socket under it stays tracked (it closes with the TLS
    // socket); from here on the TLS socket is the connection.
    const parent = (socket as unknown as { _parent?: unknown })._parent;
    const raw = parent instanceof net.Socket ? parent : undefined;
    socket.on("error", options.reportError);
    if (options.isClosing()) {
      socket.destroy();
      return;
    }
    const refused = options.checkPeer?.(socket);
    if (refused !== undefined) {
      options.reportError(new Error(refused));
      socket.destroy();
      return;
    }
    if (socket.alpnProtocol === "h2") options.toHttp2(socket, raw);
    else options.toHttp1(socket, raw);
  });
  // Failed handshakes: plaintext on a TLS port, unknown ALPN protocols,
  // timeouts. With a listener, Node leaves the socket open (a timed-out
  // handshake would linger): close it.
  server.on("tlsClientError", (error: Error, socket: tls.TLSSocket) => {
    options.reportError(error);
    socket.destroy();
  });
  return server;
}
