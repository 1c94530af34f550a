import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { encodeEnvelopeBuffer } from "./grpc-direct-wire.js";

describe("encodeEnvelopeBuffer", () => {
  const table = [
    { flags: 0, length: 0 },
    { flags: 0, length: 1 },
    { flags: 0, length: 300 },
    { flags: 0b1000_0000, length: 12 },
    { flags: 0, length: 70_000 },
  ];
  for (const { flags, length } of table) {
    it(`writes Connect's envelope of ${length} bytes with flags ${flags}`, () => {
      const data = Uint8Array.from({ length }, (_, i) => (i * 7 + 3) & 0xff);
      const mine = encodeEnvelopeBuffer(flags, data);
      assert.ok(Buffer.isBuffer(mine));
      assert.deepEqual(new Uint8Array(mine), encodeEnvelope(flags, data));
    });
  }
});
