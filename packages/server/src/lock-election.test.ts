import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Election, KV, Lease, Lock } from "@conclave/proto";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { errorInterceptor } from "./error-interceptor.js";
import { createRoutes } from "./routes.js";
import { closeServerContext, openServerContext, type ServerContext } from "./server-context.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
let ctx: ServerContext;
let kv: ReturnType<typeof createClient<typeof KV>>;
let lock: ReturnType<typeof createClient<typeof Lock>>;
let election: ReturnType<typeof createClient<typeof Election>>;
let lease: ReturnType<typeof createClient<typeof Lease>>;

before(async () => {
  ctx = await openServerContext({ dataDir: ":memory:" });
  const transport = createRouterTransport(createRoutes(ctx), {
    router: { interceptors: [errorInterceptor] },
  });
  kv = createClient(KV, transport);
  lock = createClient(Lock, transport);
  election = createClient(Election, transport);
  lease = createClient(Lease, transport);
});
after(async () => {
  await closeServerContext(ctx);
});

const grant = async () => (await lease.leaseGrant({ TTL: 30n })).ID;

describe("v3lockpb.Lock", () => {
  it("uses name/<lease hex> keys visible to Range, is re-entrant, and serves waiters FIFO", async () => {
    const [l1, l2, l3] = [await grant(), await grant(), await grant()];
    const a = await lock.lock({ name: enc.encode("L"), lease: l1 });
    assert.equal(dec.decode(a.key), `L/${l1.toString(16)}`);
    const again = await lock.lock({ name: enc.encode("L"), lease: l1 });
    assert.equal(dec.decode(again.key), dec.decode(a.key));
    const seen = await kv.range({ key: a.key });
    assert.equal(seen.kvs.length, 1);
    const order: string[] = [];
    const p2 = lock
      .lock({ name: enc.encode("L"), lease: l2 })
      .then((r) => order.push(dec.decode(r.key)));
    await new Promise((r) => setTimeout(r, 20));
    const p3 = lock
      .lock({ name: enc.encode("L"), lease: l3 })
      .then((r) => order.push(dec.decode(r.key)));
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(order, []);
    await lock.unlock({ key: a.key });
    await p2;
    assert.deepEqual(order, [`L/${l2.toString(16)}`]);
    await lock.unlock({ key: enc.encode(order[0] ?? "") });
    await p3;
    assert.equal(order.length, 2);
  });

  it("a revoked holder lease releases the lock", async () => {
    const [l1, l2] = [await grant(), await grant()];
    await lock.lock({ name: enc.encode("R"), lease: l1 });
    const waiting = lock.lock({ name: enc.encode("R"), lease: l2 });
    await lease.leaseRevoke({ ID: l1 });
    const got = await waiting;
    assert.equal(dec.decode(got.key), `R/${l2.toString(16)}`);
  });

  it("lease 0 gets a server-granted 60 s lease", async () => {
    const r = await lock.lock({ name: enc.encode("Z"), lease: 0n });
    const id = BigInt(`0x${dec.decode(r.key).split("/")[1]}`);
    const ttl = await lease.leaseTimeToLive({ ID: id });
    assert.equal(ttl.grantedTTL, 60n);
  });

  it("8 contenders each get the lock in turn, never two at once", async () => {
    const leases = await Promise.all(Array.from({ length: 8 }, grant));
    const name = enc.encode("contended");
    let holders = 0;
    let maxHolders = 0;
    let acquisitions = 0;
    await Promise.all(
      leases.map(async (id) => {
        for (let i = 0; i < 10; i++) {
          const r = await lock.lock({ name, lease: id });
          holders++;
          maxHolders = Math.max(maxHolders, holders);
          acquisitions++;
          await new Promise((res) => setImmediate(res));
          holders--;
          await lock.unlock({ key: r.key });
        }
      }),
    );
    assert.equal(acquisitions, 80);
    assert.equal(maxHolders, 1);
  });
});

describe("v3electionpb.Election", () => {
  it("campaign, proclaim, leader, observe, resign with etcd's errors", async () => {
    const name = enc.encode("E");
    await assert.rejects(
      election.leader({ name }),
      (e) =>
        e instanceof ConnectError &&
        e.code === Code.Unknown &&
        e.rawMessage === "election: no leader",
    );
    const [l1, l2] = [await grant(), await grant()];
    const c1 = await election.campaign({ name, lease: l1, value: enc.encode("one") });
    assert.equal(dec.decode(c1.leader?.key ?? new Uint8Array()), `E/${l1.toString(16)}`);
    const abort = new AbortController();
    const seen: string[] = [];
    const observing = (async () => {
      for await (const r of election.observe({ name }, { signal: abort.signal })) {
        seen.push(dec.decode(r.kv?.value ?? new Uint8Array()));
      }
    })().catch(() => undefined);
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    const c2p = election.campaign({ name, lease: l2, value: enc.encode("two") });
    await election.proclaim({ leader: c1.leader, value: enc.encode("one-b") });
    assert.equal(
      dec.decode((await election.leader({ name })).kv?.value ?? new Uint8Array()),
      "one-b",
    );
    await assert.rejects(
      election.proclaim({ leader: { ...c1.leader, rev: 1n } as never, value: enc.encode("x") }),
      (e) =>
        e instanceof ConnectError &&
        e.code === Code.Unknown &&
        e.rawMessage === "election: not leader",
    );
    await assert.rejects(
      election.proclaim({ value: enc.encode("x") }),
      (e) => e instanceof ConnectError && e.rawMessage === '"leader" field must be provided',
    );
    await election.resign({ leader: c1.leader });
    const c2 = await c2p;
    assert.equal(dec.decode(c2.leader?.key ?? new Uint8Array()), `E/${l2.toString(16)}`);
    await new Promise((r) => setTimeout(r, 30));
    abort.abort();
    await observing;
    assert.deepEqual(seen, ["one", "one-b", "two"]);
  });
});
