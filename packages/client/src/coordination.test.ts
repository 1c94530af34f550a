import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { EventReason } from "@conclave/proto";
import { Code, ConnectError } from "@connectrpc/connect";
import { type ConclaveClient, createConclaveClient } from "./conclave-client.js";
import {
  type InProcessServer,
  startInProcessServer,
  take,
  tick,
} from "./test/in-process-server.js";
import { toText } from "./to-bytes.js";

let server: InProcessServer;
let client: ConclaveClient;
let other: ConclaveClient;
before(async () => {
  server = await startInProcessServer();
  client = createConclaveClient(server.transport, { backoff: { initialMs: 10, maxMs: 40 } });
  other = createConclaveClient(server.direct);
});
after(async () => {
  client.close();
  other.close();
  await server.close();
});

describe("locks", () => {
  it("serialize holders; unlock hands over and revokes the lock's own lease", async () => {
    const a = await client.lock("jobs-lock");
    assert.ok(toText(a.key).startsWith("jobs-lock/"));
    let bHeld = false;
    const b = other.lock("jobs-lock").then((h) => {
      bHeld = true;
      return h;
    });
    await tick(50);
    assert.equal(bHeld, false);
    await a.unlock();
    const held = await b;
    assert.equal(bHeld, true);
    assert.equal(typeof a.lease === "bigint", false);
    const ownLease = a.lease as { signal: AbortSignal };
    assert.equal(ownLease.signal.aborted, true, "a's session lease is revoked");
    await held.unlock();
  });

  it("a waiter that gives up leaves the line", async () => {
    const a = await client.lock("l2", { ttl: 10 });
    const abort = new AbortController();
    const waiting = other.lock("l2", { signal: abort.signal });
    await tick(30);
    abort.abort();
    await assert.rejects(
      waiting,
      (e: unknown) => e instanceof ConnectError && e.code === Code.Canceled,
    );
    await a.unlock();
    const c = await client.lock("l2");
    await c.unlock();
  });
});

describe("etcd elections", () => {
  it("campaign, proclaim, observe (deduplicated across reconnects) and resign", async () => {
    const e = client.election("e1");
    assert.equal(await e.leader(), undefined);
    const lead = await e.campaign("v1");
    assert.equal(toText((await e.leader())?.value), "v1");
    const obs = e.observe();
    const it = obs[Symbol.asyncIterator]();
    const [current] = await take(it, 1);
    assert.equal(toText(current?.value), "v1");
    server.disconnect(); // reconnect: Observe sends v1 again; the client drops it
    await tick(60);
    await lead.proclaim("v2");
    const [next] = await take(it, 1);
    assert.equal(toText(next?.value), "v2");
    const follower = other.election("e1").campaign("f");
    await lead.resign();
    const [handover] = await take(it, 1);
    assert.equal(toText(handover?.value), "f");
    await (await follower).resign();
    obs.close();
  });
});

