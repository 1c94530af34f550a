import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { type RunningServer, startConclave, startEtcd } from "@conclave/testkit";
import { etcdctl } from "./etcdctl.js";

/**
 * The series etcd's stock Grafana dashboard and etcd's e2e metrics test
 * read, after a known workload: the same workload runs against Conclave and
 * against etcd 3.4, and every counter's step must be the same number on both
 * (the numbers below are etcd's), so the mapping is checked against etcd
 * itself, not against our reading of its code.
 */

type Scrape = Map<string, number>;

async function scrape(server: RunningServer): Promise<Scrape> {
  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  const series: Scrape = new Map();
  for (const line of (await res.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}

const mvcc = ["range", "put", "delete", "txn"] as const;
type Step = Partial<Record<(typeof mvcc)[number] | "received", number>>;

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** Bytes of `n` as a protobuf varint. */
function varintLength(n: bigint): number {
  let bytes = 1;
  for (let v = n >> 7n; v > 0n; v >>= 7n) bytes++;
  return bytes;
}
const versionAbove0 = (key: string) => ({
  key: b64(key),
  target: "VERSION",
  result: "GREATER",
  version: "0",
});

async function gateway(server: RunningServer, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${server.url}/v3/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text);
}

function ctl(server: RunningServer, args: string[], input?: string): string {
  const r = etcdctl(server.endpoint, args, input);
  assert.equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/**
 * The workload: each step with what etcd 3.4.23 counts for it (mvcc
 * counters; `received`: request message bytes, where they do not depend on
 * server-chosen IDs). A write Txn's compares run in a read txn of their own.
 */
function workload(
  server: RunningServer,
): Array<[string, () => Promise<unknown> | unknown, Step | (() => Step)]> {
  let lease = "";
  return [
    [
      "three puts",
      () => {
        for (const k of ["m/a", "m/b", "m/c"]) ctl(server, ["put", k, "1"]);
      },
      // PutRequest{key: "m/a", value: "1"}: 5 + 3 bytes each.
      { put: 3, received: 24 },
    ],
    [
      "a put with --prev-kv",
      () => ctl(server, ["put", "m/a", "2", "--prev-kv"]),
      { put: 1, range: 1, txn: 1 },
    ],
    ["a get", () => ctl(server, ["get", "m/a"]), { range: 1 }],
    [
      "a txn: one compare, two puts and a get",
      () => ctl(server, ["txn"], 'version("m/a") > "0"\n\nput m/d 1\nput m/e 1\nget m/d\n\n\n'),
      { range: 2, put: 2, txn: 1 },
    ],
    [
      "a gateway txn: two compares, a delete",
      () =>
        gateway(server, "kv/txn", {
          compare: [versionAbove0("m/a"), versionAbove0("m/b")],
          success: [{ request_delete_range: { key: b64("m/e") } }],
        }),
      { range: 2, delete: 1, txn: 1 },
    ],
    [
      "a read-only gateway txn: a compare and a range",
      () =>
        gateway(server, "kv/txn", {
          compare: [versionAbove0("m/a")],
          success: [{ request_range: { key: b64("m/d") } }],
        }),
      { range: 2, txn: 1 },
    ],
    ["a delete", () => ctl(server, ["del", "m/b"]), { delete: 1 }],
    ["a delete of nothing", () => ctl(server, ["del", "m/zz"]), { delete: 1 }],
    [
      "a lease with two keys",
      () => {
        lease = (/lease ([0-9a-f]+) granted/.exec(ctl(server, ["lease", "grant", "100"]))?.[1] ??
          "") as string;
        ctl(server, ["put", "m/l1", "x", `--lease=${lease}`]);
        ctl(server, ["put", "m/l2", "x", `--lease=${lease}`]);
      },
      { put: 2 },
    ],
    [
      "a keep-alive (a gRPC stream: the Connect edge)",
      () => ctl(server, ["lease", "keep-alive", "--once", lease]),
      // LeaseKeepAliveRequest{ID}: a tag byte and the ID's varint.
      () => ({ received: 1 + varintLength(BigInt(`0x${lease}`)) }),
    ],
    // The revoke deletes both keys in one write txn.
    ["its revoke", () => ctl(server, ["lease", "revoke", lease]), { delete: 2, txn: 1 }],
    [
      "a gateway range",
      () => gateway(server, "kv/range", { key: b64("m/a") }),
      // RangeRequest{key: "m/a"}.
      { range: 1, received: 5 },
    ],
    [
      "a gateway put",
      () => gateway(server, "kv/put", { key: b64("m/g"), value: b64("1") }),
      { put: 1, received: 8 },
    ],
    [
      "a compaction",
      async () => {
        const r = (await gateway(server, "kv/range", { key: b64("m/a") })) as {
          header: { revision: string };
        };
        ctl(server, ["compact", r.header.revision]);
      },
      // Its own range, and the gateway range reading the revision.
      { range: 2 },
    ],
  ];
}

/** Runs the workload, checking each step's counter deltas; returns the scrapes before and after. */
async function runWorkload(server: RunningServer): Promise<{ first: Scrape; last: Scrape }> {
  const first = await scrape(server);
  let prev = first;
  for (const [name, run, expecting] of workload(server)) {
    await run();
    const expected = typeof expecting === "function" ? expecting() : expecting;
    const next = await scrape(server);
    const delta = (series: string) => (next.get(series) ?? 0) - (prev.get(series) ?? 0);
    const seen: Step = {};
    for (const m of mvcc) seen[m] = delta(`etcd_mvcc_${m}_total`);
    const want: Step = {};
    for (const m of mvcc) want[m] = expected[m] ?? 0;
    if (expected.received !== undefined) {
      seen.received = delta("etcd_network_client_grpc_received_bytes_total");
      want.received = expected.received;
    }
    assert.deepEqual(seen, want, `${name} on ${server.url}`);
    assert.ok(delta("etcd_network_client_grpc_sent_bytes_total") > 0, `${name}: bytes sent`);
    prev = next;
  }
  return { first, last: prev };
}

/** Starts `start`'s server, runs the workload and checks what both servers must show. */
function suite(name: string, start: () => Promise<RunningServer>) {
  describe(`metrics after a known workload: ${name}`, () => {
    let server: RunningServer;
    let first: Scrape;
    let last: Scrape;
    before(async () => {
      server = await start();
      ({ first, last } = await runWorkload(server));
    });
    after(async () => {
      await server.stop();
      rmSync(server.dataDir, { recursive: true, force: true });
    });
    const delta = (series: string) => (last.get(series) ?? 0) - (first.get(series) ?? 0);
    const rpc = (method: string, service = "etcdserverpb.KV", code?: string) =>
      code === undefined
        ? `grpc_server_started_total{grpc_method="${method}",grpc_service="${service}",grpc_type="unary"}`
        : `grpc_server_handled_total{grpc_code="${code}",grpc_method="${method}",grpc_service="${service}",grpc_type="unary"}`;

    it("counts each etcdctl and gateway call as a gRPC call of its method", () => {
      const calls: Array<[string, number, string?]> = [
        ["Range", 3],
        ["Put", 7],
        ["DeleteRange", 2],
        ["Txn", 3],
        ["Compact", 1],
        ["LeaseGrant", 1, "etcdserverpb.Lease"],
        ["LeaseRevoke", 1, "etcdserverpb.Lease"],
      ];
      const keepAlive = `grpc_server_started_total{grpc_method="LeaseKeepAlive",grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"}`;
      assert.equal(delta(keepAlive), 1);
      for (const [method, n, service] of calls) {
        assert.equal(delta(rpc(method, service)), n, `${method} started`);
        assert.equal(delta(rpc(method, service, "OK")), n, `${method} handled OK`);
      }
    });

    it("counts live keys, not deleted ones", () => {
      // m/a, m/c, m/d, m/g: m/b and m/e were deleted, m/l1 and m/l2 revoked.
      assert.equal(last.get("etcd_debugging_mvcc_keys_total"), 4);
    });

    it("times disk commits in etcd's histograms", () => {
      for (const h of [
        "etcd_disk_backend_commit_duration_seconds",
        "etcd_disk_wal_fsync_duration_seconds",
      ]) {
        // Seven single puts ran one after another (each etcdctl or curl run
        // started after the last one returned): one WAL write each at least.
        // The other writes may share a group commit with each other (a CI run
        // on a loaded machine counted 9 in all, a quiet one 11 or more). The
        // backend (bbolt, LMDB) takes what gathered every 100 ms, in one
        // transaction: puts closer together than that share one.
        const least = h === "etcd_disk_wal_fsync_duration_seconds" ? 7 : 1;
        assert.ok(delta(`${h}_count`) >= least, `${h}_count grew by ${delta(`${h}_count`)}`);
        assert.ok(delta(`${h}_sum`) > 0, `${h}_sum`);
        const buckets = [...last.keys()].filter((k) => k.startsWith(`${h}_bucket{`));
        assert.deepEqual(
          buckets.map((k) => /le="([^"]+)"/.exec(k)?.[1]),
          [...Array.from({ length: 14 }, (_, i) => String(0.001 * 2 ** i)), "+Inf"],
        );
      }
    });

    it("reports one leader, the versions /version reports, and the process", async () => {
      assert.equal(last.get("etcd_server_has_leader"), 1);
      assert.equal(last.get("etcd_server_is_leader"), 1);
      assert.equal(last.get("etcd_server_leader_changes_seen_total"), 1);
      const version = (await (await fetch(`${server.url}/version`)).json()) as {
        etcdserver: string;
        etcdcluster: string;
      };
      assert.equal(last.get(`etcd_server_version{server_version="${version.etcdserver}"}`), 1);
      const cluster = version.etcdcluster.split(".").slice(0, 2).join(".");
      assert.equal(last.get(`etcd_cluster_version{cluster_version="${cluster}"}`), 1);

      const get = (series: string) => {
        const v = last.get(series);
        assert.ok(v !== undefined, `missing ${series}`);
        return v;
      };
      const rss = get("process_resident_memory_bytes");
      assert.ok(rss > 10 * 2 ** 20 && rss < 4 * 2 ** 30, `rss ${rss}`);
      assert.ok(get("process_virtual_memory_bytes") >= rss);
      assert.ok(get("process_cpu_seconds_total") > 0);
      const start = get("process_start_time_seconds");
      assert.ok(start > Date.now() / 1000 - 600 && start <= Date.now() / 1000, `start ${start}`);
      const fds = get("process_open_fds");
      assert.ok(fds > 0 && fds <= get("process_max_fds"), `fds ${fds}`);
    });
  });
}

suite("Conclave", () => startConclave());
suite("etcd 3.4", () => startEtcd());

/** The HELP, TYPE and sample lines of one series in a scrape, as the server printed them. */
async function seriesLines(server: RunningServer, name: string): Promise<string[]> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return text
    .split("\n")
    .filter(
      (l) =>
        l.startsWith(`# HELP ${name} `) ||
        l.startsWith(`# TYPE ${name} `) ||
        l.startsWith(`${name} `),
    );
}

