import type * as net from "node:net";

/**
 * The HTTP/2 client connection preface (RFC 9113, section 3.4). A client that
 * speaks HTTP/2 with prior knowledge (grpc-go, etcdctl) sends it before
 * anything else; no HTTP/1.1 request can start with it.
 */
const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** The first byte of a TLS record carrying a handshake message (a ClientHello). */
const tlsHandshakeRecord = 0x16;

/** What a plaintext connection's first bytes say it speaks. */
export type SniffedProtocol = "http1" | "h2c" | "tls";

/**
 * Reads a plaintext connection until its first bytes tell its protocol: the
 * HTTP/2 preface (h2c), a TLS handshake record (when `acceptTls`), or
 * anything else (HTTP/1.1). The bytes read are pushed back onto the paused
 * socket before `route` gets it, so the next reader sees the whole stream.
 * A socket silent for `timeoutMs` (0: no limit) is destroyed.
 */
export function sniffProtocol(
  socket: net.Socket,
  acceptTls: boolean,
  timeoutMs: number,
  route: (protocol: SniffedProtocol) => void,
): void {
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
    route(isTls ? "tls" : isHttp2 ? "h2c" : "http1");
  };
  if (timeoutMs > 0) {
    socket.setTimeout(timeoutMs, onTimeout);
  }
  socket.on("data", onData);
}
