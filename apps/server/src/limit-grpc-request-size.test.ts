import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { limitGrpcRequestSize } from "./limit-grpc-request-size.js";

/** An envelope header (flags 0) declaring `size` bytes, followed by `body` bytes. */
function envelope(size: number, body = size): Uint8Array {
  const e = new Uint8Array(5 + body);
  new DataView(e.buffer).setUint32(1, size);
  return e;
}

async function drain(
  chunks: Uint8Array[],
  max: number,
  traffic = { receivedBytes: 0, sentBytes: 0 },
): Promise<number | ConnectError> {
  async function* body() {
    yield* chunks;
  }
  let passed = 0;
  try {
    for await (const c of limitGrpcRequestSize(body(), max, traffic)) passed += c.length;
  } catch (e) {
    return e as ConnectError;
  }
  return passed;
}

describe("limitGrpcRequestSize", () => {
  it("passes envelopes within the limit, whatever the chunking", async () => {
    const all = Buffer.concat([envelope(10), envelope(0), envelope(3)]);
    for (const cut of [1, 3, 5, 7, 15, 16, all.length]) {
      const chunks = [all.subarray(0, cut), all.subarray(cut)];
      const traffic = { receivedBytes: 0, sentBytes: 0 };
      await drain(chunks, 10, traffic);
      // The messages' bytes, without the envelope headers.
      assert.equal(traffic.receivedBytes, 13);
      assert.equal(await drain(chunks, 10), all.length);
    }
  });

  it("refuses the first header over the limit in grpc-go's words, before passing it on", async () => {
    for (const chunks of [
      [envelope(11, 0)],
      [envelope(4), envelope(11, 0)],
      [envelope(4), envelope(11, 0).subarray(0, 3), envelope(11, 0).subarray(3)],
    ]) {
      const err = await drain(chunks, 10);
      assert.ok(err instanceof ConnectError);
      assert.equal(err.code, Code.ResourceExhausted);
      assert.equal(err.rawMessage, "grpc: received message larger than max (11 vs. 10)");
    }
  });
});
