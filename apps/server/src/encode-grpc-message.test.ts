import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeGrpcMessage } from "./encode-grpc-message.js";

describe("encodeGrpcMessage", () => {
  const cases: Array<[string, string, string]> = [
    [
      "printable ASCII stays as it is (what grpc-js's decodeURI cannot undo)",
      "etcdserver: mvcc: required revision has been compacted",
      "etcdserver: mvcc: required revision has been compacted",
    ],
    ["percent itself is escaped", "100% sure", "100%25 sure"],
    ["control characters are escaped", "a\nb\tc", "a%0Ab%09c"],
    ["non-ASCII is escaped byte by byte in UTF-8", "naïve ✓", "na%C3%AFve %E2%9C%93"],
    ["empty", "", ""],
  ];
  for (const [name, input, want] of cases) {
    it(name, () => {
      assert.equal(encodeGrpcMessage(input), want);
      // Any percent-decoder gets the message back.
      assert.equal(decodeURIComponent(encodeGrpcMessage(input)), input);
    });
  }
});
