import {
  type DescMessage,
  type DescMethodStreaming,
  fromBinary,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { envelopePrefixBytes, rememberedEnvelope } from "@conclave/server";
import { Code, ConnectError } from "@connectrpc/connect";
import type { CallPipeline } from "../call-pipeline.js";
import { asMessage, handlerError, invokeStream } from "../direct-call.js";
import { createGatewayHop, type GatewayCallInit } from "./gateway-call.js";

/**
 * Runs one registered streaming method (Watch, LeaseKeepAlive, Observe,
 * Snapshot) for the gateway: request messages in, response messages out —
 * each already a message of the method's output, its binary size counted.
 */
export type GatewayStream = (
  requests: AsyncIterable<MessageShape<DescMessage>>,
  init: GatewayCallInit,
) => Promise<AsyncIterable<MessageShape<DescMessage>>>;

/**
 * The gateway's streaming calls, run straight through the call pipeline —
 * the implementation and layers the direct gRPC stream path runs
 * (`invokeStream`) — instead of through the in-process Connect client and
 * router.
 *
 * Why: a /v3/watch event went through Connect's client and router: encoded
 * to binary, enveloped, split, decoded again, and passed along half a dozen
 * async iterables of Connect's (compiled to generator helpers) each way. A
 * CPU profile of 100 gateway watchers under a Put load had ~40% of the
 * server's time in that machinery; the event's JSON was ~4%.
 *
 * What it keeps of the gRPC hop (as {@link createGatewayUnary}): each
 * request message is encoded once in binary, which is what `readMaxBytes`
 * limits (ResourceExhausted with Connect's words for an enveloped message)
 * and the received-bytes counter counts, and the handler gets the message
 * decoded from those bytes. Each response's binary size goes to the
 * sent-bytes counter (a watch event's shared encoding, when the service
 * remembered one, is not made again).
 *
 * Returns undefined for a method the pipeline has no direct entry for: the
 * caller keeps the in-process transport for those.
 */
export function createGatewayStream(
  pipeline: CallPipeline,
  method: DescMethodStreaming,
): GatewayStream | undefined {
  const entry = pipeline.streamMethod(`/${method.parent.typeName}/${method.name}`);
  if (entry === undefined) return undefined;
  const { readMaxBytes, readOptions, traffic, layers, directCall } = createGatewayHop(
    pipeline,
    method,
    entry,
  );
  const input = method.input;
  const output = method.output;

  async function* received(
    requests: AsyncIterable<MessageShape<DescMessage>>,
  ): AsyncGenerator<MessageShape<DescMessage>> {
    for await (const message of requests) {
      const bytes = toBinary(input, message);
      // Counted as it arrives, as the router's envelope reader counted it, even when it is refused.
      traffic.receivedBytes += bytes.length;
      if (bytes.length > readMaxBytes) {
        throw new ConnectError(
          `message size ${bytes.length} is larger than configured readMaxBytes ${readMaxBytes}`,
          Code.ResourceExhausted,
        );
      }
      yield fromBinary(input, bytes, readOptions);
    }
  }

  async function* sent(
    messages: AsyncIterable<unknown>,
    finish: () => void,
  ): AsyncGenerator<MessageShape<DescMessage>> {
    try {
      for await (const m of messages) {
        const message = asMessage(output, m);
        const envelope = rememberedEnvelope(message);
        traffic.sentBytes +=
          envelope === undefined
            ? toBinary(output, message).length
            : envelope.length - envelopePrefixBytes;
        yield message;
      }
    } catch (err) {
      throw handlerError(err);
    }
    finish();
  }

  return async (requests, init) => {
    // As Connect's client: a call whose deadline passed (or that was cancelled) does not start.
    if (init.call.aborted) throw init.call.signal.reason;
    const context = directCall(init);
    // What a handler throws is reported as Connect's router reports it.
    try {
      const out = await invokeStream(context, entry.spec, received(requests), layers);
      return sent(out.messages, out.finish);
    } catch (err) {
      throw handlerError(err);
    }
  };
}
