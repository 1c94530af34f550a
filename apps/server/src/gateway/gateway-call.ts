import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { CallContext, ClientTraffic } from "@conclave/server";
import type { ContextValues, Interceptor } from "@connectrpc/connect";
import type { CallPipeline } from "../call-pipeline.js";
import { createDirectCall, type DirectCall } from "../direct-call.js";

/** What a gateway call hands the pipeline: the call and what its transport read. */
export interface GatewayCallInit {
  readonly call: CallContext;
  /** The forwarded request headers (`Authorization`, `Grpc-Metadata-*`). */
  readonly header: Headers;
  readonly contextValues: ContextValues;
}

/**
 * What the gateway's direct unary and streaming calls of one method share:
 * the limits and counters of the gRPC hop they stand in for, the layers, and
 * the call they hand the implementation (gateway-unary.ts, gateway-stream.ts).
 */
export interface GatewayHop {
  readonly readMaxBytes: number;
  /** protobuf-es read options (`recursionLimit`), or undefined for its defaults. */
  readonly readOptions: { recursionLimit: number } | undefined;
  readonly traffic: ClientTraffic;
  readonly layers: readonly Interceptor[];
  /** The handler context of one call, as the Connect protocol's handler would make it. */
  directCall(init: GatewayCallInit): DirectCall;
}

export function createGatewayHop(
  pipeline: CallPipeline,
  method: DescMethod,
  entry: { readonly service: DescService; readonly spec: { readonly method: DescMethod } },
): GatewayHop {
  const { limits, traffic, layers } = pipeline;
  const url = `https://in-memory/${method.parent.typeName}/${method.name}`;
  return {
    readMaxBytes: limits.readMaxBytes,
    readOptions:
      limits.recursionLimit === undefined ? undefined : { recursionLimit: limits.recursionLimit },
    traffic,
    layers,
    directCall: (init) =>
      createDirectCall({
        call: init.call,
        service: entry.service,
        method: entry.spec.method,
        protocolName: "connect",
        url,
        requestHeader: init.header,
        values: init.contextValues,
      }),
  };
}
