// A minimal gRPC unary caller over node:http2 for latency measurements where
// the client's own work would otherwise be most of what is measured.
//
// connect-node is the right client for applications, but on this 2-core box
// its per-call machinery (AbortSignals, header objects, async iterables) and
// the garbage it leaves put milliseconds of client-side jitter into a
// sub-millisecond server-side figure such as a lock hand-over. This caller
// stamps the time in the stream's "trailers" callback, the moment the last
// frame of the answer was read, before any promise machinery runs.

import http2 from "node:http2";
import {
  create,
  type DescMethodUnary,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";

/** One HTTP/2 connection speaking gRPC (h2c). */
export interface RawGrpcConnection {
  /**
   * Calls a unary method; resolves with the answer and `at`, the
   * `performance.now()` at which its trailers arrived.
   */
  unary<M extends DescMethodUnary>(
    method: M,
    input: MessageInitShape<M["input"]>,
  ): Promise<{ output: MessageShape<M["output"]>; at: number }>;
  close(): void;
}

function callUnary<M extends DescMethodUnary>(
  session: http2.ClientHttp2Session,
  timeoutMs: number,
  method: M,
  input: MessageInitShape<M["input"]>,
): Promise<{ output: MessageShape<M["output"]>; at: number }> {
  const frame = encodeEnvelope(0, toBinary(method.input, create(method.input, input)));
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": `/${method.parent.typeName}/${method.name}`,
      "content-type": "application/grpc+proto",
      te: "trailers",
    });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    let message = "";
    let at = 0;
    const onStatus = (headers: http2.IncomingHttpHeaders) => {
      const s = headers["grpc-status"];
      if (s === undefined) return;
      at = performance.now();
      status = String(s);
      message = decodeURIComponent(String(headers["grpc-message"] ?? ""));
    };
    // A trailers-only answer (an error) carries grpc-status in the headers.
    stream.on("response", onStatus);
    stream.on("trailers", onStatus);
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", (err) => reject(ConnectError.from(err, Code.Unavailable)));
    stream.on("close", () => {
      if (status === undefined) {
        reject(new ConnectError("stream closed without grpc-status", Code.Unavailable));
        return;
      }
      if (status !== "0") {
        reject(new ConnectError(message, Number(status) as Code));
        return;
      }
      const all = Buffer.concat(chunks);
      const len = all.length >= 5 ? all.readUInt32BE(1) : -1;
      if (len < 0 || all.length !== 5 + len) {
        reject(new ConnectError("malformed gRPC answer", Code.Internal));
        return;
      }
      resolve({
        output: fromBinary(method.output, all.subarray(5)) as MessageShape<M["output"]>,
        at,
      });
    });
    if (timeoutMs > 0) {
      stream.setTimeout(timeoutMs, () => {
        reject(new ConnectError("the operation timed out", Code.DeadlineExceeded));
        stream.close(http2.constants.NGHTTP2_CANCEL);
      });
    }
    stream.end(frame);
  });
}

/** Opens one connection to `endpoint` (h2c); `timeoutMs` 0 waits forever. */
export function connectRawGrpc(endpoint: string, timeoutMs = 0): RawGrpcConnection {
  const session = http2.connect(endpoint);
  // Errors surface through the calls; an unhandled "error" would crash the bench.
  session.on("error", () => {});
  return {
    unary: (method, input) => callUnary(session, timeoutMs, method, input),
    close() {
      session.destroy();
    },
  };
}
