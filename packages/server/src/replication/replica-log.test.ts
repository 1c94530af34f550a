import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary } from "@bufbuild/protobuf";
import {
  errNoLeader,
  errTimeout,
  type LogAppend,
  LogNotEmptyError,
  type LogRecord,
  type ReplicationStorage,
  type SharedLog,
} from "@conclave/core";
import { conclaveLog, PutRequestSchema } from "@conclave/proto";
import { createReplicaLog, type Divergence } from "./replica-log.js";

type Outcome =
  | "committed"
  | "lost before commit"
  | "committed, reply lost"
  | "no answer"
  | "no answer, committed later";

/**
 * A shared log in memory, shaped like PostgreSQL's behaviour that matters
 * here: the commit notifies every follower *before* the appender gets its
 * reply (NOTIFY is delivered at commit, the reply travels afterwards), and a
 * connection can die before or after the commit. The replica log's own
 * logic is under test; the real PostgreSQL log is tested in
 * @conclave/postgres and by the replica wire tests.
 */
function memoryShared(options: { notify?: boolean; carry?: boolean } = {}) {
  const entries: Uint8Array[] = [];
  const listeners = new Set<(records?: LogRecord[]) => void>();
  const outcomes: Outcome[] = [];
  const log: SharedLog = {
    async append(list: readonly LogAppend[]) {
      const outcome = outcomes.shift() ?? "committed";
      if (outcome === "lost before commit") throw new Error("connection reset");
      // A statement still running when the replica stops waiting for it
      // (a lock wait, a partition): it may commit later, or never.
      if (outcome === "no answer") return new Promise<bigint>(() => {});
      if (outcome === "no answer, committed later") {
        await new Promise((r) => setTimeout(r, 700)); // past the replica's 600 ms wait
      }
      const first = BigInt(entries.length) + 1n;
      for (const a of list) entries.push(a.data);
      const last = BigInt(entries.length);
      const records = options.carry
        ? list.map((a, i) => ({ seq: first + BigInt(i), data: a.data }))
        : undefined;
      if (options.notify !== false) for (const l of listeners) l(records);
      await new Promise((r) => setTimeout(r, 5));
      if (outcome === "committed, reply lost") throw new Error("connection reset");
      if (outcome === "no answer, committed later") return new Promise<bigint>(() => {});
      return last;
    },
    async restore(parts) {
      if (entries.length > 0) throw new LogNotEmptyError(BigInt(entries.length));
      for (const p of parts) entries.push(p);
      return BigInt(entries.length);
    },
    async expire() {
      return [];
    },
    async read(after, limit) {
      return entries
        .slice(Number(after), Number(after) + limit)
        .map((data, i) => ({ seq: after + BigInt(i) + 1n, data }));
    },
    async head() {
      return BigInt(entries.length);
    },
    onAppended(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const storage = { log } as unknown as ReplicationStorage;
  return { storage, entries, outcomes, listeners };
}

const put = (key: string) =>
  create(conclaveLog.LogEntrySchema, {
    request: {
      case: "put",
      value: create(PutRequestSchema, { key: new TextEncoder().encode(key) }),
    },
  });

const keyOf = (e: conclaveLog.LogEntry) =>
  e.request.case === "put" ? new TextDecoder().decode(e.request.value.key) : "?";

/** A replica whose apply answers with the key it applied, recording the order. */
async function replica(storage: ReplicationStorage, memberId: bigint) {
  const applied: string[] = [];
  const diverged: Divergence[] = [];
  const log = createReplicaLog({
    storage,
    memberId,
    confirmMs: 300,
    apply: async (entry) => {
      applied.push(keyOf(entry));
      return keyOf(entry);
    },
  });
  log.onDiverged((d) => diverged.push(d));
  await log.start();
  return { log, applied, diverged };
}

describe("replica log", () => {
  it("answers each proposal with its own apply, also when the commit's notification beats the reply", async () => {
    const { storage } = memoryShared();
    const a = await replica(storage, 1n);
    const b = await replica(storage, 2n);
    const answers = await Promise.all([
      a.log.propose(put("a1")),
      b.log.propose(put("b1")),
      a.log.propose(put("a2")),
      b.log.propose(put("b2")),
    ]);
    assert.deepEqual(answers, ["a1", "b1", "a2", "b2"]);
    await a.log.readIndex();
    await b.log.readIndex();
    assert.deepEqual(a.applied, b.applied, "one order on every replica");
    assert.equal(a.applied.length, 4);
    assert.deepEqual([...a.diverged, ...b.diverged], [], "no false divergence");
    await Promise.all([a.log.close(), b.log.close()]);
  });

  const unknown: Array<{ outcome: Outcome; answer: string | "no leader" }> = [
    { outcome: "committed, reply lost", answer: "x" },
    { outcome: "lost before commit", answer: "no leader" },
    // No answer: the statement may still commit, so "no leader" (which
    // clientv3 retries a write on) would risk applying it twice.
    { outcome: "no answer", answer: "request timed out" },
    { outcome: "no answer, committed later", answer: "x" },
  ];
  for (const { outcome, answer } of unknown) {
    it(`an append whose reply is lost is confirmed from the log (${outcome})`, async () => {
      const shared = memoryShared();
      const a = await replica(shared.storage, 1n);
      shared.outcomes.push(outcome);
      const got = await a.log.propose(put("x")).then(
        (v) => v,
        (e: unknown) =>
          e === errNoLeader ? "no leader" : e === errTimeout ? "request timed out" : e,
      );
      assert.equal(got, answer);
      assert.equal(a.applied.length, answer === "x" ? 1 : 0, "applied once or not at all");
      await a.log.close();
    });
  }

  it("a shared log that lost entries this replica applied is reported, and proposals fail", async () => {
    const shared = memoryShared();
    const a = await replica(shared.storage, 1n);
    await a.log.propose(put("k1"));
    await a.log.propose(put("k2"));
    // An asynchronous failover: the new primary never had k2.
    shared.entries.length = 1;
    await assert.rejects(a.log.propose(put("k3")), (e) => e === errNoLeader);
    assert.equal(a.diverged.length, 1);
    assert.equal(a.diverged[0]?.applied, 2n);
    await assert.rejects(a.log.readIndex(), (e) => e === errNoLeader, "no read of lost history");
    await assert.rejects(a.log.propose(put("k4")), (e) => e === errNoLeader);
    const entry = shared.entries[1];
    assert.ok(entry !== undefined);
    assert.equal(keyOf(fromBinary(conclaveLog.LogEntrySchema, entry)), "k3");
    await a.log.close();
  });

  it("a lost tail is noticed by a replica that only follows, also after others appended past it", async () => {
    const shared = memoryShared();
    const a = await replica(shared.storage, 1n);
    const b = await replica(shared.storage, 2n);
    for (const k of ["k1", "k2", "k3"]) await a.log.propose(put(k));
    await b.log.readIndex();
    assert.equal(b.log.applied(), 3n);
    // The new primary has k1 only; a fresh replica then appends three entries,
    // so the log's head (4) is past b's position (3) again.
    shared.entries.length = 1;
    const c = await replica(shared.storage, 3n);
    for (const k of ["x2", "x3", "x4"]) await c.log.propose(put(k));
    assert.deepEqual(c.diverged, []);
    // b proposes nothing and reads nothing: following alone must notice.
    for (const l of [...shared.listeners]) l();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(b.diverged.length, 1, "b noticed its position 3 holds another entry now");
    assert.deepEqual(b.applied, ["k1", "k2", "k3"], "and applied nothing of the new history");
    await Promise.all([a.log.close(), b.log.close(), c.log.close()]);
  });

  /** Counts the reads of `shared`'s log. */
  function countReads(shared: ReturnType<typeof memoryShared>) {
    const counter = { reads: 0 };
    const read = shared.storage.log.read.bind(shared.storage.log);
    shared.storage.log.read = (after, limit) => {
      counter.reads++;
      return read(after, limit);
    };
    return counter;
  }

  it("a read of the log that failed (PostgreSQL down) is tried again at the next notification", async () => {
    const shared = memoryShared({ notify: false });
    const a = await replica(shared.storage, 1n);
    const b = await replica(shared.storage, 2n);
    await a.log.propose(put("p1")); // b hears nothing of it
    const read = shared.storage.log.read.bind(shared.storage.log);
    let failures = 1;
    shared.storage.log.read = (after, limit) => {
      if (failures-- > 0) return Promise.reject(new Error("connection refused"));
      return read(after, limit);
    };
    for (const l of [...shared.listeners]) l(); // "read the log": the read fails
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(b.applied, []);
    for (const l of [...shared.listeners]) l([]); // a notification that carries nothing new
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(b.applied, ["p1"], "the failed read was not forgotten");
    await Promise.all([a.log.close(), b.log.close()]);
  });

  it("a head read while a notification brought newer entries is no divergence", async () => {
    const shared = memoryShared({ carry: true });
    const a = await replica(shared.storage, 1n);
    const b = await replica(shared.storage, 2n);
    await a.log.propose(put("h1"));
    // b's head query is answered as of now (1), but the answer is taken
    // only after a's next commit reached b through its notification.
    const head = shared.storage.log.head.bind(shared.storage.log);
    let answered: () => void = () => {};
    shared.storage.log.head = async () => {
      const h = await head();
      await new Promise<void>((r) => {
        answered = r;
      });
      return h;
    };
    const read = b.log.readIndex();
    await new Promise((r) => setTimeout(r, 10));
    shared.storage.log.head = head;
    await a.log.propose(put("h2"));
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(b.applied, ["h1", "h2"], "b applied h2 from the notification");
    answered();
    await read;
    assert.deepEqual([...a.diverged, ...b.diverged], []);
    await b.log.readIndex();
    await Promise.all([a.log.close(), b.log.close()]);
  });

  it("ReadIndex behind the head reads the log, though no notification said to", async () => {
    const shared = memoryShared({ notify: false });
    const a = await replica(shared.storage, 1n);
    const b = await replica(shared.storage, 2n);
    await a.log.propose(put("r1"));
    await a.log.propose(put("r2"));
    await b.log.readIndex();
    assert.deepEqual(b.applied, ["r1", "r2"]);
    await Promise.all([a.log.close(), b.log.close()]);
  });

  it("a follower applies the entries a commit's notification carried, without reading the log", async () => {
    const shared = memoryShared({ carry: true });
    const a = await replica(shared.storage, 1n);
    const b = await replica(shared.storage, 2n);
    const counter = countReads(shared);
    for (const k of ["n1", "n2", "n3"]) await a.log.propose(put(k));
    await Promise.all([a.log.propose(put("n4")), a.log.propose(put("n5"))]);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(b.applied, ["n1", "n2", "n3", "n4", "n5"]);
    assert.equal(counter.reads, 0, "neither the proposer nor the follower read the log");
    assert.deepEqual([...a.diverged, ...b.diverged], []);
    await Promise.all([a.log.close(), b.log.close()]);
  });

  it("after a 'read the log', nothing heard is applied before a read checked the log: a lost tail is noticed", async () => {
    const shared = memoryShared({ carry: true });
    const a = await replica(shared.storage, 1n);
    // b's apply can be held, to keep it busy while the failover happens.
    let hold: Promise<void> | undefined;
    const bApplied: string[] = [];
    const b = createReplicaLog({
      storage: shared.storage,
      memberId: 2n,
      confirmMs: 300,
      apply: async (entry) => {
        await hold;
        bApplied.push(keyOf(entry));
      },
    });
    const bDiverged: unknown[] = [];
    b.onDiverged((d) => bDiverged.push(d));
    await b.start();
    for (const k of ["k1", "k2", "k3"]) await a.log.propose(put(k));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(b.applied(), 3n);
    let release = () => {};
    hold = new Promise((r) => {
      release = r;
    });
    // b hears k4 and is busy applying it when a failover to a server
    // without k2..k4 happens; another replica appends x2..x5 there, which b
    // does not hear (its listener was reconnecting) until it is told to read
    // (the re-subscribe) and then hears x5. x5 would continue b's position 4
    // if b applied it before reading.
    await a.log.propose(put("k4"));
    const listeners = [...shared.listeners];
    for (const l of listeners) shared.listeners.delete(l);
    shared.entries.length = 1;
    const c = await replica(shared.storage, 3n);
    for (const k of ["x2", "x3", "x4", "x5"]) await c.log.propose(put(k));
    const x5 = shared.entries[4];
    assert.ok(x5 !== undefined);
    for (const l of listeners) {
      l();
      l([{ seq: 5n, data: x5 }]);
    }
    release();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(bDiverged.length, 1, "b noticed its position 4 holds another entry now");
    assert.deepEqual(bApplied, ["k1", "k2", "k3", "k4"], "and applied nothing of the new history");
    await Promise.all([a.log.close(), b.close(), c.log.close()]);
  });

  it("a proposer applies its own entries from memory: answered without reading them back", async () => {
    // No notification reaches anyone and there is no poll: only the append's
    // reply tells the proposer, which must not need the log read.
    const shared = memoryShared({ notify: false });
    let reads = 0;
    const read = shared.storage.log.read.bind(shared.storage.log);
    shared.storage.log.read = (after, limit) => {
      reads++;
      return read(after, limit);
    };
    const a = await replica(shared.storage, 1n);
    const readsBefore = reads;
    const answers = await Promise.all([a.log.propose(put("m1")), a.log.propose(put("m2"))]);
    assert.deepEqual(answers, ["m1", "m2"]);
    assert.deepEqual(a.applied, ["m1", "m2"]);
    assert.ok(reads - readsBefore <= 1, "at most the one read that finds nothing more");
    assert.deepEqual(a.diverged, []);
    await a.log.close();
  });
});
