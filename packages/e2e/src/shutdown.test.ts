// Graceful shutdown of the conclave CLI: SIGTERM with writes in flight over
// h2c and HTTP/1.1 answers or refuses each of them, exits 0 within a few
// seconds, and keeps every write it acknowledged.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { type RunningServer, startConclave } from "@conclave/testkit";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  bytes,
  etcdClients,
  expectConnectError,
  type Protocol,
  prefixEnd,
  text,
  transportFor,
} from "./clients.js";

/** Sends SIGTERM and resolves with the exit code and how long the exit took. */
async function timedStop(server: RunningServer) {
  const t0 = performance.now();
  const code = await server.stop();
  return { code, ms: Math.round(performance.now() - t0) };
}

describe("graceful shutdown (SIGTERM)", () => {
  let server: RunningServer;
  const servers: RunningServer[] = [];

  async function start(dataDir?: string) {
    const s = await startConclave(dataDir === undefined ? {} : { dataDir });
    servers.push(s);
    return s;
  }

  before(async () => {
    server = await start();
  });

  after(async () => {
    for (const s of servers) await s.kill();
    for (const d of new Set(servers.map((s) => s.dataDir)))
      rmSync(d, { recursive: true, force: true });
  });

  test("50 puts in flight over h2c and HTTP/1.1: exit 0 within 3 s, acknowledged puts survive", async (t) => {
    const protocolsInUse: Protocol[] = ["grpc", "connect-binary", "connect-json", "grpc-web"];
    const clients = protocolsInUse.map((p) => etcdClients(transportFor(p, server.url)).kv);
    // Open the connections first, so the puts below are in flight, not connecting.
    for (const [i, kv] of clients.entries()) {
      await kv.put({ key: bytes(`s/warmup-${i}`), value: bytes("w") });
    }

    const acked = new Map<string, { value: string; rev: bigint }>();
    const failures: ConnectError[] = [];
    let outstanding = 0;
    const puts = Array.from({ length: 50 }, async (_, i) => {
      const kv = clients[i % clients.length];
      assert.ok(kv);
      const key = `s/${String(i).padStart(2, "0")}`;
      const value = `value ${i}`;
      outstanding++;
      try {
        const r = await kv.put({ key: bytes(key), value: bytes(value) }, { timeoutMs: 15_000 });
        acked.set(key, { value, rev: r.header?.revision ?? 0n });
      } catch (e) {
        failures.push(ConnectError.from(e));
      } finally {
        outstanding--;
      }
    });
    // SIGTERM once the first put is answered, while the others are in flight.
    while (acked.size === 0 && outstanding > 0) await new Promise((r) => setImmediate(r));
    const inFlight = outstanding;
    const stopped = timedStop(server);
    await Promise.all(puts);
    const { code, ms } = await stopped;

    t.diagnostic(
      `in flight at SIGTERM: ${inFlight}; acknowledged: ${acked.size}; failed: ${failures
        .map((f) => Code[f.code])
        .join(",")}; exit after ${ms} ms`,
    );
    assert.ok(inFlight > 0, "puts were in flight at SIGTERM");
    assert.equal(code, 0, `exit code; output:\n${server.output()}`);
    assert.ok(ms < 3_000, `exited ${ms} ms after SIGTERM`);
    assert.ok(acked.size >= 1);
    for (const f of failures) {
      // Refused or cut off, but never left hanging until the client gave up.
      assert.notEqual(Code[f.code], Code[Code.DeadlineExceeded], f.rawMessage);
    }

    const restarted = await start(server.dataDir);
    const kv = etcdClients(transportFor("grpc", restarted.url)).kv;
    const r = await kv.range({ key: bytes("s/"), rangeEnd: prefixEnd("s/") });
    const found = new Map(r.kvs.map((x) => [text(x.key), x]));
    const lost: string[] = [];
    for (const [key, { value, rev }] of acked) {
      const got = found.get(key);
      if (got === undefined) {
        lost.push(key);
        continue;
      }
      assert.equal(text(got.value), value, key);
      assert.equal(got.modRevision, rev, `mod_revision of ${key}`);
    }
    assert.deepEqual(lost, [], "acknowledged puts lost by a graceful shutdown");
    // Every key was written once: the revisions are exactly 2..current, no gaps.
    const revs = r.kvs.map((x) => Number(x.modRevision)).sort((a, b) => a - b);
    assert.deepEqual(
      revs,
      Array.from({ length: revs.length }, (_, i) => i + 2),
    );
    assert.equal(r.header?.revision, BigInt(revs.length + 1));
    assert.equal((await timedStop(restarted)).code, 0);
  });

  test("idle client connections (h2c session, HTTP/1.1 keep-alive) do not delay the exit", async () => {
    const s = await start();
    for (const p of ["grpc", "connect-json", "grpc-web"] as const) {
      await etcdClients(transportFor(p, s.url)).kv.put({ key: bytes(p), value: bytes("x") });
    }
    const { code, ms } = await timedStop(s);
    assert.equal(code, 0);
    assert.ok(ms < 2_000, `exited ${ms} ms after SIGTERM`);
  });

  test("a gRPC request refused as too large does not hold the exit for the grace period", async () => {
    const s = await start();
    const kv = etcdClients(transportFor("grpc", s.url)).kv;
    await expectConnectError(
      kv.put({ key: bytes("huge"), value: new Uint8Array(2_200_000) }),
      Code.ResourceExhausted,
      /^grpc: received message larger than max \(\d+ vs\. 2097152\)$/,
    );
    assert.equal((await kv.range({ key: bytes("huge") })).count, 0n);
    const { code, ms } = await timedStop(s);
    assert.equal(code, 0);
    // The refused stream was answered; the server should end it (RST_STREAM
    // NO_ERROR, RFC 9113 §8.1) instead of waiting for a body it will not read.
    assert.ok(ms < 2_000, `exited ${ms} ms after SIGTERM`);
  });

  test("the last write before SIGTERM survives and nothing is logged at error level", async () => {
    const s = await start();
    const kv = etcdClients(transportFor("grpc", s.url)).kv;
    const put = await kv.put({ key: bytes("last"), value: bytes("write") });
    const { code } = await timedStop(s);
    assert.equal(code, 0);
    assert.doesNotMatch(s.output(), /"level":(50|60)/, "pino error/fatal lines while stopping");
    const again = await start(s.dataDir);
    const got = await etcdClients(transportFor("grpc", again.url)).kv.range({ key: bytes("last") });
    assert.equal(got.kvs[0]?.modRevision, put.header?.revision);
    assert.equal((await timedStop(again)).code, 0);
  });
});
