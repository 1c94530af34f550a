import { type DescMessage, fromJson, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { cutDeepTxnJson, txnRequestTypeName } from "@conclave/server";
import { Code, ConnectError } from "@connectrpc/connect";
import { createJsonValueSplitter } from "./json-value-splitter.js";
import { quoteBigIntegers } from "./quote-big-integers.js";

/**
 * Reads the request messages of a gateway call from its HTTP body, one per
 * concatenated JSON value, decoded as grpc-gateway decodes them: proto or
 * lowerCamel field names, int64 as string or number, bytes as base64,
 * unknown fields ignored (etcd 3.4 ignores them too).
 */
export interface RequestReader<Desc extends DescMessage> {
  /**
   * The next message, or undefined once the body ended. Rejects with a
   * ConnectError InvalidArgument for text that is not a message (including a
   * body that ends inside a value: "unexpected EOF", Go's words), and
   * ResourceExhausted for a value over the size limit.
   */
  next(): Promise<MessageShape<Desc> | undefined>;
}

export interface RequestReaderOptions {
  /** Characters one JSON value may have before the reader gives up. */
  maxValueChars: number;
  /** How deeply a message may nest (protobuf-es `recursionLimit`). Default 100. */
  recursionLimit?: number;
}

export function createRequestReader<Desc extends DescMessage>(
  body: AsyncIterable<Uint8Array | string>,
  schema: Desc,
  options: RequestReaderOptions,
): RequestReader<Desc> {
  const chunks = body[Symbol.asyncIterator]();
  const decoder = new TextDecoder();
  const splitter = createJsonValueSplitter();
  const ready: string[] = [];
  let ended = false;

  const tooLarge = () =>
    new ConnectError(
      `request message larger than ${options.maxValueChars} characters`,
      Code.ResourceExhausted,
    );

  async function nextValue(): Promise<string | undefined> {
    while (ready.length === 0) {
      if (splitter.error !== undefined) throw invalid(splitter.error.message);
      if (ended) {
        if (splitter.pending) throw invalid("unexpected EOF");
        return undefined;
      }
      const r = await chunks.next();
      const text =
        r.done === true
          ? decoder.decode()
          : typeof r.value === "string"
            ? r.value
            : decoder.decode(r.value, { stream: true });
      if (r.done === true) ended = true;
      for (const v of splitter.push(text)) {
        if (v.length > options.maxValueChars) throw tooLarge();
        ready.push(v);
      }
      // A value that can no longer be JSON fails as such, however long (Go's
      // decoder stops there too), once the values before it are taken.
      if (splitter.error === undefined && splitter.pendingLength > options.maxValueChars) {
        throw tooLarge();
      }
    }
    return ready.shift();
  }

  return {
    async next() {
      const text = await nextValue();
      if (text === undefined) return undefined;
      let json: JsonValue;
      try {
        json = JSON.parse(quoteBigIntegers(text)) as JsonValue;
      } catch (err) {
        throw invalid(err instanceof Error ? err.message : String(err));
      }
      const decode = () =>
        fromJson(schema, json, {
          ignoreUnknownFields: true,
          ...(options.recursionLimit !== undefined && { recursionLimit: options.recursionLimit }),
        });
      try {
        try {
          return decode();
        } catch (err) {
          // A KV/Txn nested deeper than the decoder goes: cut to what
          // validation reads (deep-txn.ts), which answers as etcd does.
          if (schema.typeName !== txnRequestTypeName || !cutDeepTxnJson(json)) throw err;
          return decode();
        }
      } catch (err) {
        throw invalid(err instanceof Error ? err.message : String(err));
      }
    },
  };
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}
