import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ConclaveClient, createConclaveClient } from "./conclave-client.js";
import { type InProcessServer, startInProcessServer } from "./test/in-process-server.js";
import { toBytes, toText } from "./to-bytes.js";

let server: InProcessServer;
let client: ConclaveClient;
before(async () => {
  server = await startInProcessServer();
  client = createConclaveClient(server.transport);
});
after(async () => {
  client.close();
  await server.close();
});

describe("KV helpers", () => {
  it("put, get and delete with string or byte keys", async () => {
    const p = await client.put("greeting", "hello");
    assert.ok(p.revision > 0n);
    const kv = await client.get(toBytes("greeting"));
    assert.equal(toText(kv?.value), "hello");
    assert.equal(kv?.modRevision, p.revision);
    const again = await client.put(new Uint8Array([0xff, 0x00]), new Uint8Array([1, 2]), {
      prevKv: true,
    });
    assert.equal(again.prevKv, undefined);
    assert.deepEqual(
      (await client.get(new Uint8Array([0xff, 0x00])))?.value,
      new Uint8Array([1, 2]),
    );
    await client.delete(new Uint8Array([0xff, 0x00]));
    const d = await client.delete("greeting", { prevKv: true });
    assert.equal(d.deleted, 1n);
    assert.equal(toText(d.prevKvs[0]?.value), "hello");
    assert.equal(await client.get("greeting"), undefined);
  });

  it("ranges by prefix, from a key, with limit, sort and history", async () => {
    const first = await client.put("r/a", "1");
    await client.put("r/b", "2");
    await client.put("r/c", "3");
    await client.put("s", "x");
    const all = await client.range("r/", { prefix: true });
    assert.deepEqual(
      all.kvs.map((kv) => toText(kv.key)),
      ["r/a", "r/b", "r/c"],
    );
    const limited = await client.range("r/", {
      prefix: true,
      limit: 2,
      sort: { target: "key", order: "descend" },
    });
    assert.deepEqual(
      limited.kvs.map((kv) => toText(kv.key)),
      ["r/c", "r/b"],
    );
    assert.equal(limited.more, true);
    assert.equal(limited.count, 3n);
    const fromKey = await client.range("r/c", { fromKey: true, keysOnly: true });
    assert.deepEqual(
      fromKey.kvs.map((kv) => toText(kv.key)),
      ["r/c", "s"],
    );
    assert.equal(fromKey.kvs[0]?.value.length, 0);
    const past = await client.range("r/", { prefix: true, revision: first.revision });
    assert.equal(past.kvs.length, 1);
    const counted = await client.range("r/", { prefix: true, countOnly: true });
    assert.equal(counted.count, 3n);
    assert.equal(counted.kvs.length, 0);
    await assert.rejects(client.range("a", { prefix: true, fromKey: true }), TypeError);
    await client.delete("r/", { prefix: true });
    assert.equal((await client.range("r/", { prefix: true })).kvs.length, 0);
  });

  it("runs compare-and-swap transactions, nested ones included", async () => {
    const { revision } = await client.put("cas", "v1");
    const swap = (expect: string) =>
      client.txn({
        compare: [{ key: "cas", target: "value", op: "=", value: expect }],
        success: [{ put: { key: "cas", value: "v2" } }, { get: { key: "cas" } }],
        failure: [{ get: { key: "cas" } }],
      });
    const ok = await swap("v1");
    assert.equal(ok.succeeded, true);
    assert.ok(ok.revision > revision);
    const read = ok.responses[1]?.response;
    assert.equal(read?.case, "responseRange");
    const failed = await swap("v1");
    assert.equal(failed.succeeded, false);
    const r = await client.txn({
      compare: [
        { key: "cas", target: "modRevision", op: ">", value: revision },
        { key: "cas", target: "version", op: "=", value: 2 },
        { key: "missing", target: "createRevision", op: "=", value: 0 },
        { key: "cas", target: "lease", op: "=", value: 0n },
        { key: "cas", target: "value", op: "!=", value: "nope" },
        { key: "ca", prefix: true, target: "version", op: "<", value: 10 },
      ],
      success: [
        {
          txn: {
            compare: [{ key: "cas", target: "value", op: "=", value: "v2" }],
            success: [{ delete: { key: "cas" } }],
          },
        },
      ],
    });
    assert.equal(r.succeeded, true);
    assert.equal(await client.get("cas"), undefined);
  });

  it("attaches keys to leases and compacts history", async () => {
    const lease = await client.grantLease(30, { keepAlive: false });
    await client.put("leased", "x", { lease });
    assert.equal((await client.get("leased"))?.lease, lease.id);
    assert.deepEqual(
      (await lease.timeToLive()).keys.map((k) => toText(k)),
      ["leased"],
    );
    await lease.revoke();
    assert.equal(await client.get("leased"), undefined);
    const { revision } = await client.put("h", "1");
    await client.put("h", "2");
    await client.compact(revision);
    await assert.rejects(client.get("h", { revision: revision - 1n }), /compacted/);
  });
});
