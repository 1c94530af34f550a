import assert from "node:assert/strict";
import { test } from "node:test";
import { endpointOf } from "./endpoint.js";

test("endpointOf: same origin by default, ?endpoint= overrides", () => {
  const origin = "http://127.0.0.1:2379";
  const table: Array<[string, string]> = [
    ["", origin],
    ["?endpoint=", origin],
    ["?endpoint=http://10.0.0.5:2379", "http://10.0.0.5:2379"],
    ["?endpoint=https://etcd.example.com/", "https://etcd.example.com"],
    ["?endpoint=10.0.0.5:2379", "http://10.0.0.5:2379"],
    ["?endpoint=https%3A%2F%2Fh%3A1%2Fapi", "https://h:1/api"],
  ];
  for (const [search, want] of table) assert.equal(endpointOf({ origin, search }), want, search);
});

test("endpointOf: a fallback replaces the page's origin when nothing overrides it", () => {
  const location = { origin: "http://127.0.0.1:5173", search: "" };
  assert.equal(endpointOf(location, "http://127.0.0.1:2379"), "http://127.0.0.1:2379");
  assert.equal(endpointOf({ ...location, search: "?endpoint=h:1" }, "http://x:2"), "http://h:1");
});
