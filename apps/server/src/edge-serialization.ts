import type { DescMessage } from "@bufbuild/protobuf";
import {
  createMethodSerializationLookup,
  type MethodSerializationLookup,
  validateUniversalHandlerOptions,
} from "@connectrpc/connect/protocol";
import type { CallPipeline, UnaryMethod } from "./call-pipeline.js";

/** The router's validated options and each unary method's (de)serializer. */
export interface EdgeSerialization {
  /** What Connect's router is given (connect-edge-plugin.ts), validated as it validates them. */
  options: ReturnType<typeof validateUniversalHandlerOptions>;
  /** The method's serializer, built once per method with `options`. */
  serializationOf(entry: UnaryMethod): MethodSerializationLookup<DescMessage, DescMessage>;
}

/**
 * For the direct paths beside Connect's router (Connect and gRPC-Web unary):
 * they must parse, size-check and refuse exactly as the router does, so they
 * build Connect's handler options from the pipeline's limits the way the
 * router's plugin does (no compression) and keep one serializer per method.
 */
export function createEdgeSerialization(limits: CallPipeline["limits"]): EdgeSerialization {
  const { recursionLimit } = limits;
  const options = validateUniversalHandlerOptions({
    readMaxBytes: limits.readMaxBytes,
    acceptCompression: [],
    ...(recursionLimit !== undefined && {
      binaryOptions: { recursionLimit },
      jsonOptions: { recursionLimit },
    }),
  });
  const lookups = new Map<UnaryMethod, MethodSerializationLookup<DescMessage, DescMessage>>();
  return {
    options,
    serializationOf(entry) {
      let s = lookups.get(entry);
      if (s === undefined) {
        s = createMethodSerializationLookup(
          entry.spec.method,
          options.binaryOptions,
          options.jsonOptions,
          options,
        );
        lookups.set(entry, s);
      }
      return s;
    },
  };
}
