import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type RunningServer, requireTool, startConclave } from "@conclave/testkit";
import { etcdctl } from "./etcdctl.js";

let server: RunningServer;
before(async () => {
  // Info level: the defrag test reads the server's log lines.
  server = await startConclave({ args: ["--log-level", "info"] });
  for (let i = 0; i < 20; i++) etcdctl(server.endpoint, ["put", `ops/${i}`, `v${i}`]);
});
after(async () => {
  await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
});

describe("operations: etcdctl maintenance commands", () => {
  it("snapshot save writes data plus a SHA-256 trailer that etcdctl verified", () => {
    const file = join(tmpdir(), `conclave-snap-${process.pid}.db`);
    try {
      const r = etcdctl(server.endpoint, ["snapshot", "save", file]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Snapshot saved at/);
      const file512 = readFileSync(file);
      // The saved file is the database image followed by its SHA-256, which
      // etcdctl checked against the stream and `snapshot restore` checks again.
      assert.equal(file512.length % 512, 32);
      const data = file512.subarray(0, file512.length - 32);
      const trailer = file512.subarray(file512.length - 32);
      assert.ok(data.length > 0);
      assert.deepEqual(createHash("sha256").update(data).digest(), Buffer.from(trailer));
    } finally {
      rmSync(file, { force: true });
    }
  });

  it("endpoint hashkv is stable for the same history and changes with it", () => {
    const h1 = JSON.parse(etcdctl(server.endpoint, ["endpoint", "hashkv", "-w", "json"]).stdout);
    const h2 = JSON.parse(etcdctl(server.endpoint, ["endpoint", "hashkv", "-w", "json"]).stdout);
    assert.equal(h1[0].HashKV.hash, h2[0].HashKV.hash);
    assert.equal(h1[0].HashKV.compact_revision, -1);
    etcdctl(server.endpoint, ["put", "ops/new", "x"]);
    const h3 = JSON.parse(etcdctl(server.endpoint, ["endpoint", "hashkv", "-w", "json"]).stdout);
    assert.notEqual(h3[0].HashKV.hash, h1[0].HashKV.hash);
  });

  it("defrag and alarm list succeed", async () => {
    const d = etcdctl(server.endpoint, ["defrag"]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /Finished defragmenting etcd member/);
    // The server logged the copy and what it gave back (etcdctl ran
    // synchronously: its output pipe is read once the event loop runs).
    for (let i = 0; i < 100 && !server.output().includes("defrag: done"); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const done = server
      .output()
      .split("\n")
      .filter((l) => l.includes("defrag: done"))
      .map((l) => JSON.parse(l) as { bytesBefore: number; bytesAfter: number; ms: number });
    assert.equal(done.length, 1, server.output());
    assert.ok(done[0] && done[0].bytesAfter > 0 && done[0].bytesBefore > 0 && done[0].ms >= 0);
    assert.match(server.output(), /defrag: copying the live pages/);
    const a = etcdctl(server.endpoint, ["alarm", "list"]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout.trim(), "");
  });
});

describe("operations: HTTP endpoints", () => {
  it("GET /health and /version answer like etcd", async () => {
    const h = await fetch(`${server.url}/health`);
    assert.equal(h.status, 200);
    assert.deepEqual(await h.json(), { health: "true" });
    const v = (await (await fetch(`${server.url}/version`)).json()) as {
      etcdserver: string;
      etcdcluster: string;
      conclave: string;
    };
    // What etcd 3.4.23, the release Conclave is compared with, answers.
    assert.equal(v.etcdserver, "3.4.23");
    assert.equal(v.etcdcluster, "3.4.0");
    assert.equal(typeof v.conclave, "string");
  });

  it("GET /metrics exposes etcd's series with live values", async () => {
    etcdctl(server.endpoint, ["get", "ops/1"]);
    etcdctl(server.endpoint, ["get", "ops/1", "--rev", "99999"]); // OutOfRange
    // A watch its client ends: etcd's e2e metrics test counts it as Canceled.
    const watch = spawnSync(
      requireTool("etcdctl"),
      [`--endpoints=${server.endpoint}`, "watch", "ops/1", "--rev", "1"],
      { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 2_000 },
    );
    assert.match(watch.stdout.toString(), /^PUT\nops\/1\nv1\n/);
    const res = await fetch(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/plain/);
    const text = await res.text();
    const value = (series: string) => {
      const line = text.split("\n").find((l) => l.startsWith(series));
      assert.ok(line, `missing ${series}`);
      return Number(line.slice(line.lastIndexOf(" ") + 1));
    };
    assert.ok(value("etcd_debugging_mvcc_keys_total") >= 20);
    assert.ok(value("etcd_debugging_mvcc_current_revision") >= 21);
    assert.ok(value("etcd_mvcc_db_total_size_in_bytes") > 0);
    assert.equal(value("etcd_server_has_leader"), 1);
    assert.ok(
      value(
        'grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}',
      ) >= 20,
    );
    assert.ok(
      value(
        'grpc_server_handled_total{grpc_code="OutOfRange",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"}',
      ) >= 1,
    );
    // Labels sorted by name, as in etcd's (Prometheus's Go client's) output.
    assert.ok(
      value(
        'grpc_server_handled_total{grpc_code="Canceled",grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"}',
      ) >= 1,
    );
    assert.match(text, /grpc_server_handling_seconds_bucket\{/);
    assert.match(text, /etcd_debugging_lease_granted_total/);
  });
});
