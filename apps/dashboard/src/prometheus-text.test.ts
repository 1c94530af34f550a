import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePrometheus, sumOf } from "./prometheus-text.js";

const text = `# HELP grpc_server_handled_total Total number of RPCs completed on the server.
# TYPE grpc_server_handled_total counter
grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"} 3
grpc_server_handled_total{grpc_code="NotFound",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"} 1
grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 7
etcd_disk_backend_commit_duration_seconds_bucket{le="+Inf"} 4
etcd_mvcc_db_total_size_in_bytes 45056
weird{msg="a \\"quoted\\" value"} 1.5e3 1700000000
`;

test("parsePrometheus reads names, labels and values; sumOf adds matching samples", () => {
  const s = parsePrometheus(text);
  assert.equal(s.length, 6);
  assert.equal(sumOf(s, "grpc_server_handled_total", { grpc_method: "Put" }), 4);
  assert.equal(sumOf(s, "grpc_server_handled_total"), 11);
  assert.equal(sumOf(s, "etcd_mvcc_db_total_size_in_bytes"), 45056);
  assert.deepEqual(s[3]?.labels, { le: "+Inf" });
  assert.equal(s[3]?.value, 4);
  assert.deepEqual(s[5], { name: "weird", labels: { msg: 'a "quoted" value' }, value: 1500 });
  assert.equal(sumOf(s, "missing"), 0);
});