describe("etcd_server_quota_backend_bytes, as etcd 3.4 reports it", () => {
  // etcd's default (0 → 2 GiB), a quota of 16 MiB, and quotas off (negative: etcd reports the setting).
  for (const [setting, shown] of [
    [undefined, "2.147483648e+09"],
    ["16777216", "1.6777216e+07"],
    ["-1", "-1"],
  ] as const) {
    it(`--quota-backend-bytes ${setting ?? "(default)"}`, async () => {
      const args = setting === undefined ? [] : ["--quota-backend-bytes", setting];
      const [etcd, conclave] = await Promise.all([startEtcd({ args }), startConclave({ args })]);
      try {
        const name = "etcd_server_quota_backend_bytes";
        const fromEtcd = await seriesLines(etcd, name);
        const fromConclave = await seriesLines(conclave, name);
        // etcd's Go client prints floats in Go's %g; the number is the same.
        assert.deepEqual(fromEtcd, [
          `# HELP ${name} Current backend storage quota size in bytes.`,
          `# TYPE ${name} gauge`,
          `${name} ${shown}`,
        ]);
        assert.deepEqual(fromConclave.slice(0, 2), fromEtcd.slice(0, 2));
        const value = (lines: string[]) => Number(lines[2]?.split(" ")[1]);
        assert.equal(value(fromConclave), value(fromEtcd));
      } finally {
        await Promise.all([etcd.stop(), conclave.stop()]);
        for (const s of [etcd, conclave]) rmSync(s.dataDir, { recursive: true, force: true });
      }
    });
  }
});
