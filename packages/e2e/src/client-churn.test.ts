// Clients connecting and closing around clients that stay: one client's
// teardown (its channels closed, its streams cancelled at once, its
// connection or TLS session ending) must never disturb another's calls or
// events. The etcd3 npm package (grpc-js) once failed its own election test
// against us that way: after two of three clients closed, the first one's
// resign() got `14 UNAVAILABLE: No connection established`, or an 'elected'
// event came late. grpc-js shares one subchannel (one HTTP/2 connection) among
// all clients of a process with the same target and credentials, so a close
// there is a stream-level event on a connection others still use; grpc-go
// (clientv3, via the Go program in apps/server/bench/go, workload "churn")
// opens a connection per client, so there a close is a whole connection
// going away. Every scenario runs over TLS and h2c, against conclave and
// against etcd 3.4 (the proof that the assertions hold for the reference).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type RunningServer, startConclave, startEtcd } from "@conclave/testkit";
import { type Campaign, Etcd3, EtcdLockFailedError, type IOptions } from "etcd3";
import { ensureGoBench, runGoBench } from "../../../apps/server/bench/go-client.js";
import { createTestCerts } from "./test-certs.js";

const certs = createTestCerts();
const tlsArgs = ["--cert-file", certs.server.cert, "--key-file", certs.server.key];

/**
 * Rounds of each scenario per transport against conclave. Default 25, so the
 * file takes about a minute on two cores; CHURN_ROUNDS=500 makes it a long
 * stress run.
 */
const rounds = Number(process.env.CHURN_ROUNDS ?? 25);
/**
 * Rounds against etcd: enough to show the assertions hold for the reference
 * (their point there), not a stress run of etcd.
 */
const referenceRounds = Math.min(rounds, 10);
/**
 * An 'elected', observe or watch event later than this fails, as does a call
 * that takes longer. Generous (answers take milliseconds) so a loaded
 * machine cannot fail it, far below what a lost connection costs (grpc-js
 * reconnects after a 1 s backoff and more, a lease runs out after its TTL).
 */
const lateMs = 3000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `promise`, or a rejection naming `what` once lateMs passed. */
function onTime<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${lateMs} ms`)), lateMs);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Polls `cond` every 5 ms; rejects naming `what` (and what `state` says) if
 * it does not hold within lateMs.
 */
async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  state: () => unknown = () => "",
): Promise<void> {
  const deadline = Date.now() + lateMs;
  while (!(await onTime(what, Promise.resolve(cond())))) {
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${lateMs} ms ${JSON.stringify(state())}`);
    }
    await sleep(5);
  }
}

/** Resolves when the campaign is elected (on time); its 'error' rejects. */
function elected(campaign: Campaign, who: string): Promise<void> {
  return onTime(
    `${who} elected`,
    new Promise<void>((resolve, reject) => {
      campaign.once("elected", () => resolve());
      campaign.once("error", reject);
    }),
  );
}

// A campaign that resigned while queued still waits, in etcd3's code, for its
// predecessor's key to go, on a watch. If its client closes while that watch
// is being created, etcd3 retries creating it every few seconds, forever (one
// round in a few hundred): nothing that reaches a server, but it would keep
// this process from exiting, and the suite waiting for it. So once every test
// here ended, the process is given 10 s to exit on its own and then ended.
after(() => {
  setTimeout(() => process.exit(), 10_000).unref();
});

const targets = [
  {
    name: "conclave over TLS",
    tls: true,
    rounds,
    start: () => startConclave({ scheme: "https", args: tlsArgs }),
  },
  { name: "conclave over h2c", tls: false, rounds, start: () => startConclave() },
  {
    name: "etcd over TLS",
    tls: true,
    rounds: referenceRounds,
    start: () => startEtcd({ scheme: "https", args: tlsArgs }),
  },
  { name: "etcd over h2c", tls: false, rounds: referenceRounds, start: () => startEtcd() },
] as const;

