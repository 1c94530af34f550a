import type * as http from "node:http";
import type * as http2 from "node:http2";

/**
 * Connect words a message over the size limit as "message size N is larger
 * than configured readMaxBytes M"; grpc-go (and so etcd) says "grpc: received
 * message larger than max (N vs. M)". Clients see the grpc-message text, so
 * rewrite it where Connect hands status headers and trailers to Node.
 */
const connectWording = /^message size (\d+) is larger than configured readMaxBytes (\d+)$/;

/**
 * Percent-encodes a status message as the gRPC spec and grpc-go do: only
 * bytes outside printable ASCII (0x20–0x7E) and "%" itself. Connect uses
 * encodeURIComponent, which also escapes ":" and spaces; grpc-go decodes
 * either, but grpc-js (the `etcd3` npm package, most Node gRPC clients) only
 * undoes what `decodeURI` does and would show "etcdserver%3A mvcc%3A …".
 */
export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(message)) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function decodeOrKeep(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function rewrite(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const message = decodeOrKeep(value);
  const m = connectWording.exec(message);
  return encodeGrpcMessage(
    m === null ? message : `grpc: received message larger than max (${m[1]} vs. ${m[2]})`,
  );
}

function rewriteHeaders(headers: unknown): void {
  if (headers === null || typeof headers !== "object") return;
  const h = headers as Record<string, unknown>;
  if ("grpc-message" in h) h["grpc-message"] = rewrite(h["grpc-message"]);
}

type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

/**
 * Patches one response so its grpc-message is encoded as grpc-go encodes it
 * and gRPC size-limit errors carry grpc-go's wording.
 */
export function useGrpcGoErrorWording(res: AnyResponse): void {
  const writeHead = res.writeHead as (...args: unknown[]) => AnyResponse;
  res.writeHead = function (this: AnyResponse, ...args: unknown[]) {
    for (const a of args) rewriteHeaders(a);
    return writeHead.apply(this, args);
  } as typeof res.writeHead;
  const addTrailers = res.addTrailers as (headers: unknown) => void;
  res.addTrailers = function (this: AnyResponse, headers: unknown) {
    rewriteHeaders(headers);
    return addTrailers.call(this, headers);
  } as typeof res.addTrailers;
}
