import assert from "node:assert/strict";
import { PassThrough, Readable } from "node:stream";
import { describe, it } from "node:test";
import { RangeRequestSchema } from "@conclave/proto";
import { ConnectError } from "@connectrpc/connect";
import { createRequestReader, readFirstMessage } from "./request-reader.js";

const options = { maxValueChars: 40 };

/** What a reader answered: the message's key, "none", or the error's code and message. */
async function outcome(read: () => Promise<{ key: Uint8Array } | undefined>): Promise<string> {
  try {
    const m = await read();
    return m === undefined ? "none" : `key ${Buffer.from(m.key).toString()}`;
  } catch (err) {
    return err instanceof ConnectError ? `${err.code} ${err.rawMessage}` : `error ${String(err)}`;
  }
}

// Bodies as they arrive, chunk by chunk.
const table: Array<{ name: string; chunks: string[]; want: string }> = [
  { name: "empty body", chunks: [], want: "none" },
  { name: "whitespace only", chunks: [" \n "], want: "none" },
  { name: "one value", chunks: ['{"key":"Zm9v"}'], want: "key foo" },
  { name: "split across chunks", chunks: ['{"ke', 'y":"Zm', '9v"}'], want: "key foo" },
  {
    name: "a second value is not read",
    chunks: ['{"key":"Zm9v"} {"key":"YmFy"}'],
    want: "key foo",
  },
  { name: "garbage after the value", chunks: ['{"key":"Zm9v"} }}}'], want: "key foo" },
  { name: "ends inside a value", chunks: ['{"key":"Zm9v"'], want: "3 unexpected EOF" },
  {
    name: "not JSON",
    chunks: ["nope"],
    want: "3 invalid character 'n' looking for beginning of value",
  },
  {
    name: "a value over the limit",
    chunks: [`{"key":"${"A".repeat(60)}"}`],
    want: "8 request message larger than 40 characters",
  },
  {
    name: "an unfinished value over the limit",
    chunks: [`{"key":"${"A".repeat(60)}`],
    want: "8 request message larger than 40 characters",
  },
  {
    name: "wrong type for a field",
    chunks: ['{"key":5}'],
    want: "3 cannot decode field etcdserverpb.RangeRequest.key from JSON: expected Uint8Array, got 5",
  },
];

describe("readFirstMessage answers as the stream reader's first next()", () => {
  for (const { name, chunks, want } of table) {
    it(name, async () => {
      const viaIterator = await outcome(() =>
        createRequestReader(Readable.from(chunks), RangeRequestSchema, options).next(),
      );
      const viaEvents = await outcome(() =>
        readFirstMessage(Readable.from(chunks), RangeRequestSchema, options),
      );
      assert.equal(viaEvents, viaIterator);
      assert.equal(viaEvents, want);
    });
  }

  it("a body that closes before it ends rejects, and no listener is left behind", async () => {
    const body = new PassThrough();
    const read = readFirstMessage(body, RangeRequestSchema, options);
    body.write('{"key":');
    body.destroy();
    assert.match(await outcome(() => read), /^error /);
    assert.equal(body.listenerCount("data"), 0);
    assert.equal(body.listenerCount("end"), 0);
  });

  it("the rest of the body flows on unread after the first value", async () => {
    const body = new PassThrough();
    const read = readFirstMessage(body, RangeRequestSchema, options);
    body.write('{"key":"Zm9v"}');
    assert.equal(await outcome(() => read), "key foo");
    assert.equal(body.listenerCount("data"), 0);
    body.end("more that nobody reads");
    await new Promise((resolve) => body.once("end", resolve));
  });
});
