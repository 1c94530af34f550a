import * as http2 from "node:http2";
import { encodeEnvelope } from "@connectrpc/connect/protocol";

/**
 * The servers the equivalence tests compare: the direct paths over Node's
 * HTTP/2 ("fast"), the same paths over the gRPC engine ("engine"), Connect.
 */
export const serverKinds = ["fast", "engine", "connect"] as const;
export type ServerKind = (typeof serverKinds)[number];

/** One fresh value per server kind. */
export function perKind<T>(make: () => T): Record<ServerKind, T> {
  return { fast: make(), engine: make(), connect: make() };
}

/** A gRPC envelope (flags, length, message) as a Buffer. */
export const envelope = (body: Uint8Array, flags = 0) => Buffer.from(encodeEnvelope(flags, body));

/** What a client sees of one call: status, the gRPC headers and trailers, the body. */
export interface Seen {
  status: number;
  contentType: string | undefined;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  /** The response body (every envelope), hex. */
  body: string;
  /** Every response header and trailer name, but Date's. */
  names: string[];
  /** Whether the answer was one HEADERS frame that ended the stream (gRPC's trailers-only). */
  trailersOnly: boolean;
}

export interface CallOptions {
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Reset the stream (CANCEL) this long after sending, instead of half-closing. */
  cancelAfterMs?: number;
}

/**
 * Sends `body` (whole envelopes, or any bytes) as one gRPC call over a new
 * HTTP/2 connection, half-closes, and resolves with what came back once the
 * stream closes: the tests' view of the wire, the same for Connect and for
 * the direct paths.
 */
export function grpcCall(
  url: string,
  path: string,
  body: Buffer,
  options: CallOptions = {},
): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on("error", reject);
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...options.headers,
    });
    const seen: Seen = {
      status: 0,
      contentType: undefined,
      grpcStatus: undefined,
      grpcMessage: undefined,
      body: "",
      names: [],
      trailersOnly: false,
    };
    const chunks: Buffer[] = [];
    const status = (h: http2.IncomingHttpHeaders) => {
      seen.names.push(...Object.keys(h).filter((n) => n !== "date"));
      if (h["grpc-status"] !== undefined) seen.grpcStatus = String(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) seen.grpcMessage = String(h["grpc-message"]);
    };
    stream.on("response", (h, flags) => {
      seen.trailersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      seen.status = Number(h[":status"]);
      seen.contentType = h["content-type"];
      status(h);
    });
    stream.on("trailers", status);
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("close", () => {
      seen.body = Buffer.concat(chunks).toString("hex");
      session.close();
      resolve(seen);
    });
    stream.on("error", () => {});
    if (options.cancelAfterMs !== undefined) {
      stream.write(body);
      setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), options.cancelAfterMs);
    } else {
      stream.end(body);
    }
  });
}
