import type * as http from "node:http";
import { constants as h2 } from "node:http2";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import {
  allocEnvelope,
  type CallProtocol,
  callContextValues,
  createCallContext,
  envelopePrefixBytes,
} from "@conclave/server";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  contentTypeProto as contentTypeGrpcProto,
  grpcStatusOk,
  parseTimeout,
  setTrailerStatus,
} from "@connectrpc/connect/protocol-grpc";
import { contentTypeProto as contentTypeGrpcWebProto } from "@connectrpc/connect/protocol-grpc-web";
import type { CallPipeline } from "./call-pipeline.js";
import {
  createDirectCall,
  type DirectCall,
  handlerError,
  type NodeHeaders,
} from "./direct-call.js";
import { useGrpcGoMessageEncoding } from "./encode-grpc-message.js";
import type { GrpcCallRequest } from "./grpc-call-objects.js";
import { RawRequestHeaders } from "./raw-request-headers.js";

/**
 * What the direct gRPC paths (grpc-unary-fast-path.ts, grpc-stream-fast-path.ts,
 * and gRPC-Web's grpc-web-unary-fast-path.ts) share of the wire: which requests they may take, the request headers as
 * handlers see them, the reasons a call's signal aborts with, and the final
 * status as Connect's gRPC handler writes it.
 */

/**
 * Whether a request is gRPC over HTTP/2 in a form the direct paths serve
 * whole: POST, `application/grpc` or `application/grpc+proto`, no request
 * compression. Everything else (gRPC-Web, Connect, JSON, gzip) is Connect's.
 */
export function isDirectGrpcRequest(req: GrpcCallRequest): boolean {
  if (req.method !== "POST") return false;
  const type = req.headers["content-type"];
  if (type !== "application/grpc" && type !== "application/grpc+proto") return false;
  const encoding = req.headers["grpc-encoding"];
  return encoding === undefined || encoding === "identity";
}

/**
 * The gRPC envelope of a message (flags byte, 32-bit big-endian length, the
 * message) — Connect's `encodeEnvelope` — as a Buffer from Node's pool
 * (`allocEnvelope`: Node writes only Buffers, and a small Uint8Array of its
 * own would cost a fresh ArrayBuffer per answer).
 */
export function encodeEnvelopeBuffer(flags: number, data: Uint8Array): Buffer {
  const out = allocEnvelope(data.byteLength, flags);
  out.set(data, envelopePrefixBytes);
  return out;
}

export const incompleteEnvelope = () =>
  new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);

/**
 * The reason `ctx.signal` aborts with once a call has been answered. One
 * shared object: an `abort()` without a reason makes a DOMException with a
 * stack trace per call, and nothing reads the reason of a finished call.
 */
export const callFinished = new ConnectError("the call has finished", Code.Canceled);

const h2ResetNames: Record<number, [string, Code]> = {
  [h2.NGHTTP2_PROTOCOL_ERROR]: ["PROTOCOL_ERROR", Code.Internal],
  [h2.NGHTTP2_INTERNAL_ERROR]: ["INTERNAL_ERROR", Code.Internal],
  [h2.NGHTTP2_FLOW_CONTROL_ERROR]: ["FLOW_CONTROL_ERROR", Code.Internal],
  [h2.NGHTTP2_SETTINGS_TIMEOUT]: ["SETTINGS_TIMEOUT", Code.Internal],
  [h2.NGHTTP2_FRAME_SIZE_ERROR]: ["FRAME_SIZE_ERROR", Code.Internal],
  [h2.NGHTTP2_COMPRESSION_ERROR]: ["COMPRESSION_ERROR", Code.Internal],
  [h2.NGHTTP2_CONNECT_ERROR]: ["CONNECT_ERROR", Code.Internal],
  [h2.NGHTTP2_REFUSED_STREAM]: ["REFUSED_STREAM", Code.Unavailable],
  [h2.NGHTTP2_CANCEL]: ["CANCEL", Code.Canceled],
  [h2.NGHTTP2_ENHANCE_YOUR_CALM]: ["ENHANCE_YOUR_CALM", Code.ResourceExhausted],
  [h2.NGHTTP2_INADEQUATE_SECURITY]: ["INADEQUATE_SECURITY", Code.PermissionDenied],
  [h2.NGHTTP2_HTTP_1_1_REQUIRED]: ["HTTP_1_1_REQUIRED", Code.PermissionDenied],
};

