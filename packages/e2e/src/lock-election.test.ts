import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Election, EventReason, LeaderElectionService, Lease, Lock } from "@conclave/proto";
import { type RunningServer, startConclave, startEtcd } from "@conclave/testkit";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";

const enc = new TextEncoder();
const dec = new TextDecoder();
const servers: Record<"conclave" | "etcd", RunningServer | undefined> = {
  conclave: undefined,
  etcd: undefined,
};

before(async () => {
  [servers.conclave, servers.etcd] = await Promise.all([startConclave(), startEtcd()]);
});
after(async () => {
  await Promise.all([servers.conclave?.stop(), servers.etcd?.stop()]);
});

function clients(t: Transport) {
  return {
    lock: createClient(Lock, t),
    election: createClient(Election, t),
    lease: createClient(Lease, t),
  };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const unknownWith = (msg: string) => (e: unknown) =>
  e instanceof ConnectError && e.code === Code.Unknown && e.rawMessage === msg;

// The same scenarios against Conclave and a real etcd 3.4.23 (whose server-side
// v3lock / v3election services are what jetcd calls).
for (const name of ["conclave", "etcd"] as const) {
  describe(`v3lock / v3election over gRPC: ${name}`, () => {
    const c = () => clients(createGrpcTransport({ baseUrl: (servers[name] as RunningServer).url }));

    it("Lock: name/<lease hex> keys, FIFO waiters, hand-over on unlock and on lease revoke", async () => {
      const { lock, lease } = c();
      const ids = await Promise.all(
        [1, 2, 3].map(async () => (await lease.leaseGrant({ TTL: 30n })).ID),
      );
      const [l1, l2, l3] = ids as [bigint, bigint, bigint];
      const held = await lock.lock({ name: enc.encode("wire-lock"), lease: l1 });
      assert.equal(dec.decode(held.key), `wire-lock/${l1.toString(16)}`);
      const order: string[] = [];
      const w2 = lock.lock({ name: enc.encode("wire-lock"), lease: l2 }).then((r) => {
        order.push(dec.decode(r.key));
        return r;
      });
      await sleep(100);
      const w3 = lock.lock({ name: enc.encode("wire-lock"), lease: l3 }).then((r) => {
        order.push(dec.decode(r.key));
        return r;
      });
      await sleep(100);
      assert.deepEqual(order, []);
      await lock.unlock({ key: held.key });
      const r2 = await w2;
      await sleep(100);
      assert.deepEqual(order, [`wire-lock/${l2.toString(16)}`]);
      await lease.leaseRevoke({ ID: l2 }); // the holder's lease goes: the lock passes on
      const r3 = await w3;
      assert.equal(dec.decode(r3.key), `wire-lock/${l3.toString(16)}`);
      assert.ok((r3.header?.revision ?? 0n) > (r2.header?.revision ?? 0n));
      await lock.unlock({ key: r3.key });
    });

    it("Lock/Unlock errors are plain errors (Unknown) with the KV API's text", async () => {
      const { lock } = c();
      await assert.rejects(
        lock.lock({ name: enc.encode("err-lock"), lease: 0x7eadbeefn }),
        unknownWith("etcdserver: requested lease not found"),
      );
      await assert.rejects(
        lock.unlock({ key: new Uint8Array(0) }),
        unknownWith("etcdserver: key is not provided"),
      );
    });

    it("Election: errors, campaign, proclaim, observe order, resign", async () => {
      const { election, lease } = c();
      const ename = enc.encode(`wire-elect-${name}`);
      await assert.rejects(election.leader({ name: ename }), unknownWith("election: no leader"));
      await assert.rejects(
        election.proclaim({ value: enc.encode("x") }),
        unknownWith('"leader" field must be provided'),
      );
      await assert.rejects(election.resign({}), unknownWith('"leader" field must be provided'));
      const [la, lb] = await Promise.all(
        [1, 2].map(async () => (await lease.leaseGrant({ TTL: 30n })).ID),
      );
      const a = await election.campaign({
        name: ename,
        lease: la as bigint,
        value: enc.encode("a1"),
      });
      assert.equal(
        dec.decode(a.leader?.key ?? new Uint8Array()),
        `wire-elect-${name}/${(la as bigint).toString(16)}`,
      );
      const abort = new AbortController();
      const seen: string[] = [];
      const observing = (async () => {
        for await (const r of election.observe({ name: ename }, { signal: abort.signal })) {
          seen.push(dec.decode(r.kv?.value ?? new Uint8Array()));
        }
      })().catch(() => undefined);
      for (let i = 0; i < 50 && seen.length === 0; i++) await sleep(20);
      const bCampaign = election.campaign({
        name: ename,
        lease: lb as bigint,
        value: enc.encode("b1"),
      });
      await sleep(100);
      await election.proclaim({ leader: a.leader, value: enc.encode("a2") });
      await assert.rejects(
        election.proclaim({ leader: { ...a.leader, rev: 1n } as never, value: enc.encode("zz") }),
        unknownWith("election: not leader"),
      );
      const leaderNow = await election.leader({ name: ename });
      assert.equal(dec.decode(leaderNow.kv?.value ?? new Uint8Array()), "a2");
      await election.resign({ leader: a.leader });
      const b = await bCampaign;
      assert.equal(
        dec.decode(b.leader?.key ?? new Uint8Array()),
        `wire-elect-${name}/${(lb as bigint).toString(16)}`,
      );
      for (let i = 0; i < 50 && seen.length < 3; i++) await sleep(20);
      abort.abort();
      await observing;
      assert.deepEqual(seen, ["a1", "a2", "b1"]);
      await election.resign({ leader: b.leader });
    });
  });
}

describe("conclave.v1.LeaderElectionService over Connect JSON (HTTP/1.1, as browsers and curl)", () => {
  it("curl-style unary JSON and a streamed Events feed", async () => {
    const url = (servers.conclave as RunningServer).url;
    const post = async (method: string, body: unknown) => {
      const res = await fetch(`${url}/conclave.v1.LeaderElectionService/${method}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const grant = await fetch(`${url}/etcdserverpb.Lease/LeaseGrant`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ TTL: 30 }),
    });
    const leaseId = ((await grant.json()) as { ID: string }).ID;
    const entered = await post("Enter", { election: "web", candidateId: "tab-1", lease: leaseId });
    assert.equal(entered.status, 200);
    assert.deepEqual((entered.json.term as Record<string, unknown>).candidates, ["tab-1"]);
    assert.equal((entered.json.term as Record<string, unknown>).term, "1");
    const missing = await post("Promote", { election: "web", candidateId: "nobody" });
    assert.equal(missing.status, 404);
    assert.equal(missing.json.code, "not_found");

    const le = createClient(
      LeaderElectionService,
      createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
    );
    const abort = new AbortController();
    const reasons: string[] = [];
    const reading = (async () => {
      for await (const ev of le.events({ election: "web" }, { signal: abort.signal })) {
        reasons.push(`${EventReason[ev.reason]}:${ev.candidateId}:${ev.term?.term}`);
      }
    })().catch(() => undefined);
    for (let i = 0; i < 50 && reasons.length === 0; i++) await sleep(20);
    await post("Enter", { election: "web", candidateId: "tab-2" });
    await fetch(`${url}/etcdserverpb.Lease/LeaseRevoke`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ID: leaseId }),
    });
    for (let i = 0; i < 100 && reasons.length < 4; i++) await sleep(20);
    abort.abort();
    await reading;
    assert.deepEqual(reasons, [
      "CURRENT:tab-1:1",
      "ENTERED:tab-2:1",
      "LEASE_EXPIRED:tab-1:2",
      "ELECTED:tab-2:2",
    ]);
  });
});
