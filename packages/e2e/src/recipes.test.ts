// Go clientv3 concurrency recipes (Session + Mutex / Election) as etcdctl runs
// them: `etcdctl lock` and `etcdctl elect` build on LeaseGrant, LeaseKeepAlive,
// Txn, Range, DeleteRange and Watch. Every scenario runs against conclave and,
// to keep the expectations honest, against a real etcd.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type RunningServer, startConclave, startEtcd } from "@conclave/testkit";
import { etcdctl } from "./etcdctl.js";
import { killAllEtcdctl, spawnEtcdctl } from "./etcdctl-process.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Nanosecond timestamps written by the lock holders' commands. */
function readStamps(file: string): { who: string; what: string; ns: bigint }[] {
  return readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((line) => {
      const [who = "", what = "", ns = "0"] = line.split(" ");
      return { who, what, ns: BigInt(ns) };
    });
}

async function lockContenders(endpoint: string, dir: string) {
  const file = join(dir, `stamps-${endpoint.replace(/\W/g, "_")}`);
  const cmd = (who: string, holdS: number) =>
    `echo "${who} start $(date +%s%N)" >> ${file}; sleep ${holdS}; echo "${who} end $(date +%s%N)" >> ${file}`;
  const a = spawnEtcdctl(endpoint, ["lock", "rcp/lock", "--", "sh", "-c", cmd("A", 1)]);
  const deadline = Date.now() + 5000;
  for (;;) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {}
    if (text.includes("A start")) break;
    assert.ok(Date.now() < deadline, `A never got the lock: ${a.stderr()}`);
    await sleep(20);
  }
  const b = spawnEtcdctl(endpoint, ["lock", "rcp/lock", "--", "sh", "-c", cmd("B", 0.2)]);
  const bSpawnedNs = BigInt(b.spawnedAt) * 1_000_000n;
  assert.equal(await a.exit(), 0, a.stderr());
  assert.equal(await b.exit(), 0, b.stderr());
  const stamps = readStamps(file);
  assert.deepEqual(
    stamps.map((s) => `${s.who} ${s.what}`),
    ["A start", "A end", "B start", "B end"],
  );
  const [aStart, aEnd, bStart] = stamps.map((s) => s.ns);
  assert.ok(aStart !== undefined && aEnd !== undefined && bStart !== undefined);
  assert.ok(bSpawnedNs < aEnd, "B was started while A held the lock (a real contention)");
  assert.ok(bStart >= aEnd, "B's command started only after A's command ended");
  assert.ok(aEnd - aStart >= 1_000_000_000n, "A held it for its whole command");
}

async function election(endpoint: string) {
  const observer = spawnEtcdctl(endpoint, ["elect", "-l", "rcp/elect"]);
  await sleep(300);
  assert.equal(observer.stdout(), "", "no leader yet, nothing observed");
  const c1 = spawnEtcdctl(endpoint, ["elect", "rcp/elect", "p1"]);
  await c1.waitFor(/^rcp\/elect\/[0-9a-f]+\np1\n$/);
  const key1 = c1.stdout().split("\n")[0] as string;
  await observer.waitFor(`${key1}\np1\n`);

  const c2 = spawnEtcdctl(endpoint, ["elect", "rcp/elect", "p2"]);
  await sleep(700);
  assert.equal(c2.stdout(), "", "the second candidate waits while the first leads");
  const held = etcdctl(endpoint, ["get", "--prefix", "rcp/elect/", "--keys-only"]);
  assert.equal(held.stdout.split("\n").filter((l) => l !== "").length, 2, "both campaigned");

  c1.signal("SIGINT"); // etcdctl resigns on SIGINT
  await c1.exit();
  await c2.waitFor(/^rcp\/elect\/[0-9a-f]+\np2\n$/);
  const key2 = c2.stdout().split("\n")[0] as string;
  assert.notEqual(key2, key1);
  await observer.waitFor(`${key2}\np2\n`);
  await sleep(200);
  assert.equal(observer.stdout(), `${key1}\np1\n${key2}\np2\n`);
  const left = etcdctl(endpoint, ["get", "--prefix", "rcp/elect/", "--keys-only"]);
  assert.equal(left.stdout.trim(), key2, "the resigned leader's key is gone");

  c2.signal("SIGINT");
  await c2.exit();
  await observer.kill();
}

async function lockHolderLeaseRevoked(endpoint: string) {
  const a = spawnEtcdctl(endpoint, ["lock", "rcp/lease-lock"]);
  await a.waitFor(/^rcp\/lease-lock\/[0-9a-f]+\n\n$/);
  const aKey = a.stdout().split("\n")[0] as string;
  const b = spawnEtcdctl(endpoint, ["lock", "rcp/lease-lock"]);
  await sleep(700);
  assert.equal(b.stdout(), "", "B waits while A holds the lock");

  const list = etcdctl(endpoint, ["lease", "list"]);
  assert.equal(list.code, 0, list.stderr);
  const ids = list.stdout.trim().split("\n").slice(1);
  const aLease = BigInt(`0x${aKey.split("/").at(-1)}`);
  const holder = ids.find((id) => BigInt(`0x${id}`) === aLease);
  assert.ok(holder, `A's lease ${aLease.toString(16)} is listed: ${list.stdout}`);
  assert.ok(ids.length >= 2, "B's session lease is listed too");

  const revoked = etcdctl(endpoint, ["lease", "revoke", holder]);
  assert.equal(revoked.stdout, `lease ${holder} revoked\n`, revoked.stderr);

  await b.waitFor(/^rcp\/lease-lock\/[0-9a-f]+\n\n$/, 5000);
  const bKey = b.stdout().split("\n")[0] as string;
  assert.notEqual(bKey, aKey);
  // A's session ends with its lease: etcdctl reports it and fails.
  assert.notEqual(await a.exit(10_000), 0, "A exits with an error once its session is gone");
  b.signal("SIGINT");
  assert.equal(await b.exit(), 0, b.stderr());
  const left = etcdctl(endpoint, ["get", "--prefix", "rcp/lease-lock/"]);
  assert.equal(left.stdout, "", "B unlocked on exit");
}

let server: RunningServer;
let etcd: RunningServer | undefined;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "conclave-recipes-"));
  [server, etcd] = await Promise.all([startConclave(), startEtcd()]);
});

after(async () => {
  await killAllEtcdctl();
  await etcd?.stop();
  if (server !== undefined) {
    await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
  rmSync(dir, { recursive: true, force: true });
});

for (const target of ["conclave", "etcd"] as const) {
  const endpoint = () => {
    const s = target === "conclave" ? server : etcd;
    assert.ok(s);
    return s.endpoint;
  };
  describe(`etcdctl concurrency recipes against ${target}`, () => {
    test("lock: the second contender runs only after the first's command exits", async () => {
      await lockContenders(endpoint(), dir);
    });

    test("elect: leader, observer, and takeover after the leader is interrupted", async () => {
      await election(endpoint());
    });

    test("lock: revoking the holder's lease hands the lock to the next waiter", async () => {
      await lockHolderLeaseRevoked(endpoint());
    });
  });
}
