import type { Readable } from "node:stream";
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
  const values = createValueQueue(options.maxValueChars);
  let ended = false;

  async function nextValue(): Promise<string | undefined> {
    for (;;) {
      const value = values.take(ended);
      if (value !== waiting) return value;
      const r = await chunks.next();
      if (r.done === true) ended = true;
      values.push(r.done === true ? undefined : r.value);
    }
  }

  return {
    async next() {
      const text = await nextValue();
      return text === undefined ? undefined : decodeValue(schema, text, options);
    },
  };
}

/**
 * The first message of a unary call's body, or undefined for a body without
 * one — what `createRequestReader(body).next()` answers, read with the
 * body's events instead of its async iterator. Why: the iterator costs a
 * promise, an end-of-stream watcher and their listeners per call, a few
 * percent of a gateway Put; a unary call needs one value and no
 * back-pressure. What follows the first value is not read (Go's decoder
 * leaves it too): the body then flows on unread, so the request completes
 * and its connection stays open.
 */
export function readFirstMessage<Desc extends DescMessage>(
  body: Readable,
  schema: Desc,
  options: RequestReaderOptions,
): Promise<MessageShape<Desc> | undefined> {
  const values = createValueQueue(options.maxValueChars);
  return new Promise<string | undefined>((resolve, reject) => {
    /** Takes a chunk (undefined: the end); settles once the first value, the end or an error is known. */
    const feed = (chunk: Uint8Array | string | undefined) => {
      let value: string | undefined | typeof waiting;
      try {
        values.push(chunk);
        value = values.take(chunk === undefined);
      } catch (err) {
        stop();
        reject(err);
        return;
      }
      if (value === waiting) return;
      stop();
      resolve(value);
    };
    const onData = (chunk: Uint8Array | string) => feed(chunk);
    const onEnd = () => feed(undefined);
    const onError = (err: Error) => {
      stop();
      reject(err);
    };
    const onClose = () => {
      stop();
      reject(new Error("the request body closed before it ended"));
    };
    function stop() {
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onError);
      body.off("close", onClose);
    }
    body.on("data", onData);
    body.on("end", onEnd);
    body.on("error", onError);
    body.on("close", onClose);
  }).then((text) => (text === undefined ? undefined : decodeValue(schema, text, options)));
}

/** What {@link ValueQueue.take} answers while the next value has not arrived. */
const waiting = Symbol("waiting");

/** The body's text cut into JSON values, with the size and syntax checks both readers make. */
interface ValueQueue {
  /** Adds a chunk of the body; undefined: the body ended. Throws ResourceExhausted for a value over the limit. */
  push(chunk: Uint8Array | string | undefined): void;
  /**
   * The next value; undefined when the body (`ended`) has none left;
   * `waiting` until more arrives. Throws InvalidArgument for text that
   * is not JSON, or a body that ends inside a value ("unexpected EOF").
   */
  take(ended: boolean): string | undefined | typeof waiting;
}

function createValueQueue(maxValueChars: number): ValueQueue {
  const decoder = new TextDecoder();
  const splitter = createJsonValueSplitter();
  const ready: string[] = [];
  const tooLarge = () =>
    new ConnectError(
      `request message larger than ${maxValueChars} characters`,
      Code.ResourceExhausted,
    );
  return {
    push(chunk) {
      const text =
        chunk === undefined
          ? decoder.decode()
          : typeof chunk === "string"
            ? chunk
            : decoder.decode(chunk, { stream: true });
      for (const v of splitter.push(text)) {
        if (v.length > maxValueChars) throw tooLarge();
        ready.push(v);
      }
      // A value that can no longer be JSON fails as such, however long (Go's
      // decoder stops there too), once the values before it are taken.
      if (splitter.error === undefined && splitter.pendingLength > maxValueChars) {
        throw tooLarge();
      }
    },
    take(ended) {
      if (ready.length > 0) return ready.shift();
      if (splitter.error !== undefined) throw invalid(splitter.error.message);
      if (!ended) return waiting;
      if (splitter.pending) throw invalid("unexpected EOF");
      return undefined;
    },
  };
}

/** One JSON value decoded as grpc-gateway decodes a message (see RequestReader). */
function decodeValue<Desc extends DescMessage>(
  schema: Desc,
  text: string,
  options: RequestReaderOptions,
): MessageShape<Desc> {
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
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}
