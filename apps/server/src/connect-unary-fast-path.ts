import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { DescMessage } from "@bufbuild/protobuf";
import {
  callContextValues,
  createCallContext,
  cutDeepTxn,
  txnRequestTypeName,
} from "@conclave/server";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type MethodSerializationLookup,
  mergeNonProtocolHeaders,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  contentTypeUnaryJson,
  contentTypeUnaryProto,
  errorToJsonBytes,
  trailerMux,
} from "@connectrpc/connect/protocol-connect";
import type { CallPipeline, UnaryMethod } from "./call-pipeline.js";
import type { CorsHeaders } from "./cors.js";
import type { DirectRequestHandler } from "./create-app.js";
import {
  createDirectCall,
  type DirectCall,
  handlerError,
  invokeUnary,
  type NodeHeaders,
} from "./direct-call.js";
import { createEdgeSerialization } from "./edge-serialization.js";
import { requestHeaders } from "./grpc-direct-wire.js";

export interface ConnectUnaryFastPathOptions {
  /** The registered methods, layers, limits and shutdown signal Connect's router has too. */
  pipeline: CallPipeline;
  /** The verified client certificate's CN of a request's connection (tls-peer-identity.ts). */
  peerCommonName: (req: http.IncomingMessage | http2.Http2ServerRequest) => string | undefined;
  /** The CORS headers Fastify's hook adds to the Connect routes' answers (registerCors). */
  cors?: CorsHeaders;
}

/** Why a call's signal aborts once it is answered: one shared object, nobody reads it. */
const callFinished = new ConnectError("the call has finished", Code.Canceled);
const clientGone = () => new ConnectError("the client closed the call", Code.Canceled);
/** The response headers Connect's unary handler starts from, per serialization. */
const protoResponseHeader: NodeHeaders = Object.freeze({ "content-type": contentTypeUnaryProto });
const jsonResponseHeader: NodeHeaders = Object.freeze({ "content-type": contentTypeUnaryJson });

/**
 * A direct path for unary calls of the Connect protocol (`POST`,
 * `application/json` or `application/proto`), HTTP/1.1 and HTTP/2, beside
 * Connect's router: browser dashboards and `curl -H content-type:
 * application/json` clients send these.
 *
 * Why: Connect serves them through Fastify's routing and hooks, a universal
 * request and response built from Node's, async iterables for a body of one
 * message and three AbortControllers per call; under a Range load that was
 * most of the CPU per call (2,800 calls/s where the gRPC direct path of the
 * same process does twice that). This reads the body, runs the same
 * implementation through the same layers with the same call context
 * (direct-call.ts, as grpc-unary-fast-path.ts does) and writes the answer
 * with Connect's own serialization, error JSON, status mapping and header
 * muxing, so what a client sees is what Connect sends.
 *
 * It takes only what it fully handles: a registered unary method, exactly
 * one of the two content types, a `Content-Length` within `readMaxBytes`,
 * no compression, no `Connect-Timeout-Ms`, a `Connect-Protocol-Version` of
 * 1 or none, an app that is not closing. Everything else (GET, streams,
 * gRPC-Web, other parameters, bodies of unknown length) stays Connect's.
 */
