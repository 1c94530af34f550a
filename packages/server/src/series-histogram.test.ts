import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Histogram, Registry } from "prom-client";
import { createSeriesHistogram } from "./series-histogram.js";

const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const put = { grpc_method: "Put", grpc_service: "etcdserverpb.KV", grpc_type: "unary" };
const range = { grpc_method: "Range", grpc_service: "etcdserverpb.KV", grpc_type: "unary" };
const watch = {
  grpc_method: "Watch",
  grpc_service: "etcdserverpb.Watch",
  grpc_type: "bidi_stream",
};

describe("createSeriesHistogram", () => {
  const table: { name: string; made: (typeof put)[]; observations: [typeof put, number][] }[] = [
    { name: "no observation", made: [put], observations: [] },
    {
      name: "values on, between, below and above the bounds",
      made: [put],
      observations: [
        [put, 0],
        [put, 0.0005],
        [put, 0.00051],
        [put, 0.3],
        [put, 10],
        [put, 11],
        [put, 1234.5],
      ],
    },
    {
      name: "series in the order of their first observation, not of their making",
      made: [range, put, watch],
      observations: [
        [put, 0.002],
        [watch, 3],
        [put, 0.02],
        [range, 0.0001],
        [watch, 0.7],
      ],
    },
  ];
  for (const t of table) {
    it(`prints as prom-client's Histogram: ${t.name}`, async () => {
      const mine = new Registry();
      const theirs = new Registry();
      const name = "grpc_server_handling_seconds";
      const help = "Histogram of response latency.";
      const own = createSeriesHistogram({ name, help, buckets, registry: mine });
      const reference = new Histogram({
        name,
        help,
        buckets,
        labelNames: ["grpc_method", "grpc_service", "grpc_type"],
        registers: [theirs],
      });
      const series = new Map(t.made.map((l) => [l, own.series(l)]));
      for (const [labels, value] of t.observations) {
        series.get(labels)?.observe(value);
        reference.observe(labels, value);
      }
      const text = await mine.getSingleMetricAsString(name);
      assert.equal(text, await theirs.getSingleMetricAsString(name));
      assert.deepEqual(await mine.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
      assert.equal(
        text.split("\n").length,
        2 + new Set(t.observations.map(([l]) => l)).size * (buckets.length + 3),
      );
    });
  }
});
