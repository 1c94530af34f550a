import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Objects made per call must die young. An object literal with a getter
 * that closes over per-call state keeps that state (the getter's closure,
 * and all it reaches) alive through young-generation collections, so every
 * call's objects were promoted: every gRPC engine stream was, through
 * `res.stream` (BENCHMARKS.md, "Requests that outlived their answers").
 *
 * Nor may a table that lives as long as a connection keep them: a `Map`
 * with an insert and a delete per call did, through the old tables V8 links
 * to their successors (every engine stream was promoted; see IdMap).
 *
 * The probe runs in a child with `--expose-gc`: it makes 20,000 of a kind,
 * keeps none, runs two young-generation collections and reports how much
 * the old generation grew. The table kinds put each call's object in a
 * table made before (and so old) and take it out again, with a young
 * collection every third call. Controls, a literal with a getter and a
 * `Map` as the table, show that the probe sees the difference.
 */
const probe = `
import { getHeapSpaceStatistics } from "node:v8";
import { createAsyncQueue } from "@conclave/server";
import { IdMap } from "@conclave/core";
import { GrpcEngineStream } from ${JSON.stringify(join(here, "grpc-engine/grpc-engine-stream.ts"))};
import { createJsonValueSplitter } from ${JSON.stringify(join(here, "gateway/json-value-splitter.ts"))};
const connection = {};
/** A table that lives long: each call's object goes in and out, young collections in between. */
const churn = (table) => (i) => {
  const call = { id: 2 * i + 1, held: new Array(64).fill(i) };
  table.set(call.id, call);
  if (i % 3 === 0) globalThis.gc({ type: "minor" });
  table.delete(call.id);
  return call;
};
const old = () => getHeapSpaceStatistics().find((s) => s.space_name === "old_space").space_used_size;
const kinds = {
  "gRPC engine stream": (i) => new GrpcEngineStream(connection, 2 * i + 1, 65535, 65535, { ":path": "/x" }, [":path", "/x"]),
  "async queue": () => { const q = createAsyncQueue(); q.push(new Array(32).fill(0)); return q; },
  "JSON value splitter": () => { const s = createJsonValueSplitter(); s.push('{"key":"' + "x".repeat(200)); return s; },
  "a connection's stream table (IdMap)": churn(new IdMap()),
  "control: a literal with a getter": (i) => { const state = { i, held: new Array(64).fill(i) }; return { get i() { return state.i; } }; },
  "control: a Map as the table": churn(new Map()),
};
const out = {};
for (const [name, make] of Object.entries(kinds)) {
  globalThis.gc();
  const before = old();
  let sink;
  for (let i = 0; i < 20000; i++) sink = make(i);
  sink = undefined;
  globalThis.gc({ type: "minor" });
  globalThis.gc({ type: "minor" });
  out[name] = old() - before;
}
console.log(JSON.stringify(out));
`;

describe("objects made per call die young", () => {
  const grown = JSON.parse(
    execFileSync(
      process.execPath,
      ["--expose-gc", "--import", "tsx", "--input-type=module", "-e", probe],
      { cwd: here, encoding: "utf8" },
    ),
  ) as Record<string, number>;
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;
  for (const [name, bytes] of Object.entries(grown)) {
    if (name.startsWith("control")) continue;
    it(`${name}: the old generation grows by under 1 MB for 20,000 (${mb(bytes)})`, () => {
      assert.ok(bytes < 1_000_000, `grew ${mb(bytes)}`);
    });
  }
  it("the probe can tell: 20,000 literals with a getter grow it by over 5 MB", () => {
    const bytes = grown["control: a literal with a getter"] ?? 0;
    assert.ok(bytes > 5_000_000, `grew ${mb(bytes)}`);
  });
  it("the probe can tell: a Map as the table grows it by over 2 MB", () => {
    const bytes = grown["control: a Map as the table"] ?? 0;
    assert.ok(bytes > 2_000_000, `grew ${mb(bytes)}`);
  });
});
