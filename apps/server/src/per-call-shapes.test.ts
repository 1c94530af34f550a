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
 * The probe runs in a child with `--expose-gc`: it makes 20,000 of a kind,
 * keeps none, runs two young-generation collections and reports how much
 * the old generation grew. A control, a literal with a getter, shows that
 * the probe sees the difference.
 */
const probe = `
import { getHeapSpaceStatistics } from "node:v8";
import { createAsyncQueue } from "@conclave/server";
import { GrpcEngineStream } from ${JSON.stringify(join(here, "grpc-engine/grpc-engine-stream.ts"))};
import { createJsonValueSplitter } from ${JSON.stringify(join(here, "gateway/json-value-splitter.ts"))};
const connection = {};
const old = () => getHeapSpaceStatistics().find((s) => s.space_name === "old_space").space_used_size;
const kinds = {
  "gRPC engine stream": (i) => new GrpcEngineStream(connection, 2 * i + 1, 65535, 65535, { ":path": "/x" }, [":path", "/x"]),
  "async queue": () => { const q = createAsyncQueue(); q.push(new Array(32).fill(0)); return q; },
  "JSON value splitter": () => { const s = createJsonValueSplitter(); s.push('{"key":"' + "x".repeat(200)); return s; },
  "control: a literal with a getter": (i) => { const state = { i, held: new Array(64).fill(i) }; return { get i() { return state.i; } }; },
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
});
