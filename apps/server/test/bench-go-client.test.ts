// The bench's reading of the Go load generator's JSON line (bench/go-client.ts):
// a wrong parse would silently put wrong numbers into BENCHMARKS.md.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseGoOutput } from "../bench/go-client.js";

const line = JSON.stringify({
  type: "result",
  workload: "lock",
  params: "8 contenders / 3 acquisitions",
  ops: 3,
  errors: 1,
  errorKinds: { "acquire: context deadline exceeded": 1 },
  elapsedMs: 40,
  clientCpuMs: 2.5,
  measures: [
    {
      name: "hand-over (release sent -> next acquired)",
      unit: "acq",
      rate: 50,
      count: 2,
      p50: 1,
      samples: [3.5, 1.25],
    },
    { name: "empty", unit: "acq", rate: -1, count: 0 },
  ],
  notes: ["2 hand-overs"],
});

test("the last JSON line of gobench's stdout becomes a RunResult with sorted samples", () => {
  const out = `lock  hand-over ...  50 acq/s\n{"not":"this one"}\n${line}\n`;
  const r = parseGoOutput(out);
  assert.equal(r.workload, "lock");
  assert.equal(r.ops, 3);
  assert.equal(r.errors, 1);
  assert.deepEqual([...r.errorKinds], [["acquire: context deadline exceeded", 1]]);
  assert.equal(r.clientCpuMs, 2.5);
  assert.equal(r.serverCpuMs, undefined, "no -server-pids: the caller measures the server");
  assert.deepEqual(r.notes, ["2 hand-overs"]);
  assert.equal(r.measures.length, 2);
  assert.deepEqual([...(r.measures[0]?.latenciesMs ?? [])], [1.25, 3.5]);
  assert.equal(r.measures[0]?.rate, 50);
  // -1 is how the Go side spells "no rate" (JSON has no NaN).
  assert.ok(Number.isNaN(r.measures[1]?.rate));
  assert.equal(r.measures[1]?.latenciesMs.length, 0);
});

test("output without a result line, or a result without samples, is refused", () => {
  assert.throws(() => parseGoOutput("put  Put round trip  100 ops/s\n"), /no JSON result line/);
  const noSamples = line.replace(/,"samples":\[[^\]]*\]/, "");
  assert.throws(() => parseGoOutput(noSamples), /has no samples/);
  assert.throws(() => parseGoOutput('{"type":"result"}'), /wrong shape/);
});

test("the servers' CPU of the timed phase (-server-pids) is passed on", () => {
  const r = parseGoOutput(
    line.replace('"clientCpuMs":2.5', '"clientCpuMs":2.5,"serverCpuMs":812.5'),
  );
  assert.equal(r.serverCpuMs, 812.5);
});
