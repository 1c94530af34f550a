import {
  type DescMessage,
  type DescMethodUnary,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { CallPipeline } from "../call-pipeline.js";
import { invokeUnary } from "../direct-call.js";
import { createGatewayHop, type GatewayCallInit } from "./gateway-call.js";

/** Runs one registered unary method for the gateway: request message in, response message out. */
export type GatewayUnary = (
  input: MessageShape<DescMessage>,
  init: GatewayCallInit,
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
 * transport made): the request's binary size, which is what `readMaxBytes`
 * limits (ResourceExhausted in Connect's words, HTTP 429) and what the
 * received-bytes counter counts, and the response's, for the sent-bytes
 * counter. The handler gets the message decoded from JSON itself, as on the
 * Connect route: decoding the binary again gave an equal message (the
 * request reader already bounds its nesting) at the cost of one more decode
 * per call.
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
  const hop = createGatewayHop(pipeline, method, entry);
  const { readMaxBytes, traffic, layers } = hop;
  return async (input, init) => {
    const bytes = toBinary(method.input, input);
    if (bytes.length > readMaxBytes) {
      throw new ConnectError(
        `message size is larger than configured readMaxBytes ${readMaxBytes}`,
        Code.ResourceExhausted,
      );
    }
    traffic.receivedBytes += bytes.length;
    const context = hop.directCall(init);
    const output = await invokeUnary(context, entry.spec.impl, input, layers);
    traffic.sentBytes += toBinary(method.output, output).length;
    return output;
  };
}
