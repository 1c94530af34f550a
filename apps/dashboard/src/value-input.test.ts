import assert from "node:assert/strict";
import { test } from "node:test";
import { parseLeaseId, parseValueInput } from "./value-input.js";

test("parseValueInput: text is taken as it is, JSON only when it parses", () => {
  const text = parseValueInput("{not json", "text");
  assert.ok(text.ok);
  assert.equal(new TextDecoder().decode(text.bytes), "{not json");
  const bad = parseValueInput("{not json", "json");
  assert.equal(bad.ok, false);
  assert.match(bad.ok ? "" : bad.error, /^not valid JSON/);
  const good = parseValueInput('{ "a": [1, 2] }', "json");
  assert.ok(good.ok);
  assert.equal(new TextDecoder().decode(good.bytes), '{ "a": [1, 2] }', "formatting kept");
});

test("parseLeaseId reads etcd's hex, empty is no lease, junk is undefined", () => {
  assert.equal(parseLeaseId(""), 0n);
  assert.equal(parseLeaseId("694d7d1b3fd8a104"), 0x694d7d1b3fd8a104n);
  assert.equal(parseLeaseId(" 0x1f "), 31n);
  assert.equal(parseLeaseId("xyz"), undefined);
  assert.equal(parseLeaseId("ffffffffffffffff"), undefined);
});
