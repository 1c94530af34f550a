// @conclave/client's resuming watch against the real conclave CLI: a watcher
// over connect-web (fetch, HTTP/1.1, as in a browser) or gRPC (h2c) keeps
// every revision exactly once across a kill -9 and restart of the server,
// and after its resume point was compacted while it was cut off, it gets a
// resync with the current state and then continues.
import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { after, describe, test } from "node:test";
import {
  type ConclaveClient,
  createConclaveClient,
  toText,
  type WatchUpdate,
} from "@conclave/client";
import { freePort, type RunningServer, startConclave } from "@conclave/testkit";
import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createConnectTransport } from "@connectrpc/connect-web";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The watcher's transports: what a browser uses, and what a Node service would. */
const transports: Record<string, (baseUrl: string) => Transport> = {
  "connect-web (fetch, HTTP/1.1)": (baseUrl) => createConnectTransport({ baseUrl }),
  "gRPC (h2c)": (baseUrl) => createGrpcTransport({ baseUrl }),
};

/** Reads a watch into an array in the background; `until` waits for a condition on it. */
function record(stream: AsyncIterable<WatchUpdate>) {
  const updates: WatchUpdate[] = [];
  let failure: unknown;
  const done = (async () => {
    try {
      for await (const u of stream) updates.push(u);
    } catch (err) {
      failure = err;
    }
  })();
  const revisions = () =>
    updates.flatMap((u) =>
      u.type === "events" ? u.events.map((e) => e.kv?.modRevision ?? -1n) : [],
    );
  return {
    updates,
    revisions,
    done,
    async until(what: string, cond: () => boolean, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!cond()) {
        if (failure !== undefined) throw failure;
        if (Date.now() > deadline) {
          throw new Error(`timed out waiting for ${what}; saw ${revisions().length} events`);
        }
        await sleep(10);
      }
    },
  };
}

/**
 * A TCP proxy to the server that the test can cut: cutting destroys every
 * open connection and refuses new ones, as a network partition would, while
 * the server itself keeps running for other clients.
 */
async function startProxy(targetPort: number) {
  const sockets = new Set<Socket>();
  let up = true;
  const server: Server = createServer((client) => {
    if (!up) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    cut() {
      up = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      up = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("@conclave/client watch resumes against the real server", () => {
  const running: RunningServer[] = [];
  const clients: ConclaveClient[] = [];
  after(async () => {
    for (const c of clients) c.close();
    for (const s of running) await s.kill();
  });
  const client = (t: Transport, options = {}) => {
    const c = createConclaveClient(t, options);
    clients.push(c);
    return c;
  };

  for (const [name, makeTransport] of Object.entries(transports)) {
    test(`${name}: every revision exactly once, in order, across kill -9 and restart`, async () => {
      let server = await startConclave();
      running.push(server);
      const { port, dataDir } = server;
      const writer = client(createGrpcTransport({ baseUrl: server.url }));
      const watcher = client(makeTransport(server.url), {
        backoff: { initialMs: 50, maxMs: 400 },
      });
      const start = (await writer.put("other", "x")).revision + 1n;
      const disconnects: string[] = [];
      const w = watcher.watch("resume/", {
        prefix: true,
        startRevision: start,
        onDisconnect: (e) => disconnects.push(e.message),
      });
      const seen = record(w);

      // A writer that keeps going through the outage, retrying failed puts.
      let writing = true;
      let acked = 0;
      const writes = (async () => {
        for (let i = 0; writing; i++) {
          try {
            await writer.put(`resume/${i % 5}`, `${i}`);
            acked++;
          } catch {
            await sleep(50); // server down: try again
          }
          await sleep(3);
        }
      })();

      await seen.until("20 events before the kill", () => seen.revisions().length >= 20);
      await server.kill();
      await sleep(300);
      server = await startConclave({ dataDir, port });
      running.push(server);
      const afterRestart = acked;
      await seen.until("writes after the restart", () => acked >= afterRestart + 20);
      writing = false;
      await writes;
      const last = (await writer.range("resume/", { prefix: true, countOnly: true })).revision;
      await seen.until(`revision ${last}`, () => w.revision >= last);
      w.close();
      await seen.done;

      // Only this writer writes under resume/, and "other" came before start:
      // every revision from start to last is one of its puts.
      const expected = Array.from(
        { length: Number(last - start) + 1 },
        (_, i) => start + BigInt(i),
      );
      assert.deepEqual(seen.revisions(), expected);
      assert.ok(disconnects.length >= 1, "the watcher noticed the kill");
      assert.ok(seen.updates.every((u) => u.type === "events"));
    });
  }

  test("compacted while cut off: resync with the current state, then events continue", async () => {
    const server = await startConclave();
    running.push(server);
    const proxy = await startProxy(server.port);
    try {
      const writer = client(createGrpcTransport({ baseUrl: server.url }));
      const watcher = client(createConnectTransport({ baseUrl: proxy.url }), {
        backoff: { initialMs: 50, maxMs: 200 },
      });
      const w = watcher.watch("cmp/", { prefix: true });
      const seen = record(w);
      await sleep(200); // the stream is open (created)
      const a = await writer.put("cmp/a", "1");
      await seen.until("the first event", () => seen.revisions().length === 1);
      assert.deepEqual(seen.revisions(), [a.revision]);

      proxy.cut();
      await writer.put("cmp/b", "2");
      await writer.delete("cmp/a");
      const c = await writer.put("cmp/c", "3");
      await writer.compact(c.revision, { physical: true });
      await sleep(300); // reconnect attempts fail meanwhile
      proxy.restore();

      await seen.until("the resync", () => seen.updates.some((u) => u.type === "resync"));
      const resync = seen.updates.find((u) => u.type === "resync");
      assert.ok(resync?.type === "resync");
      assert.equal(resync.compactRevision, c.revision);
      assert.ok(resync.revision >= c.revision);
      assert.deepEqual(
        resync.kvs.map((kv) => `${toText(kv.key)}=${toText(kv.value)}`),
        ["cmp/b=2", "cmp/c=3"],
      );
      const d = await writer.put("cmp/d", "4");
      await seen.until("the event after the resync", () => seen.revisions().includes(d.revision));
      // Nothing from before the resync was replayed; events resumed right after it.
      assert.deepEqual(seen.revisions(), [a.revision, d.revision]);
      assert.deepEqual(
        seen.updates.map((u) => u.type),
        ["events", "resync", "events"],
      );
      w.close();
      await seen.done;
    } finally {
      await proxy.close();
    }
  });
});