const closedEarlyByCode = new Map<number, ConnectError>();

/**
 * The error a handler sees when the client goes away first (as connect-node
 * words it). One object per reset code: a client that closes every stream it
 * opens (clientv3's KeepAliveOnce, a Watch per call) would otherwise build
 * an error and its stack trace per stream, and nothing but the handler's
 * signal ever reads it.
 */
export function closedEarly(rstCode: number): ConnectError {
  let error = closedEarlyByCode.get(rstCode);
  if (error !== undefined) return error;
  const known = h2ResetNames[rstCode];
  error =
    known === undefined
      ? new ConnectError("the client closed the call", Code.Canceled)
      : new ConnectError(
          `http/2 stream closed with error code ${known[0]} (0x${rstCode.toString(16)})`,
          known[1],
        );
  closedEarlyByCode.set(rstCode, error);
  return error;
}

/** Request headers as Fetch Headers, without HTTP/2 pseudo-headers, filled when first needed. */
export function requestHeaders(req: { readonly rawHeaders: readonly string[] }): Headers {
  return new RawRequestHeaders(req.rawHeaders);
}

/**
 * Puts `error`'s status on the trailers as Connect's gRPC handler does (a
 * non-Connect error as Internal "internal error"), its message encoded as at
 * Connect's edge (connect-edge-plugin.ts).
 */
export function setFinalStatus(trailer: Headers, error: unknown): void {
  if (error === undefined) return;
  setTrailerStatus(trailer, handlerError(error));
  useGrpcGoMessageEncoding(trailer);
}

/** What Connect's gRPC handler starts a response with. */
export const grpcResponseHeader: NodeHeaders = Object.freeze({
  "content-type": contentTypeGrpcProto,
});
const grpcWebResponseHeader: NodeHeaders = Object.freeze({
  "content-type": contentTypeGrpcWebProto,
});
/** What Connect's gRPC and gRPC-Web handlers start trailers with: status OK until told otherwise. */
export const grpcResponseTrailer: NodeHeaders = Object.freeze({ "grpc-status": grpcStatusOk });

/**
 * The call of a gRPC or gRPC-Web request on a direct path, as the paths
 * build it: the call context from the request (its `grpc-timeout`, token
 * and the connection's verified CN) and the handler context over it, with
 * the response headers and trailers Connect's handler of that protocol
 * starts from. A malformed `grpc-timeout` is returned, not thrown: each
 * path raises it where Connect does (the unary paths as their answer, the
 * stream path at the first read).
 *
 * @param protocol Default "grpc" (HTTP/2 only); "grpc-web" also takes HTTP/1.1.
 */
export function createGrpcDirectCall<R extends http.IncomingMessage | GrpcCallRequest>(
  req: R,
  entry: { service: DescService; spec: { method: DescMethod } },
  pipeline: CallPipeline,
  peerCommonName: (req: R) => string | undefined,
  protocol: Extract<CallProtocol, "grpc" | "grpc-web"> = "grpc",
): { context: DirectCall; timeoutError: ConnectError | undefined } {
  const timeout = parseTimeout(
    (req.headers["grpc-timeout"] as string | undefined) ?? null,
    Number.MAX_SAFE_INTEGER,
  );
  const requestHeader = requestHeaders(req);
  const call = createCallContext({
    protocol,
    service: entry.service.typeName,
    method: entry.spec.method.name,
    requestHeader,
    peerCommonName: peerCommonName(req),
    deadline: timeout.timeoutMs === undefined ? undefined : Date.now() + timeout.timeoutMs,
    shutdownSignal: pipeline.shutdownSignal,
    limits: pipeline.limits,
  });
  const url =
    "scheme" in req
      ? `${req.scheme}://${req.authority}${req.url}`
      : `http://${req.headers.host ?? ""}${req.url}`;
  const context = createDirectCall({
    call,
    service: entry.service,
    method: entry.spec.method,
    protocolName: protocol,
    requestHeader,
    url,
    values: callContextValues(call),
    responseHeader: protocol === "grpc" ? grpcResponseHeader : grpcWebResponseHeader,
    responseTrailer: grpcResponseTrailer,
  });
  return { context, timeoutError: timeout.error };
}
