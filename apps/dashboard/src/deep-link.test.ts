import assert from "node:assert/strict";
import { test } from "node:test";
import { formatDeepLink, parseDeepLink } from "./deep-link.js";

test("deep links round-trip keys with slashes, spaces and &", () => {
  for (const link of [
    { key: "app/config" },
    { key: "a b&c=d/é" },
    { election: "jobs" },
    { revision: 42n },
    { key: "k", revision: 7n },
  ]) {
    assert.deepEqual(parseDeepLink(formatDeepLink(link)), link);
  }
  assert.equal(formatDeepLink({}), "");
});

test("parseDeepLink ignores revisions that are not positive whole numbers", () => {
  assert.deepEqual(parseDeepLink("#rev=0"), {});
  assert.deepEqual(parseDeepLink("#rev=abc"), {});
  assert.deepEqual(parseDeepLink(""), {});
});
