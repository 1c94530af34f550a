import type * as http from "node:http";
import type * as http2 from "node:http2";

/**
 * Connect words a message over the size limit as "message size N is larger
 * than configured readMaxBytes M"; grpc-go (and so etcd) says "grpc: received
 * message larger than max (N vs. M)". Clients see the grpc-message text, so
 * rewrite it where Connect hands status headers and trailers to Node.
 */
const connectWording = /^message size (\d+) is larger than configured readMaxBytes (\d+)$/;

function rewrite(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const m = connectWording.exec(decodeURIComponent(value));
  if (m === null) return value;
  return encodeURIComponent(`grpc: received message larger than max (${m[1]} vs. ${m[2]})`);
}

function rewriteHeaders(headers: unknown): void {
  if (headers === null || typeof headers !== "object") return;
  const h = headers as Record<string, unknown>;
  if ("grpc-message" in h) h["grpc-message"] = rewrite(h["grpc-message"]);
}

type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Patches one response so gRPC size-limit errors carry grpc-go's wording. */
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
