import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Event_EventType } from "@conclave/proto";
import { Code, ConnectError } from "@connectrpc/connect";
import { type ConclaveClient, createConclaveClient } from "./conclave-client.js";
import {
  type InProcessServer,
  startInProcessServer,
  take,
  tick,
} from "./test/in-process-server.js";
import { toText } from "./to-bytes.js";
import type { WatchUpdate } from "./watch-stream.js";

let server: InProcessServer;
let client: ConclaveClient;
/** Writes while `client`'s network is down. */
let writer: ConclaveClient;
const backoff = { initialMs: 10, maxMs: 40 };
before(async () => {
  server = await startInProcessServer();
  client = createConclaveClient(server.transport, { backoff });
  writer = createConclaveClient(server.direct);
});
after(async () => {
  client.close();
  writer.close();
  await server.close();
});

const revsOf = (updates: WatchUpdate[]) =>
  updates.flatMap((u) => (u.type === "events" ? u.events.map((e) => e.kv?.modRevision) : []));

/** Reads updates until they hold `n` events (catch-up may batch several revisions in one). */
async function takeEvents(it: AsyncIterator<WatchUpdate>, n: number): Promise<WatchUpdate[]> {
  const out: WatchUpdate[] = [];
  while (revsOf(out).length < n) {
    const [u] = await take(it, 1);
    if (u === undefined) break;
    out.push(u);
  }
  return out;
}

describe("watch", () => {
  it("streams changes of a prefix, with prev_kv and the revision reached", async () => {
    await client.put("w1/a", "old");
    const w = client.watch("w1/", { prefix: true, prevKv: true });
    const it = w[Symbol.asyncIterator]();
    const next = it.next(); // opens the stream
    await tick(30);
    const p = await client.put("w1/a", "new");
    await client.put("w2", "outside");
    const d = await client.delete("w1/a");
    const first = (await next).value as WatchUpdate;
    const [second] = await take(it, 1);
    assert.equal(first.type, "events");
    if (first.type !== "events" || second?.type !== "events") return;
    assert.equal(toText(first.events[0]?.prevKv?.value), "old");
    assert.equal(first.revision, p.revision);
    assert.equal(second.events[0]?.type, Event_EventType.DELETE);
    assert.equal(second.revision, d.revision);
    assert.equal(w.revision, d.revision);
    w.close();
    assert.equal((await it.next()).done, true, "close() ends the iteration without error");
  });

  it("delivers every revision exactly once, in order, across repeated disconnects", async () => {
    const start = (await client.put("noise", "x")).revision + 1n;
    const disconnects: Code[] = [];
    let connects = 0;
    const w = client.watch("dc/", {
      prefix: true,
      startRevision: start,
      onDisconnect: (e) => disconnects.push(e.code),
      onConnect: () => connects++,
    });
    const it = w[Symbol.asyncIterator]();
    const collecting = takeEvents(it, 60);
    const written: bigint[] = [];
    for (let i = 0; i < 60; i++) {
      written.push((await client.put(`dc/${i % 4}`, `${i}`)).revision);
      if (i % 7 === 3) server.disconnect();
      if (i % 13 === 5) await tick(15);
    }
    const updates = await collecting;
    assert.deepEqual(revsOf(updates), written);
    assert.ok(disconnects.length >= 5, `disconnects: ${disconnects.length}`);
    assert.ok(disconnects.every((c) => c === Code.Unavailable));
    assert.ok(connects >= 2);
    w.close();
  });

  it("catches up with what was written while the server was unreachable", async () => {
    const w = client.watch("down/", { prefix: true });
    const it = w[Symbol.asyncIterator]();
    const first = it.next();
    await tick(30);
    const a = await client.put("down/a", "1");
    assert.deepEqual(revsOf([(await first).value as WatchUpdate]), [a.revision]);
    server.setDown(true);
    const b = await writer.put("down/b", "2");
    const c = await writer.put("down/c", "3");
    await tick(100); // several failed reconnects
    server.setDown(false);
    const more = await takeEvents(it, 2);
    assert.deepEqual(revsOf(more), [b.revision, c.revision]);
    w.close();
  });

  it("resyncs with the current state when its resume point was compacted", async () => {
    const w = client.watch("cp/", { prefix: true });
    const it = w[Symbol.asyncIterator]();
    const first = it.next();
    await tick(30);
    await client.put("cp/a", "1");
    await first;
    server.setDown(true);
    await writer.put("cp/b", "2");
    await writer.delete("cp/a");
    const { revision } = await writer.put("cp/c", "3");
    await writer.compact(revision);
    server.setDown(false);
    const [resync] = await take(it, 1);
    const after = await writer.put("cp/d", "4");
    assert.equal(resync?.type, "resync");
    if (resync?.type !== "resync") return;
    assert.equal(resync.compactRevision, revision);
    assert.equal(resync.revision, revision);
    assert.deepEqual(
      resync.kvs.map((kv) => `${toText(kv.key)}=${toText(kv.value)}`),
      ["cp/b=2", "cp/c=3"],
    );
    const [next] = await take(it, 1);
    assert.deepEqual(revsOf(next === undefined ? [] : [next]), [after.revision]);
    w.close();
  });

  it("resyncs when asked for history that is gone, and ends at endRevision", async () => {
    await client.put("old/k", "1");
    const { revision } = await client.put("old/k", "2");
    await client.compact(revision);
    const w = client.watch("old/", {
      prefix: true,
      startRevision: 1,
      endRevision: revision + 2n,
    });
    // Iterating opens the stream; it ends by itself after endRevision.
    const all = take(w[Symbol.asyncIterator](), 10);
    await tick(50);
    const r1 = await client.put("old/k", "3");
    const r2 = await client.put("old/k", "4");
    await client.put("old/k", "5"); // after endRevision
    const updates = await all;
    assert.equal(updates[0]?.type, "resync");
    assert.equal(updates[0]?.revision, revision);
    assert.deepEqual(revsOf(updates), [r1.revision, r2.revision]);
    assert.equal(w.revision, revision + 2n);
  });

  it("fails on requests the server refuses, instead of retrying forever", async () => {
    const w = client.watch("b", { rangeEnd: "a" });
    await assert.rejects(take(w[Symbol.asyncIterator](), 1), (e: unknown) => {
      return e instanceof ConnectError && e.code === Code.InvalidArgument;
    });
  });

  it("client.close() ends every stream", async () => {
    const c = createConclaveClient(server.transport);
    const w = c.watch("x");
    const pending = w[Symbol.asyncIterator]().next();
    await tick(20);
    c.close();
    assert.equal((await pending).done, true);
  });
});
