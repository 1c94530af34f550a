// A unit file or config written for etcd 3.4 starts Conclave: etcd's flags
// without meaning here are accepted with one warning each, a misspelt one
// fails with a suggestion, and auto-compaction keeps history bounded under
// steady writes, logging each compaction.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { KV } from "@conclave/proto";
import { serverBundle, startConclave } from "@conclave/testkit";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { bytes } from "./clients.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const bundle = serverBundle;

describe("etcd's configuration", () => {
  test("etcd's cluster flags are accepted, each named once in a warning", async () => {
    const server = await startConclave({
      args: [
        "--listen-peer-urls=http://127.0.0.1:2380",
        "--initial-cluster",
        "default=http://127.0.0.1:2380",
        "--snapshot-count",
        "10000",
        "--logger=zap",
        "--enable-v2",
      ],
    });
    try {
      const out = server.output();
      for (const flag of ["listen-peer-urls", "snapshot-count", "logger", "enable-v2"]) {
        const lines = out.split("\n").filter((l) => l.includes(`--${flag} has no effect`));
        assert.equal(lines.length, 1, `one warning for --${flag}:\n${out}`);
      }
      const kv = createClient(KV, createGrpcTransport({ baseUrl: server.url }));
      await kv.put({ key: bytes("k"), value: bytes("v") });
    } finally {
      await server.stop();
    }
  });

  test("a misspelt flag fails with a suggestion and exit code 2", () => {
    try {
      execFileSync(process.execPath, [bundle, "--data-dirr", "x"], { stdio: "pipe" });
      assert.fail("conclave started with --data-dirr");
    } catch (err) {
      const e = err as { status: number; stderr: Buffer };
      assert.equal(e.status, 2);
      assert.match(e.stderr.toString(), /unknown flag: --data-dirr \(did you mean --data-dir\?\)/);
    }
  });

  test("--config-file in etcd's YAML; flags win over it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "conclave-config-e2e-"));
    const path = join(dir, "etcd.conf.yml");
    writeFileSync(path, "name: from-file\nmax-txn-ops: 2\nsnapshot-count: 5\n");
    const server = await startConclave({ args: ["--config-file", path, "--name", "from-flag"] });
    try {
      const kv = createClient(KV, createGrpcTransport({ baseUrl: server.url }));
      const put = (k: string) => ({
        request: { case: "requestPut" as const, value: { key: bytes(k), value: bytes("v") } },
      });
      // max-txn-ops 2 from the file: three ops are too many.
      await assert.rejects(
        kv.txn({ success: [put("a"), put("b"), put("c")] }),
        (e: unknown) => ConnectError.from(e).code === Code.InvalidArgument,
      );
      await kv.txn({ success: [put("a"), put("b")] });
      assert.match(server.output(), /snapshot-count in .* has no effect/);
    } finally {
      await server.stop();
    }
  });

  test("periodic auto-compaction keeps history bounded under steady writes, and logs it", async () => {
    const server = await startConclave({
      args: ["--auto-compaction-retention", "1s", "--log-level", "info"],
    });
    try {
      const kv = createClient(KV, createGrpcTransport({ baseUrl: server.url }));
      const revs: Array<[number, number]> = [];
      const t0 = Date.now();
      while (Date.now() - t0 < 3500) {
        const r = await kv.put({ key: bytes("steady"), value: bytes(String(Date.now())) });
        revs.push([Number(r.header?.revision), Date.now() - t0]);
        await sleep(10);
      }
      // The first revisions are gone; those of the last ~second are kept.
      await assert.rejects(
        kv.range({ key: bytes("steady"), revision: BigInt(revs[0]?.[0] ?? 2) }),
        (e: unknown) =>
          ConnectError.from(e).rawMessage ===
          "etcdserver: mvcc: required revision has been compacted",
      );
      const recent = revs.filter(([, at]) => at > 3500 - 500)[0]?.[0] ?? 0;
      await kv.range({ key: bytes("steady"), revision: BigInt(recent) });
      assert.match(server.output(), /finished auto-compaction/);
    } finally {
      await server.stop();
    }
  });
});
