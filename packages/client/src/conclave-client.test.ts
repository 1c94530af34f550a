// The client's own contract beyond each helper: what close() does to later
// and waiting calls, that one client can hold many leases and watches
// without stacking abort listeners, the release-on-exit helpers and
// `await using`, and string kinds next to protobuf enums.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { ClientClosedError } from "./client-closed-error.js";
import { type ConclaveClient, createConclaveClient } from "./conclave-client.js";
import { EventType } from "./index.js";
import {
  type InProcessServer,
  startInProcessServer,
  take,
  tick,
} from "./test/in-process-server.js";
import { toText } from "./to-bytes.js";

let server: InProcessServer;
let client: ConclaveClient;
before(async () => {
  server = await startInProcessServer();
  client = createConclaveClient(server.direct);
});
after(async () => {
  client.close();
  await server.close();
});

describe("close()", () => {
  it("makes every later call fail with ClientClosedError", async () => {
    const c = createConclaveClient(server.direct);
    await c.put("closed/a", "1");
    c.close();
    const isClosed = (e: unknown) =>
      e instanceof ClientClosedError &&
      e instanceof ConnectError &&
      e.code === Code.Canceled &&
      /client was closed/.test(e.message);
    await assert.rejects(c.put("closed/a", "2"), isClosed);
    await assert.rejects(c.get("closed/a"), isClosed);
    await assert.rejects(c.grantLease(10), isClosed);
    await assert.rejects(c.lock("closed-lock"), isClosed);
    await assert.rejects(c.services.kv.range({}), isClosed);
    assert.throws(() => c.watch("closed/"), isClosed);
    assert.throws(() => c.election("closed-e"), isClosed);
  });

  it("cuts a waiting lock short with ClientClosedError", async () => {
    const held = await client.lock("closed-wait");
    const c = createConclaveClient(server.direct);
    const waiting = c.lock("closed-wait");
    await tick(30);
    c.close();
    await assert.rejects(waiting, (e: unknown) => e instanceof ClientClosedError);
    await held.unlock();
  });
});

describe("many leases and watches on one client", () => {
  it("print no MaxListenersExceededWarning (100 of each, concurrently)", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    try {
      const c = createConclaveClient(server.direct);
      const leases = await Promise.all(Array.from({ length: 100 }, () => c.grantLease(30)));
      const from = (await c.put("many/start", "")).revision + 1n;
      const watches = Array.from({ length: 100 }, (_, i) =>
        c.watch(`many/${i}`, { startRevision: from }),
      );
      const firsts = watches.map((w) => take(w[Symbol.asyncIterator](), 1));
      await Promise.all(Array.from({ length: 100 }, (_, i) => c.put(`many/${i}`, "x")));
      const got = await Promise.all(firsts);
      assert.equal(got.length, 100);
      await Promise.all(leases.map((l) => l.revoke()));
      c.close();
      await tick(50); // warnings are emitted on the next tick
    } finally {
      process.off("warning", onWarning);
    }
    assert.deepEqual(
      warnings.map((w) => `${w.name}: ${w.message}`),
      [],
    );
  });
});

describe("held until the end of a block", () => {
  it("withLock unlocks when fn throws, and hands fn's error on", async () => {
    let key = "";
    await assert.rejects(
      client.withLock("held-1", (held) => {
        key = toText(held.key);
        throw new Error("boom");
      }),
      /boom/,
    );
    const r = await client.range(key);
    assert.equal(r.count, 0n, "the ownership key is gone");
    assert.equal(await client.withLock("held-1", () => 42), 42, "the lock is free again");
  });

  it("await using unlocks a lock and revokes its own lease, also on throw", async () => {
    let key = "";
    let leaseSignal: AbortSignal | undefined;
    await assert.rejects(async () => {
      await using held = await client.lock("held-2");
      key = toText(held.key);
      leaseSignal = held.signal;
      throw new Error("boom");
    }, /boom/);
    assert.equal((await client.range(key)).count, 0n);
    assert.equal(leaseSignal?.aborted, true, "the lock's own lease ended");
  });

  it("await using revokes a lease: its keys are deleted", async () => {
    {
      await using lease = await client.grantLease(30);
      await client.put("held/leased", "x", { lease });
      assert.equal((await client.range("held/leased")).count, 1n);
    }
    assert.equal((await client.range("held/leased")).count, 0n);
  });

  it("whileLeader resigns when fn throws; await using resigns leadership", async () => {
    const e = client.election("held-e");
    await assert.rejects(
      e.whileLeader("a", async (l) => {
        assert.equal(toText((await e.leader())?.value), "a");
        assert.equal(l.signal.aborted, false);
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.equal(await e.leader(), undefined);
    {
      await using _leadership = await e.campaign("b");
      assert.equal(toText((await e.leader())?.value), "b");
    }
    assert.equal(await e.leader(), undefined);
  });
});

describe("kinds as strings", () => {
  it("watch events carry kind next to the protobuf type", async () => {
    const w = client.watch("kinds/", { prefix: true });
    const it = w[Symbol.asyncIterator]();
    const next = take(it, 2);
    await tick(30);
    await client.put("kinds/a", "1");
    await client.delete("kinds/a");
    const updates = await next;
    const events = updates.flatMap((u) => (u.type === "events" ? u.events : []));
    assert.deepEqual(
      events.map((e) => [e.kind, e.type]),
      [
        ["put", EventType.PUT],
        ["delete", EventType.DELETE],
      ],
    );
    w.close();
  });

  it("leader election events carry kind next to reason", async () => {
    const le = client.leaderElection("kinds-le");
    await le.enter("a");
    const events = le.events();
    const it = events[Symbol.asyncIterator]();
    const [current] = await take(it, 1);
    assert.equal(current?.kind, "current");
    await le.enter("b");
    await le.withdraw("a");
    const kinds = (await take(it, 3)).map((e) => e.kind);
    assert.deepEqual(kinds, ["entered", "withdrew", "elected"]);
    events.close();
    await le.withdraw("b");
  });
});
