import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createJsonValueSplitter, maxNestingDepth } from "./json-value-splitter.js";

describe("createJsonValueSplitter", () => {
  it("splits concatenated and newline-separated values", () => {
    const s = createJsonValueSplitter();
    assert.deepEqual(s.push('{"a":1}{"b":[1,{"c":2}]}\n {"d":3}\n'), [
      '{"a":1}',
      '{"b":[1,{"c":2}]}',
      '{"d":3}',
    ]);
    assert.equal(s.pending, false);
  });

  it("ignores brackets and quotes inside strings, including escaped quotes", () => {
    const s = createJsonValueSplitter();
    const v = '{"k":"}{\\"]\\\\","x":"\\u007b"}';
    assert.deepEqual(s.push(`${v}${v}`), [v, v]);
  });

  it("joins a value split across pushes at any position", () => {
    const text = '{"create_request":{"key":"Zm9v","x":"a\\"}"}}{"cancel_request":{}}';
    for (let cut = 0; cut <= text.length; cut++) {
      const s = createJsonValueSplitter();
      const values = [...s.push(text.slice(0, cut)), ...s.push(text.slice(cut))];
      assert.deepEqual(values, [
        '{"create_request":{"key":"Zm9v","x":"a\\"}"}}',
        '{"cancel_request":{}}',
      ]);
      assert.equal(s.pending, false);
    }
  });

  it("reports a partly read value as pending", () => {
    const s = createJsonValueSplitter();
    assert.deepEqual(s.push('{"a":{"b":'), []);
    assert.equal(s.pending, true);
    assert.equal(s.pendingLength, 10);
  });

  it("keeps the values before a character that cannot start one, then stops", () => {
    const s = createJsonValueSplitter();
    assert.deepEqual(s.push('{"a":1} xx {"b":2}'), ['{"a":1}']);
    assert.match(s.error?.message ?? "", /invalid character 'x'/);
    assert.deepEqual(s.push('{"c":3}'), []);
  });

  it("refuses values nested past Go's max depth (10,000) at the bracket past it", () => {
    const deepest = `${"[".repeat(maxNestingDepth)}${"]".repeat(maxNestingDepth)}`;
    const s = createJsonValueSplitter();
    assert.deepEqual(s.push(`${deepest}{"a":1}`), [deepest, '{"a":1}']);
    assert.equal(s.error, undefined);
    for (const [open, inner, close] of [
      ["[", "[", "]"],
      ["{", '{"a":', "}"],
    ] as const) {
      const t = createJsonValueSplitter();
      const text = `{"x":${inner.repeat(maxNestingDepth)}1${close.repeat(maxNestingDepth)}}`;
      // Across pushes, as a body arrives.
      assert.deepEqual(
        [...t.push('{"a":1}'), ...t.push(text.slice(0, 5000)), ...t.push(text.slice(5000))],
        ['{"a":1}'],
      );
      assert.equal(t.error?.message, `invalid character '${open}' exceeded max depth`);
    }
  });
});
