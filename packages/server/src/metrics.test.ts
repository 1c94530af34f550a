import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { DescMethod } from "@bufbuild/protobuf";
import { putRequest, rangeRequest } from "@conclave/core";
import { KV, Lease } from "@conclave/proto";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { Counter, Registry } from "prom-client";
import { etcdApiVersion } from "./maintenance-service.js";
import { createMetrics, etcdDiskBuckets, type Metrics } from "./metrics.js";
import { closeServerContext, openServerContext, type ServerContext } from "./server-context.js";

const enc = new TextEncoder();

/** The value of the series `name` (exactly, labels included) in a scrape. */
function value(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe("metrics", () => {
  let dir: string;
  let ctx: ServerContext;
  let metrics: Metrics;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "conclave-metrics-"));
    ctx = await openServerContext({ dataDir: dir });
    metrics = createMetrics(ctx);
  });
  after(async () => {
    await closeServerContext(ctx);
    rmSync(dir, { recursive: true, force: true });
  });

  it("exports the store's counters, live keys and disk write durations as etcd's series", async () => {
    const before = await metrics.registry.metrics();
    const wal = "etcd_disk_wal_fsync_duration_seconds";
    const backend = "etcd_disk_backend_commit_duration_seconds";
    const walBefore = value(before, `${wal}_count`) ?? 0;
    const backendBefore = value(before, `${backend}_count`) ?? 0;
    for (const k of ["a", "b", "c"]) await ctx.kv.put(putRequest(enc.encode(k), enc.encode("v")));
    await ctx.kv.deleteRange({ key: enc.encode("b"), rangeEnd: new Uint8Array(0), prevKv: false });
    await ctx.kv.range(rangeRequest(enc.encode("a")));
    // LMDB takes the writes after they are acknowledged: wait until it has them.
    await ctx.store.backend.snapshotTo(join(dir, "drained.db"));
    const text = await metrics.registry.metrics();
    assert.equal(value(text, "etcd_mvcc_put_total"), 3);
    assert.equal(value(text, "etcd_mvcc_delete_total"), 1);
    assert.equal(value(text, "etcd_mvcc_range_total"), 1);
    assert.equal(value(text, "etcd_mvcc_txn_total"), 0);
    assert.equal(value(text, "etcd_debugging_mvcc_keys_total"), 2);
    // Four awaited writes: four batches of the log; LMDB took them in one to four transactions.
    assert.equal((value(text, `${wal}_count`) ?? 0) - walBefore, 4, wal);
    const stored = (value(text, `${backend}_count`) ?? 0) - backendBefore;
    assert.ok(stored >= 1 && stored <= 4, `${backend}: ${stored}`);
    for (const h of [backend, wal]) {
      assert.match(text, new RegExp(`^${h}_bucket\\{le="0\\.001"\\} `, "m"));
      assert.match(text, new RegExp(`^${h}_bucket\\{le="8\\.192"\\} `, "m"));
    }
    assert.equal(etcdDiskBuckets.length, 14);
  });

  it("exports the versions, the leader and the process", async () => {
    const text = await metrics.registry.metrics();
    assert.equal(value(text, `etcd_server_version{server_version="${etcdApiVersion}"}`), 1);
    const [major, minor] = etcdApiVersion.split(".");
    assert.equal(value(text, `etcd_cluster_version{cluster_version="${major}.${minor}"}`), 1);
    assert.equal(value(text, "etcd_server_has_leader"), 1);
    assert.equal(value(text, "etcd_server_is_leader"), 1);
    assert.equal(value(text, "etcd_server_leader_changes_seen_total"), 1);
    // --quota-backend-bytes 0 (default): etcd's 2 GiB.
    assert.equal(value(text, "etcd_server_quota_backend_bytes"), 2 * 1024 ** 3);
    assert.ok((value(text, "process_resident_memory_bytes") ?? 0) > 1024 * 1024);
    assert.ok((value(text, "process_open_fds") ?? 0) > 0);
    assert.ok((value(text, "process_cpu_seconds_total") ?? -1) >= 0);
    const start = value(text, "process_start_time_seconds") ?? 0;
    assert.ok(start > Date.now() / 1000 - 3600 && start <= Date.now() / 1000);
  });

  it("exports the bytes the transports counted", async () => {
    metrics.traffic.receivedBytes += 7;
    metrics.traffic.sentBytes += 11;
    const text = await metrics.registry.metrics();
    assert.equal(value(text, "etcd_network_client_grpc_received_bytes_total"), 7);
    assert.equal(value(text, "etcd_network_client_grpc_sent_bytes_total"), 11);
  });

  it("prints the RPC counters as prom-client counting each call live would", async () => {
    const own = createMetrics(ctx);
    const reference = new Registry();
    const names = ["grpc_method", "grpc_service", "grpc_type"];
    const started = new Counter({
      name: "grpc_server_started_total",
      help: "Total number of RPCs started on the server.",
      labelNames: names,
      registers: [reference],
    });
    const handled = new Counter({
      name: "grpc_server_handled_total",
      help: "Total number of RPCs completed on the server, regardless of success or failure.",
      labelNames: ["grpc_code", ...names],
      registers: [reference],
    });
    const calls: { method: DescMethod; code?: Code }[] = [
      { method: KV.method.put },
      { method: KV.method.range, code: Code.NotFound },
      { method: Lease.method.leaseGrant },
      { method: KV.method.put, code: Code.InvalidArgument },
      { method: KV.method.range },
      { method: KV.method.put },
    ];
    for (const { method, code } of calls) {
      const l = {
        grpc_method: method.name,
        grpc_service: method.parent.typeName,
        grpc_type: "unary",
      };
      started.inc(l);
      handled.inc({ grpc_code: code === undefined ? "OK" : Code[code], ...l });
      const call = own.interceptor(async () => {
        if (code !== undefined) throw new ConnectError("no", code);
        return { stream: false } as never;
      });
      await call({
        stream: false,
        service: method.parent,
        method,
        contextValues: createContextValues(),
      } as never).catch(() => {});
      // A scrape between calls must not change what later scrapes print.
      if (method === Lease.method.leaseGrant) await own.registry.metrics();
    }
    for (const name of ["grpc_server_started_total", "grpc_server_handled_total"]) {
      const mine = await own.registry.getSingleMetricAsString(name);
      assert.equal(mine, await reference.getSingleMetricAsString(name));
      assert.match(mine, /grpc_method="Put"/);
    }
  });
});
