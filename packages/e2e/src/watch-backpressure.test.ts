/**
 * A watcher whose client stops reading must not make the server buffer what
 * it cannot send, and a client that goes away must take its watchers and
 * their buffers with it — on every watch door, each driven by a real client
 * that is stopped (SIGSTOP) and then killed (SIGKILL): etcdctl over gRPC,
 * curl on the gateway's `/v3/watch`, curl speaking Connect to conclave.v1
 * Watch.
 *
 * The bound is generous and the workload large, so the test tells "bounded"
 * from "grows with the writes" and not one allocator's mood from another's:
 * 500 MB of 512 KiB values, compared with the same writes with no watcher
 * on the same server just before. (Rounds with no watcher at all differ by
 * up to ~60 MB of resident memory from one to the next here: malloc keeps
 * some of what the commits' buffers used. A watcher that buffered what it
 * could not send would add ~500 MB.)
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { KV } from "@conclave/proto";
import { type RunningServer, requireTool, startConclave } from "@conclave/testkit";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { bytes } from "./clients.js";

const valueBytes = 512 * 1024;
/** 1000 × 512 KiB = 500 MB per round. */
const putsPerRound = 1000;
/**
 * What the stopped clients may add to the peak: each holds at most its
 * backlog (4 MiB) plus one batch, but the peak of 8 concurrent 512 KiB puts
 * moves by more than that from round to round (a CI run measured +138 MB
 * with the three doors, on a loaded machine). A door that buffered what it
 * cannot send would add the whole round, ~500 MB, each.
 */
const allowedGrowthKb = 256 * 1024;

let server: RunningServer;
let kv: ReturnType<typeof createClient<typeof KV>>;

function rssAnonKb(): number {
  const status = readFileSync(`/proc/${server.proc.pid}/status`, "utf8");
  const m = /^RssAnon:\s+(\d+) kB/m.exec(status);
  assert.ok(m, "RssAnon in /proc/<pid>/status");
  return Number(m[1]);
}

async function watcherTotal(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const m = /^etcd_debugging_mvcc_watcher_total (\d+)/m.exec(text);
  assert.ok(m, "etcd_debugging_mvcc_watcher_total in /metrics");
  return Number(m[1]);
}

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline)
      assert.fail(`timed out waiting for ${what}: ${await watcherTotal()} watchers`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Writes a round of big values under `prefix`, 8 at a time; returns the peak RssAnon seen. */
async function writeRound(prefix: string, compact = true): Promise<number> {
  const value = randomBytes(valueBytes);
  let peak = rssAnonKb();
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssAnonKb());
  }, 50);
  try {
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < putsPerRound) {
          const i = next++;
          await kv.put({ key: bytes(`${prefix}${i % 50}`), value });
        }
      }),
    );
  } finally {
    clearInterval(sampler);
  }
  // History is not what this test is about: give the file its pages back.
  if (compact) await compactAll();
  return Math.max(peak, rssAnonKb());
}

/** Compacts all history (a watcher still behind it is canceled, as in etcd). */
async function compactAll() {
  const { header } = await kv.range({ key: bytes("any") });
  await kv.compact({ revision: header?.revision ?? 0n, physical: true });
}

const b64 = (s: string) => Buffer.from(s).toString("base64");
const prefixEndOf = (s: string) =>
  s.slice(0, -1) + String.fromCharCode(s.charCodeAt(s.length - 1) + 1);

/** A Connect streaming request body: one enveloped JSON message (flags 0, big-endian length). */
function connectEnvelope(message: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(message));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(json.length, 1);
  return Buffer.concat([head, json]);
}

/** The real clients, each watching `prefix` and writing what it gets to nowhere. */
const doors: { name: string; start: (prefix: string) => ChildProcess }[] = [
  {
    name: "etcdctl over gRPC",
    start: (prefix) =>
      spawn(
        requireTool("etcdctl"),
        [`--endpoints=${server.endpoint}`, "watch", "--prefix", prefix],
        {
          stdio: ["ignore", "ignore", "ignore"],
        },
      ),
  },
  {
    name: "curl on the gateway's /v3/watch",
    start: (prefix) =>
      spawn(
        requireTool("curl"),
        [
          "-sN",
          "-o",
          "/dev/null",
          `${server.url}/v3/watch`,
          "-d",
          JSON.stringify({
            create_request: { key: b64(prefix), range_end: b64(prefixEndOf(prefix)) },
          }),
        ],
        { stdio: ["ignore", "ignore", "ignore"] },
      ),
  },
  {
    name: "curl on conclave.v1 Watch (Connect)",
    start: (prefix) => {
      const proc = spawn(
        requireTool("curl"),
        [
          "-sN",
          "--http1.1",
          "-o",
          "/dev/null",
          "-H",
          "Content-Type: application/connect+json",
          "--data-binary",
          "@-",
          `${server.url}/conclave.v1.WatchService/Watch`,
        ],
        { stdio: ["pipe", "ignore", "ignore"] },
      );
      proc.stdin?.end(connectEnvelope({ key: b64(prefix), prefix: true }));
      return proc;
    },
  },
];

before(async () => {
  server = await startConclave();
  kv = createClient(KV, createGrpcTransport({ baseUrl: server.url }));
  await writeRound("warm/"); // the heap grows to what the writes need
});

after(async () => {
  await server?.stop();
});

describe("watch back-pressure: clients that stop reading", () => {
  // The three doors together, on one prefix: any one of them buffering what
  // it cannot send would add the whole round (~500 MB). One round instead of
  // one per door keeps the suite short; the watcher count still tells each
  // client's release apart.
  it("memory stays bounded while they are stopped, and each is let go when it dies", async () => {
    const prefix = "wnr/";
    const noWatcherPeakKb = await writeRound("plain/");
    const baseline = await watcherTotal();
    const clients = doors.map((door) => {
      const proc = door.start(prefix);
      return { door, proc, exited: new Promise((resolve) => proc.once("exit", resolve)) };
    });
    try {
      await waitFor(
        "the watchers to start",
        async () => (await watcherTotal()) === baseline + clients.length,
      );
      for (const c of clients) c.proc.kill("SIGSTOP");
      // No compaction now: it would cancel the stopped watchers (they are
      // behind it), and their release is what is checked next.
      const peak = await writeRound(prefix, false);
      assert.ok(
        peak <= noWatcherPeakKb + allowedGrowthKb,
        `peak RssAnon ${peak} kB with stopped ${doors.map((d) => d.name).join(", ")}; the same writes with none peaked at ${noWatcherPeakKb} kB`,
      );
      let alive = clients.length;
      for (const c of clients) {
        c.proc.kill("SIGKILL");
        await c.exited;
        alive--;
        await waitFor(
          `the watcher of the dead ${c.door.name} client to go (${alive} left)`,
          async () => (await watcherTotal()) === baseline + alive,
        );
      }
    } finally {
      for (const c of clients) c.proc.kill("SIGKILL");
    }
    await compactAll();
    const afterKill = rssAnonKb();
    assert.ok(
      afterKill <= noWatcherPeakKb + allowedGrowthKb,
      `RssAnon ${afterKill} kB after the clients died (no-watcher peak ${noWatcherPeakKb} kB)`,
    );
  });
});