export function createConnectUnaryFastPath(
  options: ConnectUnaryFastPathOptions,
): DirectRequestHandler {
  const { pipeline, peerCommonName, cors } = options;
  const { limits, layers } = pipeline;
  const { options: opt, serializationOf } = createEdgeSerialization(limits);

  return (req, res) => {
    if (req.method !== "POST") return false;
    const type = req.headers["content-type"];
    const binary = type === contentTypeUnaryProto;
    if (!binary && type !== contentTypeUnaryJson) return false;
    const entry = pipeline.unaryMethod(req.url ?? "");
    if (entry === undefined) return false;
    const h = req.headers;
    if (h["content-encoding"] !== undefined || h["connect-timeout-ms"] !== undefined) return false;
    const version = h["connect-protocol-version"];
    if (version !== undefined && version !== "1") return false;
    const length = Number(h["content-length"] ?? Number.NaN);
    if (!Number.isSafeInteger(length) || length > limits.readMaxBytes) return false;
    if (pipeline.closingSignal.aborted) return false;
    serve(entry, binary, length, req, res);
    return true;
  };

  function serve(
    entry: UnaryMethod,
    binary: boolean,
    length: number,
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ): void {
    const requestHeader = requestHeaders(req);
    const call = createCallContext({
      protocol: "connect",
      service: entry.service.typeName,
      method: entry.spec.method.name,
      requestHeader,
      peerCommonName: peerCommonName(req),
      deadline: undefined,
      shutdownSignal: pipeline.shutdownSignal,
      limits,
    });
    const context = createDirectCall({
      call,
      service: entry.service,
      method: entry.spec.method,
      protocolName: "connect",
      requestHeader,
      url: `http://${req.headers.host ?? req.headers[":authority"] ?? ""}${req.url}`,
      values: callContextValues(call),
      responseHeader: binary ? protoResponseHeader : jsonResponseHeader,
    });
    let answered = false;
    const onClose = () => {
      if (!answered) context.abort(clientGone());
    };
    res.once("close", onClose);
    const serialization = serializationOf(entry);

    const chunks: Buffer[] = [];
    let received = 0;
    req.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    });
    req.on("end", () => {
      void run();
    });
    req.on("error", () => context.abort(clientGone()));

    async function run(): Promise<void> {
      let status = 200;
      let body: Uint8Array;
      try {
        // What Connect's readAllBytes says of a body shorter than promised.
        if (received !== length) {
          throw new ConnectError(
            `protocol error: promised ${length} bytes, received ${received}`,
            Code.InvalidArgument,
          );
        }
        const input = parseInput(entry, serialization, binary, Buffer.concat(chunks, received));
        const output = await invokeUnary(context, entry.spec.impl, input, layers);
        body = serialization.getO(binary).serialize(output);
      } catch (e) {
        const error = handlerError(e);
        status = codeToHttpStatus(error.code);
        context.responseHeader.set("content-type", contentTypeUnaryJson);
        if (!error.isWireError) mergeNonProtocolHeaders(context.responseHeader, error.metadata);
        body = errorToJsonBytes(error, opt.jsonOptions);
      } finally {
        answered = true;
        res.removeListener("close", onClose);
        context.abort(callFinished);
      }
      if (res.headersSent || res.writableEnded || res.destroyed) return;
      const initial = binary ? protoResponseHeader : jsonResponseHeader;
      const out = answerHeaders(context, initial, body.byteLength, cors?.(req.headers.origin));
      (res as http.ServerResponse).writeHead(status, out);
      res.end(body);
    }
  }
}

/**
 * An answer's headers as Fastify's CORS hook and then connect-node's
 * writeHead put them: the CORS headers, then Connect's response headers with
 * the trailers muxed in (`trailerMux`) and the length, in the order Fetch
 * Headers iterate them (by name). A call whose headers and trailers nobody
 * read (most calls) gets the same two without a Headers built and walked.
 */
function answerHeaders(
  context: DirectCall,
  initial: NodeHeaders,
  length: number,
  cors: Record<string, string> | undefined,
): Record<string, string> {
  const contentLength = length.toString(10);
  if (context.nodeResponseHeader() === initial && isEmpty(context.nodeResponseTrailer())) {
    // "content-length" sorts before "content-type", the one initial header.
    return {
      ...cors,
      "content-length": contentLength,
      "content-type": initial["content-type"] as string,
    };
  }
  const header = trailerMux(context.responseHeader, context.responseTrailer);
  header.set("content-length", contentLength);
  const out: Record<string, string> = { ...cors };
  header.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

function isEmpty(headers: NodeHeaders): boolean {
  for (const _ in headers) return false;
  return true;
}

/**
 * The request message, as Connect's serialization parses it; a KV/Txn that
 * nests deeper than the decoder goes is cut to what validation reads
 * (deep-txn.ts) and parsed again, as on every door.
 */
function parseInput(
  entry: UnaryMethod,
  serialization: MethodSerializationLookup<DescMessage, DescMessage>,
  binary: boolean,
  bytes: Uint8Array,
) {
  const parser = serialization.getI(binary);
  try {
    return parser.parse(bytes);
  } catch (e) {
    const cut =
      entry.spec.method.input.typeName === txnRequestTypeName
        ? cutDeepTxn(bytes, binary ? "binary" : "json")
        : undefined;
    if (cut === undefined) throw e;
    return parser.parse(cut);
  }
}
