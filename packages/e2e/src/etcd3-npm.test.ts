// The `etcd3` npm package (grpc-js, etcd's own protos) used unchanged against
// the conclave CLI: a client other TypeScript services already run against
// etcd. It builds locks and elections client-side out of Txn, Watch and
// leases, so it exercises those paths the way its users do.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Etcd3, EtcdLockFailedError } from "etcd3";
import { type RunningServer, startConclave } from "./processes.js";

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
    observer.on("change", (leader) => leaders.push(leader));
    const ca = a.election("primary").campaign("node-a");
    await first("a elected", (cb) => ca.on("elected", cb));
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
