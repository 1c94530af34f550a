import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { type RunningServer, startConclave, startEtcd } from "@conclave/testkit";
import { etcdctl } from "./etcdctl.js";

/**
 * The one-command migration from etcd: a real etcd 3.4.23 holding keys,
 * history (overwrites, deletes, a txn), a compaction, leases with keys, and
 * users and roles with auth enabled → `etcdctl snapshot save` → `conclave
 * snapshot restore` → conclave on that data dir answers as etcd does, and
 * the users log in with their passwords (etcd's bcrypt hashes).
 */
const bundle = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "..",
  "apps",
  "server",
  "dist",
  "conclave.mjs",
);
const root = ["--user", "root:rootpw"];
let etcd: RunningServer;
let conclave: RunningServer;
let dir: string;
let snapshotFile: string;
let compactRev: number;
let lastRev: number;
let leaseId: string;

const run = (server: RunningServer, args: string[], input?: string) =>
  etcdctl(server.endpoint, args, input);
const ok = (server: RunningServer, args: string[], input?: string) => {
  const r = run(server, args, input);
  assert.equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};
const json = (server: RunningServer, args: string[]) =>
  JSON.parse(ok(server, [...args, "-w", "json"]));
const restore = (...args: string[]) =>
  spawnSync(process.execPath, [bundle, "snapshot", "restore", ...args], { encoding: "utf8" });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "conclave-restore-"));
  etcd = await startEtcd();
  for (let i = 0; i < 20; i++) ok(etcd, ["put", `k/${i % 6}`, `v${i}`]);
  ok(etcd, ["del", "k/2"]);
  compactRev = Number(json(etcd, ["get", "k/0"]).header.revision) - 3;
  ok(etcd, ["compaction", String(compactRev)]);
  ok(etcd, ["txn"], 'value("k/0") = "v18"\n\nput k/0 txn\ndel k/1\n\n\n');
  ok(etcd, ["put", "big", "y".repeat(50_000)]);
  leaseId = ok(etcd, ["lease", "grant", "900"]).split(" ")[1] ?? "";
  ok(etcd, ["put", "--lease", leaseId, "leased/a", "1"]);
  ok(etcd, ["user", "add", "root:rootpw"]);
  ok(etcd, ["user", "add", "alice:alicepw"]);
  ok(etcd, ["role", "add", "app"]);
  ok(etcd, ["role", "grant-permission", "app", "readwrite", "--prefix", "app/"]);
  ok(etcd, ["user", "grant-role", "alice", "app"]);
  ok(etcd, ["auth", "enable"]);
  ok(etcd, [...root, "put", "app/x", "1"]);
  ok(etcd, [...root, "put", "k/5", "last"]);
  lastRev = Number(json(etcd, [...root, "get", "k/5"]).header.revision);
  snapshotFile = join(dir, "etcd.db");
  ok(etcd, [...root, "snapshot", "save", snapshotFile]);
  const r = restore(snapshotFile, "--data-dir", join(dir, "data"));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /restored .* revision \d+, compacted at \d+/);
  conclave = await startConclave({ dataDir: join(dir, "data") });
});

after(async () => {
  await conclave?.stop();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("snapshot restore: etcd → Conclave", () => {
  it("answers every range since the compaction as etcd does", () => {
    assert.equal(Number(json(conclave, [...root, "get", "k/5"]).header.revision), lastRev);
    for (let rev = compactRev; rev <= lastRev; rev++) {
      const at = [...root, "get", "", "--prefix", `--rev=${rev}`];
      assert.deepEqual(json(conclave, at).kvs, json(etcd, at).kvs, `at revision ${rev}`);
    }
    const past = run(conclave, [...root, "get", "k/0", `--rev=${compactRev - 1}`]);
    assert.match(past.stderr, /required revision has been compacted/);
  });

  it("keeps the leases, with their TTL restarted, and their keys", () => {
    assert.match(ok(conclave, [...root, "lease", "list"]), new RegExp(leaseId));
    const ttl = json(conclave, [...root, "lease", "timetolive", leaseId, "--keys"]);
    assert.equal(ttl["granted-ttl"], 900);
    assert.ok(ttl.ttl > 850, JSON.stringify(ttl));
    assert.deepEqual(
      ttl.keys.map((k: string) => Buffer.from(k, "base64").toString()),
      ["leased/a"],
    );
  });

  it("keeps users, roles and auth, and the passwords work", () => {
    for (const args of [
      ["user", "list"],
      ["role", "list"],
      ["role", "get", "app"],
      ["user", "get", "alice"],
    ]) {
      assert.equal(ok(conclave, [...root, ...args]), ok(etcd, [...root, ...args]), args.join(" "));
    }
    ok(conclave, ["--user", "alice:alicepw", "put", "app/y", "2"]);
    assert.match(
      run(conclave, ["--user", "alice:alicepw", "put", "k/0", "no"]).stderr,
      /permission denied/,
    );
    assert.match(
      run(conclave, ["--user", "alice:wrong", "get", "app/y"]).stderr,
      /authentication failed/,
    );
    assert.match(run(conclave, ["get", "app/y"]).stderr, /user name is empty/);
  });

  it("refuses a snapshot whose SHA-256 trailer does not match, and a non-empty data dir", () => {
    const bad = join(dir, "bad.db");
    const bytes = readFileSync(snapshotFile);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    writeFileSync(bad, bytes);
    const r = restore(bad, "--data-dir", join(dir, "bad"));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /expected sha256/);
    const again = restore(snapshotFile, "--data-dir", join(dir, "data"));
    assert.equal(again.status, 1);
    assert.match(again.stderr, /exists and is not empty/);
  });

  it("restores a Conclave snapshot too (a round trip keeps every revision)", async () => {
    const file = join(dir, "conclave.db");
    ok(conclave, [...root, "snapshot", "save", file]);
    const r = restore(file, "--data-dir", join(dir, "again"));
    assert.equal(r.status, 0, r.stderr);
    const copy = await startConclave({ dataDir: join(dir, "again") });
    try {
      const rev = Number(json(conclave, [...root, "get", "k/5"]).header.revision);
      for (let at = compactRev; at <= rev; at++) {
        const args = [...root, "get", "", "--prefix", `--rev=${at}`];
        assert.deepEqual(json(copy, args).kvs, json(conclave, args).kvs, `at revision ${at}`);
      }
    } finally {
      await copy.stop();
    }
  });
});
