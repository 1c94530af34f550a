import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { type RunningServer, startConclave, startEtcd } from "@conclave/testkit";
import { etcdctl } from "./etcdctl.js";

/**
 * Conclave's snapshot is etcd's backend file: the real etcdctl reads it
 * (`snapshot status`), restores it (`snapshot restore`), and a real etcd
 * 3.4.23 started on the result serves the same keys, history since the
 * compaction, leases, users and roles — also for a snapshot taken while
 * writes go on.
 */
let conclave: RunningServer;
let etcd: RunningServer;
let dir: string;
let snapshotRev: number;
let compactRev: number;
let leaseId: string;

const ok = (server: RunningServer, args: string[], input?: string) => {
  const r = etcdctl(server.endpoint, args, input);
  assert.equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};
const json = (server: RunningServer, args: string[]) =>
  JSON.parse(ok(server, [...args, "-w", "json"]));

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "conclave-snap-etcd-"));
  conclave = await startConclave();
  for (let i = 0; i < 30; i++) ok(conclave, ["put", `k/${i % 7}`, `v${i}`]);
  ok(conclave, ["del", "k/3"]);
  ok(conclave, ["put", "big", "x".repeat(100_000)]);
  compactRev = Number(json(conclave, ["get", "k/0"]).header.revision) - 2;
  ok(conclave, ["compaction", String(compactRev)]);
  ok(conclave, ["txn"], 'value("k/0") = "v28"\n\nput k/0 txn\ndel k/1\n\n\n');
  leaseId = ok(conclave, ["lease", "grant", "600"]).split(" ")[1] ?? "";
  ok(conclave, ["put", "--lease", leaseId, "leased/a", "1"]);
  ok(conclave, ["put", "--lease", leaseId, "leased/b", "2"]);
  ok(conclave, ["user", "add", "alice:alicepw"]);
  ok(conclave, ["role", "add", "app"]);
  ok(conclave, ["role", "grant-permission", "app", "readwrite", "--prefix", "app/"]);
  ok(conclave, ["role", "grant-permission", "app", "read", "k/0"]);
  ok(conclave, ["user", "grant-role", "alice", "app"]);
  for (let i = 0; i < 8; i++) ok(conclave, ["del", `k/${i}`, "--prefix=false"]);
  ok(conclave, ["put", "k/0", "again"]);

  // Writes keep arriving while the snapshot is taken.
  const file = join(dir, "conclave.db");
  const writer = startConclaveWriter(conclave);
  await new Promise((r) => setTimeout(r, 300));
  await promisify(execFile)("etcdctl", [
    `--endpoints=${conclave.endpoint}`,
    "snapshot",
    "save",
    file,
  ]);
  await writer.stop();
  const status = json(conclave, ["snapshot", "status", file]);
  snapshotRev = status.revision;
  assert.ok(status.totalKey > 20, JSON.stringify(status));
  assert.ok(status.totalSize > 100_000, JSON.stringify(status));
  assert.equal(typeof status.hash, "number");
  etcd = await startEtcd({ snapshot: file });
});

after(async () => {
  await etcd?.stop();
  await conclave?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Puts to conclave from child processes in the background until stopped. */
function startConclaveWriter(server: RunningServer) {
  let stop = false;
  const put = promisify(execFile);
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      await put("etcdctl", [`--endpoints=${server.endpoint}`, "put", `live/${i % 5}`, `w${i}`]);
    }
  })();
  return {
    async stop() {
      stop = true;
      await done;
    },
  };
}

type Kv = {
  key: string;
  value?: string;
  create_revision: number;
  mod_revision: number;
  version: number;
  lease?: number;
};
const kvsAt = (server: RunningServer, rev: number): Kv[] =>
  json(server, ["get", "", "--prefix", `--rev=${rev}`]).kvs ?? [];

describe("snapshot: Conclave → etcd", () => {
  it("etcd serves every revision from the compaction to the snapshot's as Conclave does", () => {
    assert.ok(snapshotRev > compactRev + 10);
    for (let rev = compactRev; rev <= snapshotRev; rev++) {
      assert.deepEqual(kvsAt(etcd, rev), kvsAt(conclave, rev), `at revision ${rev}`);
    }
    const past = etcdctl(etcd.endpoint, ["get", "k/0", `--rev=${compactRev - 1}`]);
    assert.match(past.stderr, /required revision has been compacted/);
    assert.equal(json(etcd, ["get", "k/0"]).header.revision, snapshotRev);
  });

  it("etcd has the leases with their TTLs and keys", () => {
    assert.match(ok(etcd, ["lease", "list"]), new RegExp(leaseId));
    const ttl = json(etcd, ["lease", "timetolive", leaseId, "--keys"]);
    assert.equal(ttl["granted-ttl"], 600);
    assert.ok(ttl.ttl > 500);
    assert.deepEqual(ttl.keys.map((k: string) => Buffer.from(k, "base64").toString()).sort(), [
      "leased/a",
      "leased/b",
    ]);
    ok(etcd, ["lease", "revoke", leaseId]);
    assert.equal(json(etcd, ["get", "leased/", "--prefix"]).count ?? 0, 0);
  });

  it("etcd has the users and roles", () => {
    assert.equal(ok(etcd, ["user", "list"]), ok(conclave, ["user", "list"]));
    assert.equal(ok(etcd, ["user", "get", "alice"]), ok(conclave, ["user", "get", "alice"]));
    assert.equal(ok(etcd, ["role", "get", "app"]), ok(conclave, ["role", "get", "app"]));
  });

  it("etcd takes writes on top of the restored history", () => {
    const revBefore = Number(json(etcd, ["get", "after"]).header.revision);
    assert.ok(revBefore >= snapshotRev);
    const put = json(etcd, ["put", "after", "restore"]);
    assert.equal(put.header.revision, revBefore + 1);
    assert.equal(json(etcd, ["get", "after"]).kvs[0].create_revision, revBefore + 1);
  });

  // Last: it turns auth on in the etcd.
  it("users log in to etcd with the passwords they had in Conclave", () => {
    ok(etcd, ["put", "app/x", "1"]);
    ok(etcd, ["user", "add", "root:rootpw"]);
    ok(etcd, ["auth", "enable"]);
    const asAlice = ok(etcd, ["--user", "alice:alicepw", "get", "app/x", "--print-value-only"]);
    assert.equal(asAlice.trim(), "1");
    const wrong = etcdctl(etcd.endpoint, ["--user", "alice:nope", "get", "app/x"]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /authentication failed, invalid user ID or password/);
  });
});
