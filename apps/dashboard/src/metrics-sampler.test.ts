import assert from "node:assert/strict";
import { test } from "node:test";
import { createMetricsSeries } from "./metrics-sampler.js";

const reading = (puts: number, ranges: number, commitSum: number, commits: number) => `
grpc_server_handled_total{grpc_code="OK",grpc_method="Put"} ${puts}
grpc_server_handled_total{grpc_code="OK",grpc_method="Range"} ${ranges}
etcd_disk_backend_commit_duration_seconds_sum ${commitSum}
etcd_disk_backend_commit_duration_seconds_count ${commits}
etcd_debugging_mvcc_watcher_total 3
conclave_leases 2
etcd_mvcc_db_total_size_in_bytes 4096
etcd_mvcc_db_total_size_in_use_in_bytes 2048
etcd_debugging_mvcc_compact_revision 7
etcd_server_quota_backend_bytes 2.147483648e+09
`;

test("createMetricsSeries turns counter deltas into rates and mean commit times", () => {
  const series = createMetricsSeries(2);
  const first = series.add(reading(10, 5, 0.01, 10), 1_000);
  assert.deepEqual(first.rates, {}, "no rate from one reading");
  assert.equal(first.commitMs, undefined);
  const second = series.add(reading(30, 5, 0.05, 30), 3_000);
  assert.deepEqual(second.rates, { Put: 10 }, "20 Puts in 2 s; Range did not move");
  assert.ok(Math.abs((second.commitMs ?? 0) - 2) < 1e-9, "0.04 s over 20 commits = 2 ms");
  assert.equal(second.watchers, 3);
  assert.equal(second.leases, 2);
  assert.equal(second.dbSize, 4096);
  assert.equal(second.compactRevision, 7);
  assert.equal(second.quotaBytes, 2 ** 31, "Go's %g notation parsed");
  // A restarted server's counters start over: no negative rates.
  const third = series.add(reading(1, 1, 0, 1), 4_000);
  assert.deepEqual(third.rates, {});
  assert.equal(series.points.length, 2, "keeps at most `limit` points");
});

test("a server without etcd_server_quota_backend_bytes has no known quota (not 0)", () => {
  const point = createMetricsSeries().add("etcd_mvcc_db_total_size_in_bytes 4096\n", 1_000);
  assert.equal(point.quotaBytes, undefined);
});
