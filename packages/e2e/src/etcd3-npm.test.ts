// The `etcd3` npm package (grpc-js, etcd's own protos) used unchanged against
// the conclave CLI: a client other TypeScript services already run against
// etcd. It builds locks and elections client-side out of Txn, Watch and
// leases, so it exercises those paths the way its users do.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type RunningServer, startConclave } from "@conclave/testkit";
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdLockFailedError,
  EtcdPermissionDeniedError,
  EtcdRoleNotFoundError,
  EtcdUserExistsError,
} from "etcd3";
import { createTestCerts } from "./test-certs.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves with the first value `on` delivers, or rejects after `ms`. */
function first<T>(what: string, on: (cb: (v: T) => void) => void, ms = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    on((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

let server: RunningServer;
const clients: Etcd3[] = [];
const connect = () => {
  const c = new Etcd3({ hosts: server.url });
  clients.push(c);
  return c;
};

before(async () => {
  server = await startConclave();
});
after(async () => {
  for (const c of clients) c.close();
  await server.stop();
});

describe("etcd3 npm client", () => {
  test("KV: put, get, prefix, delete and a Txn with both branches", async () => {
    const c = connect();
    await c.put("kv/a").value("1");
    await c.put("kv/b").value("2");
    assert.equal(await c.get("kv/a").string(), "1");
    assert.deepEqual(await c.getAll().prefix("kv/").strings(), { "kv/a": "1", "kv/b": "2" });
    const yes = await c
      .if("kv/a", "Value", "==", "1")
      .then(c.put("kv/a").value("one"))
      .else(c.get("kv/a"))
      .commit();
    const no = await c
      .if("kv/a", "Value", "==", "1")
      .then(c.put("kv/a").value("uno"))
      .else(c.get("kv/a"))
      .commit();
    assert.deepEqual([yes.succeeded, no.succeeded], [true, false]);
    assert.equal(await c.get("kv/a").string(), "one");
    assert.equal(
      await c
        .delete()
        .prefix("kv/")
        .then((r) => r.deleted),
      "2",
    );
    assert.equal(await c.get("kv/a").string(), null);
  });

  test("watch: puts and deletes arrive in order", async () => {
    const c = connect();
    const w = await c.watch().prefix("w/").create();
    const seen: string[] = [];
    w.on("put", (kv) => seen.push(`put ${kv.key.toString()}=${kv.value.toString()}`));
    w.on("delete", (kv) => seen.push(`delete ${kv.key.toString()}`));
    await c.put("w/1").value("a");
    await c.put("w/1").value("b");
    await c.delete().key("w/1");
    for (let i = 0; i < 100 && seen.length < 3; i++) await sleep(20);
    await w.cancel();
    assert.deepEqual(seen, ["put w/1=a", "put w/1=b", "delete w/1"]);
  });

  test("compacted history: the etcd error text", async () => {
    const c = connect();
    await c.put("h").value("1");
    await c.put("h").value("2");
    const head = Number((await c.get("h").exec()).header.revision);
    // etcd3 has no compact() helper; its raw KV service client has.
    await c.kv.compact({ revision: String(head) });
    await assert.rejects(
      c
        .get("h")
        .revision(head - 1)
        .exec(),
      /etcdserver: mvcc: required revision has been compacted/,
    );
  });

  test("leases: keep-alives, keys attached, revoke deletes them", async () => {
    const c = connect();
    const lease = c.lease(5);
    const renewed = first<{ TTL: string }>("a keep-alive", (cb) =>
      lease.on("keepaliveSucceeded", cb),
    );
    await lease.put("lease/k").value("v");
    assert.equal((await renewed).TTL, "5");
    assert.equal(await c.get("lease/k").string(), "v");
    await lease.revoke();
    assert.equal(await c.get("lease/k").string(), null);
  });

  test("locks: etcd3's try-lock fails while held and succeeds after release", async () => {
    const a = connect();
    const b = connect();
    const la = a.lock("jobs");
    await la.acquire();
    // The lock is an ordinary key attached to the holder's lease.
    const held = await b.get("jobs").exec();
    assert.equal(held.kvs[0]?.lease, await la.leaseId());
    await assert.rejects(b.lock("jobs").acquire(), EtcdLockFailedError);
    await la.release();
    const lb = b.lock("jobs");
    await lb.acquire();
    await lb.release();
  });

  test("elections: campaign, observe, resign hands over", async () => {
    const a = connect();
    const b = connect();
    const observer = await connect().election("primary").observe();
    const leaders: string[] = [];
    observer.on("change", (leader) => leaders.push(leader ?? "(none)"));
    const ca = a.election("primary").campaign("node-a");
    await first<void>("a elected", (cb) => ca.on("elected", () => cb()));
    const cb = b.election("primary").campaign("node-b");
    let bElected = false;
    cb.on("elected", () => {
      bElected = true;
    });
    await sleep(200);
    assert.equal(bElected, false);
    assert.equal(await a.election("primary").leader(), "node-a");
    await ca.resign();
    for (let i = 0; i < 100 && !bElected; i++) await sleep(20);
    assert.equal(bElected, true);
    assert.equal(await a.election("primary").leader(), "node-b");
    for (let i = 0; i < 100 && !leaders.includes("node-b"); i++) await sleep(20);
    assert.deepEqual(leaders.slice(-2), ["node-a", "node-b"]);
    await cb.resign();
    await observer.cancel();
  });
});

describe("etcd3 npm client: auth over TLS", () => {
  const certs = createTestCerts();
  let tls: RunningServer;
  const open: Etcd3[] = [];
  const client = (auth?: { username: string; password: string }) => {
    const c = new Etcd3({
      hosts: tls.url,
      credentials: { rootCertificate: certs.read(certs.ca.cert) },
      ...(auth !== undefined && { auth }),
    });
    open.push(c);
    return c;
  };

  before(async () => {
    tls = await startConclave({
      scheme: "https",
      args: ["--cert-file", certs.server.cert, "--key-file", certs.server.key],
    });
  });
  after(async () => {
    for (const c of open) c.close();
    await tls.stop();
  });

  test("users, roles and permissions through etcd3's API; its error classes match our messages", async () => {
    const admin = client();
    await admin.role("root").create();
    await admin.user("root").create("rootpw");
    await admin.user("root").addRole("root");
    await admin.role("app").create();
    await admin
      .role("app")
      .grant({ permission: "Readwrite", range: admin.range({ prefix: "app/" }) });
    await admin.user("alice").create("alicepw");
    await admin.user("alice").addRole("app");
    await assert.rejects(admin.user("alice").create("again"), EtcdUserExistsError);
    await assert.rejects(admin.user("alice").addRole("nope"), EtcdRoleNotFoundError);
    await admin.auth.authEnable({});

    const alice = client({ username: "alice", password: "alicepw" });
    await alice.put("app/x").value("1");
    assert.equal(await alice.get("app/x").string(), "1");
    await assert.rejects(alice.put("other").value("1").exec(), EtcdPermissionDeniedError);
    await assert.rejects(alice.get("other").string(), EtcdPermissionDeniedError);
    // A Txn is checked on every branch, also the one not taken.
    await assert.rejects(
      alice
        .if("app/x", "Value", "==", "1")
        .then(alice.put("app/y").value("2"))
        .else(alice.put("other").value("2"))
        .commit(),
      EtcdPermissionDeniedError,
    );

    const wrong = client({ username: "alice", password: "nope" });
    await assert.rejects(wrong.get("app/x").string(), EtcdAuthenticationFailedError);

    const root = client({ username: "root", password: "rootpw" });
    await root.put("other").value("by root");
    assert.equal(await root.get("other").string(), "by root");
    await root.auth.authDisable({});
    assert.equal(await admin.get("other").string(), "by root");
  });
});
