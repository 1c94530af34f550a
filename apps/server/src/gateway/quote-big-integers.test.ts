import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { quoteBigIntegers } from "./quote-big-integers.js";

describe("quoteBigIntegers", () => {
  it("quotes integers a double cannot hold, and nothing else", () => {
    assert.equal(
      quoteBigIntegers('{"ID":7346929464921311004,"TTL":60,"x":[-9223372036854775808]}'),
      '{"ID":"7346929464921311004","TTL":60,"x":["-9223372036854775808"]}',
    );
    assert.equal(
      quoteBigIntegers(
        '{"s":"7346929464921311004\\"1234567890123456789","f":1.7346929464921311004}',
      ),
      '{"s":"7346929464921311004\\"1234567890123456789","f":1.7346929464921311004}',
    );
    assert.equal(quoteBigIntegers('{"n":9007199254740991}'), '{"n":9007199254740991}');
    assert.equal(quoteBigIntegers('{"n":9007199254740993}'), '{"n":"9007199254740993"}');
  });
});
