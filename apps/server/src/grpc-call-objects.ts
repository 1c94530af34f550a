import type { EventEmitter } from "node:events";
import type { IncomingHttpHeaders } from "node:http2";
import type { NodeHeaders } from "./direct-call.js";

/** An event listener, as Node's EventEmitter takes it. */
type Listener = Parameters<EventEmitter["on"]>[1];

/**
 * What the direct gRPC paths (grpc-unary-fast-path.ts,
 * grpc-stream-fast-path.ts, grpc-request-messages.ts) use of a request: a
 * subset of Node's `Http2ServerRequest`, which satisfies it as it is.
 *
 * Why an interface: the gRPC engine (grpc-engine/) serves etcd clients'
 * connections with HTTP/2 frames of its own and hands the same paths its own
 * request and response objects, so both transports run one set of paths, one
 * pipeline and one error table.
 */
export interface GrpcCallRequest {
  readonly method: string;
  /** The `:path`. */
  readonly url: string;
  readonly scheme: string;
  readonly authority: string;
  readonly headers: IncomingHttpHeaders;
  /** Names and values in arrival order, pseudo-headers included. */
  readonly rawHeaders: string[];
  readonly stream: {
    /** The RST_STREAM code the stream closed with, if it was reset. */
    readonly rstCode?: number | undefined;
    /** The connection; its `socket` is what tls-peer-identity.ts reads the client certificate from. */
    readonly session?: { readonly socket?: unknown } | undefined;
  };
  /** "data" (a Buffer), "end", "close". */
  on(event: string, listener: Listener): this;
  once(event: string, listener: Listener): this;
  removeListener(event: string, listener: Listener): this;
  /** Stops "data" events (and, for HTTP/2, the window updates that let the peer send). */
  pause(): this;
  resume(): this;
}

/** What the direct gRPC paths use of a response: a subset of Node's `Http2ServerResponse`. */
export interface GrpcCallResponse {
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly stream: {
    readonly destroyed: boolean;
    /** Holds writes until `uncork()`, to send a turn's messages together. */
    cork(): void;
    uncork(): void;
  };
  writeHead(status: number, headers: NodeHeaders): this;
  /** False once the stream buffers more than it should: wait for "drain". */
  write(chunk: Uint8Array): boolean;
  addTrailers(trailers: NodeHeaders): void;
  end(): this;
  once(event: "drain", listener: () => void): this;
  removeListener(event: "drain", listener: () => void): this;
}
