import {
  type DescMessage,
  type DescMethodUnary,
  fromBinary,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import type { CallContext } from "@conclave/server";
import { Code, ConnectError, type ContextValues } from "@connectrpc/connect";
import type { CallPipeline } from "../call-pipeline.js";
import { createDirectCall, invokeUnary } from "../direct-call.js";

/** What a gateway unary call hands the pipeline: the call and what its transport read. */
export interface GatewayUnaryInit {
  readonly call: CallContext;
  /** The forwarded request headers (`Authorization`, `Grpc-Metadata-*`). */
  readonly header: Headers;
  readonly contextValues: ContextValues;
}

/** Runs one registered unary method for the gateway: request message in, response message out. */
export type GatewayUnary = (
  input: MessageShape<DescMessage>,
  init: GatewayUnaryInit,
) => Promise<MessageShape<DescMessage>>;

/**
 * The gateway's unary calls, run straight through the call pipeline — the
 * same implementation and layers the direct gRPC path runs
 * (`invokeUnary`, with a lazily made signal) — instead of through an
 * in-process Connect client and router.
 *
 * Why: the router transport serialized every request and response to binary
 * and back, and built async iterables, abort signals and ConnectErrors per
 * call; under a Range load that was most of the gateway's CPU.
 *
 * What it keeps of the gRPC hop etcd's gateway makes (and the router
 * transport made): the request is encoded once in binary, which is what
 * `readMaxBytes` limits (ResourceExhausted in Connect's words, HTTP 429) and
 * what the received-bytes counter counts, and the handler gets the message
 * decoded from those bytes, exactly what a gRPC client's request would be;
 * the response's binary size goes to the sent-bytes counter.
 *
 * Returns undefined for a method the pipeline has no direct entry for (a
 * service registered with options of its own): the caller keeps the
 * in-process transport for those.
 */
export function createGatewayUnary(
  pipeline: CallPipeline,
  method: DescMethodUnary,
): GatewayUnary | undefined {
  const entry = pipeline.unaryMethod(`/${method.parent.typeName}/${method.name}`);
  if (entry === undefined) return undefined;
  const { limits, traffic, layers } = pipeline;
  const { readMaxBytes } = limits;
  const readOptions =
    limits.recursionLimit === undefined ? undefined : { recursionLimit: limits.recursionLimit };
  const url = `https://in-memory/${method.parent.typeName}/${method.name}`;
  return async (input, init) => {
    const bytes = toBinary(method.input, input);
    if (bytes.length > readMaxBytes) {
      throw new ConnectError(
        `message size is larger than configured readMaxBytes ${readMaxBytes}`,
        Code.ResourceExhausted,
      );
    }
    traffic.receivedBytes += bytes.length;
    const context = createDirectCall({
      call: init.call,
      service: entry.service,
      method: entry.spec.method,
      protocolName: "connect",
      url,
      requestHeader: init.header,
      values: init.contextValues,
    });
    const output = await invokeUnary(
      context,
      entry.spec.impl,
      fromBinary(method.input, bytes, readOptions),
      layers,
    );
    traffic.sentBytes += toBinary(method.output, output).length;
    return output;
  };
}