describe("conclave leader election", () => {
  it("enter, withdraw and events; reconnects replay missed changes, or resync after compaction", async () => {
    const le = client.leaderElection("le1");
    assert.equal(await le.term(), undefined);
    const lease = await client.grantLease(30);
    const t1 = await le.enter("a", { lease });
    assert.equal(t1.leader, "a");
    const events = le.events();
    const it = events[Symbol.asyncIterator]();
    const [cur] = await take(it, 1);
    assert.deepEqual(
      [cur?.reason, cur?.term.leader, cur?.resync],
      [EventReason.CURRENT, "a", false],
    );
    await le.enter("b");
    const [entered] = await take(it, 1);
    assert.deepEqual([entered?.reason, entered?.candidateId], [EventReason.ENTERED, "b"]);

    // A reconnect with nothing new: no event repeats.
    server.disconnect();
    await tick(60);
    // Changes while unreachable are replayed on reconnect, each once.
    server.setDown(true);
    await other.leaderElection("le1").withdraw("a");
    server.setDown(false);
    const replayed = await take(it, 2);
    assert.deepEqual(
      replayed.map((e) => [e.reason, e.candidateId, e.term.term, e.resync]),
      [
        [EventReason.WITHDREW, "a", 2n, false],
        [EventReason.ELECTED, "b", 2n, false],
      ],
    );
    // Cut off while the history in between is compacted: one CURRENT with resync set.
    server.setDown(true);
    await other.leaderElection("le1").enter("c");
    const t = await other.leaderElection("le1").anoint("c");
    await other.compact(t.revision);
    server.setDown(false);
    const [resync] = await take(it, 1);
    assert.deepEqual(
      [resync?.reason, resync?.resync, resync?.term.leader, resync?.term.term],
      [EventReason.CURRENT, true, "c", 3n],
    );
    events.close();
    await le.withdraw("b");
    await le.withdraw("c");
    await lease.revoke();
  });

  it("a reconnect right after CURRENT does not repeat the change it summed up", async () => {
    const le = client.leaderElection("le-current");
    await other.leaderElection("le-current").enter("x"); // entered + elected, one revision
    const events = le.events();
    const it = events[Symbol.asyncIterator]();
    const [cur] = await take(it, 1);
    assert.deepEqual([cur?.reason, cur?.term.leader], [EventReason.CURRENT, "x"]);
    server.setDown(true);
    await other.leaderElection("le-current").enter("y");
    server.setDown(false);
    const [next] = await take(it, 1);
    assert.deepEqual([next?.reason, next?.candidateId], [EventReason.ENTERED, "y"]);
    events.close();
    await le.withdraw("x");
    await le.withdraw("y");
  });
  it("create, list and closeElection; events end after the close, also when it happened while disconnected", async () => {
    const names = async () =>
      (await client.listLeaderElections()).elections
        .map((t) => t.election)
        .filter((n) => n.startsWith("le-life"));
    const le = client.leaderElection("le-life");
    const created = await le.create();
    assert.deepEqual([created.created, created.term, created.leader], [true, 0n, ""]);
    assert.deepEqual((await le.create()).revision, created.revision, "idempotent");
    await other.leaderElection("le-life-2").enter("x");
    assert.deepEqual(await names(), ["le-life", "le-life-2"]);
    const list = await client.listLeaderElections();
    assert.ok(list.revision >= created.revision);

    // Live: the stream ends by itself after "closed".
    await le.enter("a");
    const events = le.events();
    const it = events[Symbol.asyncIterator]();
    const [cur] = await take(it, 1);
    assert.equal(cur?.kind, "current");
    const closed = await other.leaderElection("le-life").closeElection();
    assert.deepEqual([closed.candidates, closed.leader, closed.created], [[], "", false]);
    const [end] = await take(it, 1);
    assert.deepEqual([end?.kind, end?.candidateId, end?.term.term], ["closed", "a", 1n]);
    assert.deepEqual(await it.next(), { done: true, value: undefined });
    assert.deepEqual(await names(), ["le-life-2"]);

    // Closed while this client was cut off: the reconnect replays it, then ends.
    const le2 = client.leaderElection("le-life-2");
    const events2 = le2.events();
    const it2 = events2[Symbol.asyncIterator]();
    await take(it2, 1);
    server.setDown(true);
    await other.leaderElection("le-life-2").enter("y");
    await other.leaderElection("le-life-2").closeElection();
    server.setDown(false);
    const replayed = await take(it2, 2);
    assert.deepEqual(
      replayed.map((e) => [e.kind, e.candidateId]),
      [
        ["entered", "y"],
        ["closed", "x"],
      ],
    );
    assert.deepEqual(await it2.next(), { done: true, value: undefined });
    const opened = server.opened.streams;
    await tick(100);
    assert.equal(server.opened.streams, opened, "no reconnect after the close");
    assert.deepEqual(await names(), []);

    // Entering again: a new term, listed again.
    const back = await le.enter("b");
    assert.deepEqual([back.leader, back.term], ["b", 2n]);
    assert.deepEqual(await names(), ["le-life"]);
    await le.closeElection();
    await assert.rejects(client.leaderElection("le-never").closeElection(), (e) => {
      return e instanceof ConnectError && e.code === Code.NotFound;
    });
  });
});
