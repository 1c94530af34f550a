import { STATUS_CODES } from "node:http";
import { Code, ConnectError } from "@connectrpc/connect";
import { stringifyGoJson } from "./go-json.js";

/**
 * The HTTP status for a gRPC code, as grpc-gateway v1 (the one etcd 3.4
 * vendors) maps it. Later grpc-gateway versions differ (FailedPrecondition
 * 400, Canceled 499); etcd 3.4.23 answers 412 for "lease already exists",
 * 429 for an oversized message and 504 for a `Grpc-Timeout` that expired.
 */
export function httpStatusFromCode(code: Code): number {
  switch (code) {
    case Code.Canceled:
      return 408;
    case Code.Unknown:
      return 500;
    case Code.InvalidArgument:
      return 400;
    case Code.DeadlineExceeded:
      return 504;
    case Code.NotFound:
      return 404;
    case Code.AlreadyExists:
      return 409;
    case Code.PermissionDenied:
      return 403;
    case Code.Unauthenticated:
      return 401;
    case Code.ResourceExhausted:
      return 429;
    case Code.FailedPrecondition:
      return 412;
    case Code.Aborted:
      return 409;
    case Code.OutOfRange:
      return 400;
    case Code.Unimplemented:
      return 501;
    case Code.Internal:
      return 500;
    case Code.Unavailable:
      return 503;
    case Code.DataLoss:
      return 500;
    default:
      return 500;
  }
}

/** A failed call as the gateway reports it: the gRPC code and the bare message. */
export interface GatewayError {
  code: Code;
  message: string;
}

/**
 * The code and message of anything a call threw. A ConnectError keeps its
 * code and raw message (etcd's text, without Connect's "[code]" prefix);
 * anything else is Unknown, as a non-status Go error is.
 */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof ConnectError) return { code: err.code, message: err.rawMessage };
  return { code: Code.Unknown, message: err instanceof Error ? err.message : String(err) };
}

/**
 * The body of a failed unary call (or of a stream that failed before it was
 * answered): `{"error":msg,"message":msg,"code":n}` in etcd 3.4's key order.
 */
export function errorBody(e: GatewayError): string {
  // Marshalled as a proto message: an empty message is left out.
  if (e.message === "") return stringifyGoJson({ code: e.code });
  return stringifyGoJson({ error: e.message, message: e.message, code: e.code });
}

/**
 * The chunk that ends a failed stream: grpc-gateway's StreamError. etcd sends
 * it without the newline that follows each result.
 */
export function streamErrorChunk(e: GatewayError): string {
  const httpCode = httpStatusFromCode(e.code);
  return stringifyGoJson({
    error: {
      grpc_code: e.code,
      http_code: httpCode,
      message: e.message,
      http_status: STATUS_CODES[httpCode] ?? "",
    },
  });
}