for (const target of targets) {
  const { rounds } = target;
  describe(`client churn: ${target.name}`, () => {
    let server: RunningServer;
    const open = new Set<Etcd3>();
    const connect = () => {
      const options: IOptions = { hosts: server.url };
      if (target.tls) options.credentials = { rootCertificate: certs.read(certs.ca.cert) };
      const c = new Etcd3(options);
      open.add(c);
      return c;
    };
    const close = (...cs: Etcd3[]) => {
      for (const c of cs) {
        c.close();
        open.delete(c);
      }
    };
    /** Number of candidates (keys) in election `name`, read by `c`. */
    const candidates = async (c: Etcd3, name: string) =>
      Number(await c.getAll().prefix(`election/${name}/`).count());

    before(async () => {
      server = await target.start();
    });
    after(async () => {
      close(...open);
      await server.stop();
    });

    test(`etcd3 (grpc-js): three observe, two campaign, the second resigns, two close, the first resigns; ${rounds} rounds`, async () => {
      for (let r = 0; r < rounds; r++) {
        const name = `scenario-${r}`;
        const [a, b, c] = [connect(), connect(), connect()];
        // The first client's failures are the test's; b's and c's streams
        // may end in errors once they closed.
        const failures: unknown[] = [];
        const seen: (string | undefined)[][] = [[], [], []];
        const observers = await Promise.all(
          [a, b, c].map((cl) => onTime(`observe (${r})`, cl.election(name).observe())),
        );
        observers.forEach((o, i) => {
          o.on("change", (leader) => seen[i]?.push(leader));
          o.on("error", (err) => (i === 0 ? failures.push(err) : undefined));
        });
        const ca = a.election(name).campaign("a");
        ca.on("error", (err) => failures.push(err));
        await elected(ca, `a (${r})`);
        await until(
          `every observer saw a lead (${r})`,
          () => seen.every((s) => s.at(-1) === "a"),
          () => seen,
        );
        const cb = b.election(name).campaign("b");
        cb.on("error", () => {});
        await until(`b queued (${r})`, async () => (await candidates(a, name)) === 2);
        await onTime(`b resigns (${r})`, cb.resign());
        // A watch still open at close() is one etcd3 retries forever (and
        // this process would never exit): the observers end first.
        await onTime(
          `b and c stop observing (${r})`,
          Promise.all(observers.slice(1).map((o) => o.cancel())),
        );
        close(b, c);
        await onTime(`a resigns after b and c closed (${r})`, ca.resign());
        await until(`a's observer saw a resign (${r})`, () => seen[0]?.length === 2);
        assert.deepEqual(seen[0], ["a", undefined], `round ${r}: a's observer`);
        assert.deepEqual(failures, [], `round ${r}`);
        await onTime(`a stops observing (${r})`, Promise.resolve(observers[0]?.cancel()));
        close(a);
      }
    });

    test(`etcd3 (grpc-js): clients come and go while one holds a lock, a lease, a watch and an observer; ${rounds} rounds`, async () => {
      const s = connect();
      const failures: string[] = [];
      const lease = s.lease(2);
      let keepAlives = 0;
      lease.on("keepaliveSucceeded", () => keepAlives++);
      lease.on("lost", (err) => failures.push(`lease lost: ${err.message}`));
      await onTime("lease put", lease.put("churn/leased").value("x").exec());
      const lock = s.lock("churn/lock");
      await onTime("lock", lock.acquire());
      const lockLease = await onTime("the lock's lease", lock.leaseId());
      const watcher = await onTime("watch", s.watch().prefix("churn/w/").create());
      const puts: string[] = [];
      watcher.on("put", (kv) => puts.push(kv.key.toString()));
      watcher.on("disconnected", (err) => failures.push(`watch disconnected: ${err.message}`));
      watcher.on("error", (err) => failures.push(`watch error: ${err.message}`));
      const observer = await onTime("observe", s.election("churn").observe());
      const leaders: string[] = [];
      observer.on("change", (leader) => leader !== undefined && leaders.push(leader));
      observer.on("error", (err) => failures.push(`observer error: ${err.message}`));

      for (let r = 0; r < rounds; r++) {
        const [x, y] = [connect(), connect()];
        // Streams of their own: a watch (cancelled before close(), see
        // above) and a lease whose keep-alive stream close() ends.
        const yWatch = await onTime(`y's watch (${r})`, y.watch().prefix("churn/w/").create());
        y.lease(2).on("lost", () => {});
        await assert.rejects(
          onTime(`x's try-lock (${r})`, x.lock("churn/lock").acquire()),
          EtcdLockFailedError,
        );
        const cx = x.election("churn").campaign(`x-${r}`);
        cx.on("error", (err) => failures.push(`x's campaign (${r}): ${err.message}`));
        await elected(cx, `x (${r})`);
        await until(`the survivor observed x (${r})`, () => leaders.at(-1) === `x-${r}`);
        const cy = y.election("churn").campaign(`y-${r}`);
        cy.on("error", (err) => failures.push(`y's campaign (${r}): ${err.message}`));
        await until(`y queued (${r})`, async () => (await candidates(s, "churn")) === 2);
        const yElected = elected(cy, `y after x resigned (${r})`);
        await onTime(`x resigns (${r})`, cx.resign());
        await yElected;
        await until(`the survivor observed y (${r})`, () => leaders.at(-1) === `y-${r}`);
        await onTime(`y resigns (${r})`, cy.resign());
        await onTime(`y's watch cancelled (${r})`, yWatch.cancel());
        close(x, y);
        const key = `churn/w/${r}`;
        await onTime(`the survivor's put (${r})`, s.put(key).value("v").exec());
        await until(`the survivor's watch delivered ${key}`, () => puts.at(-1) === key);
        const held = await onTime(`the survivor's get (${r})`, s.get("churn/lock").exec());
        assert.equal(
          held.kvs[0]?.lease,
          lockLease,
          `round ${r}: the survivor still holds the lock`,
        );
        assert.deepEqual(failures, [], `round ${r}`);
      }

      assert.deepEqual(
        leaders,
        Array.from({ length: rounds }, (_, r) => [`x-${r}`, `y-${r}`]).flat(),
        "every leader observed, in order",
      );
      assert.deepEqual(
        puts,
        Array.from({ length: rounds }, (_, r) => `churn/w/${r}`),
      );
      assert.equal(
        await onTime("get", s.get("churn/leased").string()),
        "x",
        "the kept-alive lease's key",
      );
      assert.ok(keepAlives > 0, "the lease was kept alive");
      await onTime("the survivor cleans up", Promise.all([observer.cancel(), watcher.cancel()]));
      await onTime("the survivor cleans up", Promise.all([lock.release(), lease.revoke()]));
      close(s);
    });

    test(`clientv3 (grpc-go): three clients observe, two campaign, the second resigns, two close, the first resigns, beside a survivor; ${rounds} rounds`, async () => {
      const result = await runGoBench(ensureGoBench(), "churn", server.endpoint, {
        rounds,
        late: `${lateMs}ms`,
        timeout: `${lateMs}ms`,
        ...(target.tls && { cacert: certs.ca.cert }),
      });
      assert.equal(result.errors, 0, JSON.stringify(Object.fromEntries(result.errorKinds)));
      assert.equal(result.ops, rounds);
    });
  });
}
