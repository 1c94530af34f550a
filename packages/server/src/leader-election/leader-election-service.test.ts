import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  EventReason,
  KV,
  LeaderElectionService,
  Lease,
} from "@conclave/proto";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { errorInterceptor } from "../error-interceptor.js";
import { createLocalClient } from "../local-client.js";
import { createRoutes } from "../routes.js";
import { closeServerContext, openServerContext, type ServerContext } from "../server-context.js";
import { createLeaderElectionExpiry, type LeaderElectionExpiry } from "./leader-election-expiry.js";

const enc = new TextEncoder();
let ctx: ServerContext;
let expiry: LeaderElectionExpiry;
let le: ReturnType<typeof createClient<typeof LeaderElectionService>>;
let lease: ReturnType<typeof createClient<typeof Lease>>;
let kv: ReturnType<typeof createClient<typeof KV>>;

before(async () => {
  ctx = await openServerContext({ dataDir: ":memory:" });
  // Lease expiry takes candidates out of their line only while this duty runs.
  expiry = createLeaderElectionExpiry(ctx, createLocalClient(ctx));
  expiry.start();
  const t = createRouterTransport(createRoutes(ctx), {
    router: { interceptors: [errorInterceptor] },
  });
  le = createClient(LeaderElectionService, t);
  lease = createClient(Lease, t);
  kv = createClient(KV, t);
});
after(async () => {
  await expiry.close();
  await closeServerContext(ctx);
});

const isCode = (code: Code) => (e: unknown) => e instanceof ConnectError && e.code === code;

describe("conclave.v1.LeaderElectionService", () => {
  it("runs every operation with Atomix semantics and term numbering", async () => {
    const e = "svc";
    let t = (await le.enter({ election: e, candidateId: "a" })).term;
    assert.deepEqual([t?.leader, t?.term, t?.candidates], ["a", 1n, ["a"]]);
    await le.enter({ election: e, candidateId: "b" });
    t = (await le.enter({ election: e, candidateId: "c" })).term;
    assert.deepEqual([t?.leader, t?.term, t?.candidates], ["a", 1n, ["a", "b", "c"]]);
    t = (await le.promote({ election: e, candidateId: "b" })).term;
    assert.deepEqual([t?.leader, t?.term, t?.candidates], ["b", 2n, ["b", "a", "c"]]);
    t = (await le.anoint({ election: e, candidateId: "c" })).term;
    assert.deepEqual([t?.leader, t?.term, t?.candidates], ["c", 3n, ["c", "b", "a"]]);
    t = (await le.demote({ election: e, candidateId: "c" })).term;
    assert.deepEqual([t?.leader, t?.term, t?.candidates], ["b", 4n, ["b", "c", "a"]]);
    t = (await le.evict({ election: e, candidateId: "c" })).term;
    assert.deepEqual([t?.leader, t?.term, t?.candidates], ["b", 4n, ["b", "a"]]);
    t = (await le.withdraw({ election: e, candidateId: "b" })).term;
    assert.deepEqual([t?.leader, t?.term, t?.candidates], ["a", 5n, ["a"]]);
    const got = (await le.getTerm({ election: e })).term;
    assert.deepEqual([got?.leader, got?.term, got?.revision], [t?.leader, t?.term, t?.revision]);
    // State is ordinary keys under the reserved prefix.
    const keys = await kv.range({
      key: enc.encode("__conclave/le/svc/"),
      rangeEnd: enc.encode("__conclave/le/svc0"),
    });
    assert.ok(keys.kvs.length >= 3);
  });

  it("gives clear errors for unknown elections and candidates", async () => {
    await assert.rejects(le.getTerm({ election: "nope" }), isCode(Code.NotFound));
    await assert.rejects(
      le.withdraw({ election: "nope", candidateId: "x" }),
      isCode(Code.NotFound),
    );
    await le.enter({ election: "err", candidateId: "a" });
    await assert.rejects(le.promote({ election: "err", candidateId: "zz" }), isCode(Code.NotFound));
    await assert.rejects(
      le.enter({ election: "", candidateId: "a" }),
      isCode(Code.InvalidArgument),
    );
    await assert.rejects(
      le.enter({ election: "err", candidateId: "x", lease: 999n }),
      isCode(Code.NotFound),
    );
  });

  it("streams the current term, then each change with its reason; lease expiry elects the next", async () => {
    const e = "stream";
    const l1 = (await lease.leaseGrant({ TTL: 30n })).ID;
    await le.enter({ election: e, candidateId: "a", lease: l1 });
    const abort = new AbortController();
    const seen: Array<[EventReason, string, bigint]> = [];
    const reading = (async () => {
      for await (const ev of le.events({ election: e }, { signal: abort.signal })) {
        seen.push([ev.reason, ev.candidateId, ev.term?.term ?? -1n]);
      }
    })().catch(() => undefined);
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    await le.enter({ election: e, candidateId: "b" });
    await lease.leaseRevoke({ ID: l1 });
    const deadline = Date.now() + 2000;
    while (seen.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    abort.abort();
    await reading;
    assert.deepEqual(seen, [
      [EventReason.CURRENT, "a", 1n],
      [EventReason.ENTERED, "b", 1n],
      [EventReason.LEASE_EXPIRED, "a", 2n],
      [EventReason.ELECTED, "b", 2n],
    ]);
  });

  it("replays changes from start_revision, or opens with CURRENT when it was compacted", async () => {
    const e = "replay";
    const t1 = (await le.enter({ election: e, candidateId: "a" })).term;
    await le.enter({ election: e, candidateId: "b" });
    await le.anoint({ election: e, candidateId: "b" });
    const abort = new AbortController();
    const read = async (startRevision: bigint, n: number) => {
      const got: Array<[EventReason, string, bigint, bigint, bigint]> = [];
      for await (const ev of le.events({ election: e, startRevision }, { signal: abort.signal })) {
        const t = ev.term;
        got.push([
          ev.reason,
          ev.candidateId,
          t?.term ?? -1n,
          t?.leaderRevision ?? -1n,
          ev.compactRevision,
        ]);
        if (got.length === n) break;
      }
      return got;
    };
    const r1 = t1?.revision ?? 0n;
    // From the revision after the first enter: entered b, then anointed b + elected b.
    const replay = await read(r1 + 1n, 3);
    const anointRev = replay[1]?.[3] ?? -1n;
    assert.deepEqual(replay, [
      [EventReason.ENTERED, "b", 1n, r1, 0n],
      [EventReason.ANOINTED, "b", 2n, anointRev, 0n],
      [EventReason.ELECTED, "b", 2n, anointRev, 0n],
    ]);
    assert.ok(anointRev > r1);
    // Replays include live changes after the history.
    const live = read(anointRev + 1n, 1);
    await le.withdraw({ election: e, candidateId: "a" });
    assert.deepEqual(
      (await live).map((x) => [x[0], x[1], x[2]]),
      [[EventReason.WITHDREW, "a", 2n]],
    );
    // Compact past the start: the stream resyncs with CURRENT and says so.
    const head = (await kv.range({ key: enc.encode("x") })).header?.revision ?? 0n;
    await kv.compact({ revision: head });
    const resync = await read(r1 + 1n, 1);
    assert.deepEqual(
      resync.map((x) => [x[0], x[1], x[2], x[4]]),
      [[EventReason.CURRENT, "b", 2n, head]],
    );
    abort.abort();
  });

  it("terms carry the server's time of each change and of the leader's election; replays keep them", async () => {
    const e = "times";
    const ms = (t: Timestamp | undefined) => (t === undefined ? undefined : timestampMs(t));
    const start = Date.now();
    const t1 = (await le.enter({ election: e, candidateId: "a" })).term;
    const afterEnter = Date.now();
    const elected = ms(t1?.leaderSince) ?? -1;
    assert.ok(start <= elected && elected <= afterEnter, `${start} <= ${elected} <= ${afterEnter}`);
    assert.equal(ms(t1?.changedAt), elected, "the change that elected a is when a began");
    await new Promise((r) => setTimeout(r, 5));
    const t2 = (await le.enter({ election: e, candidateId: "b" })).term;
    assert.ok((ms(t2?.changedAt) ?? -1) > elected, "b's entry is later");
    assert.equal(ms(t2?.leaderSince), elected, "a still leads since its election");
    const got = (await le.getTerm({ election: e })).term;
    assert.equal(ms(got?.changedAt), ms(t2?.changedAt));
    // The Events replay reads the same times from MVCC history.
    const abort = new AbortController();
    const replayed: Array<number | undefined> = [];
    for await (const ev of le.events(
      { election: e, startRevision: t1?.revision ?? 0n },
      { signal: abort.signal },
    )) {
      replayed.push(ms(ev.term?.changedAt));
      if (replayed.length === 3) break; // entered a, elected a, entered b
    }
    abort.abort();
    assert.deepEqual(replayed, [elected, elected, ms(t2?.changedAt)]);
    const closed = (await le.close({ election: e })).term;
    assert.equal(closed?.leaderSince, undefined, "nobody leads after a close");
    assert.ok((ms(closed?.changedAt) ?? -1) >= (ms(t2?.changedAt) ?? 0));
  });

  it("fences a deposed leader's late writes with the leader key's revision", async () => {
    const e = "fence";
    const la = (await lease.leaseGrant({ TTL: 30n })).ID;
    const a = (await le.enter({ election: e, candidateId: "a", lease: la })).term;
    await le.enter({ election: e, candidateId: "b" });
    const guarded = (term: typeof a, value: string) =>
      kv.txn({
        compare: [
          {
            key: enc.encode(term?.leaderKey ?? ""),
            target: Compare_CompareTarget.MOD,
            result: Compare_CompareResult.EQUAL,
            targetUnion: { case: "modRevision", value: term?.leaderRevision ?? 0n },
          },
        ],
        success: [
          {
            request: {
              case: "requestPut",
              value: { key: enc.encode("resource"), value: enc.encode(value) },
            },
          },
        ],
      });
    assert.equal((await guarded(a, "from a")).succeeded, true);
    await lease.leaseRevoke({ ID: la });
    let b = (await le.getTerm({ election: e })).term;
    for (let i = 0; i < 100 && b?.leader !== "b"; i++) {
      await new Promise((r) => setTimeout(r, 10));
      b = (await le.getTerm({ election: e })).term;
    }
    assert.equal(b?.leader, "b");
    assert.equal((await guarded(a, "late write from a")).succeeded, false);
    assert.equal((await guarded(b, "from b")).succeeded, true);
    const r = await kv.range({ key: enc.encode("resource") });
    assert.equal(new TextDecoder().decode(r.kvs[0]?.value), "from b");
  });

  describe("Create, Close and List", () => {
    /** Names listed now, with leader and term, among `names`. */
    const listed = async (...names: string[]) =>
      (await le.list({})).elections
        .filter((t) => names.includes(t.election))
        .map((t) => [t.election, t.leader, t.term, t.candidates, t.created]);

    it("Create is idempotent and lists the election before anyone enters", async () => {
      const first = (await le.create({ election: "decl" })).term;
      assert.deepEqual(
        [first?.election, first?.term, first?.leader, first?.candidates, first?.created],
        ["decl", 0n, "", [], true],
      );
      const again = (await le.create({ election: "decl" })).term;
      assert.equal(again?.revision, first?.revision, "a second create writes nothing");
      assert.deepEqual(await listed("decl"), [["decl", "", 0n, [], true]]);
      assert.deepEqual((await le.getTerm({ election: "decl" })).term?.created, true);
    });

    it("lists elections with their current term, sorted by name, at one revision", async () => {
      await le.create({ election: "l-b" });
      await le.enter({ election: "l-b", candidateId: "x" });
      await le.enter({ election: "l-a", candidateId: "y" });
      await le.enter({ election: "l-a", candidateId: "z" });
      const all = await le.list({});
      const names = all.elections.map((t) => t.election);
      assert.deepEqual(names, [...names].sort());
      assert.deepEqual(await listed("l-a", "l-b"), [
        ["l-a", "y", 1n, ["y", "z"], false],
        ["l-b", "x", 1n, ["x"], true],
      ]);
      const la = all.elections.find((t) => t.election === "l-a");
      const got = (await le.getTerm({ election: "l-a" })).term;
      assert.deepEqual(la, got, "the same Term as GetTerm");
      assert.ok(all.revision >= (la?.revision ?? 0n));
    });

    it("elections nobody is in and never created are not listed", async () => {
      await le.enter({ election: "gone", candidateId: "a" });
      assert.deepEqual(await listed("gone"), [["gone", "a", 1n, ["a"], false]]);
      await le.withdraw({ election: "gone", candidateId: "a" });
      assert.deepEqual(await listed("gone"), []);
      // Its term is kept: GetTerm still answers, and the next leader gets term 2.
      assert.equal((await le.getTerm({ election: "gone" })).term?.term, 1n);
      // A created election stays listed when its line empties.
      await le.create({ election: "kept" });
      await le.enter({ election: "kept", candidateId: "a" });
      await le.withdraw({ election: "kept", candidateId: "a" });
      assert.deepEqual(await listed("kept"), [["kept", "", 1n, [], true]]);
    });

    it("Close: every candidate leaves, CLOSED ends the term and the event streams; the term number is kept", async () => {
      const e = "closing";
      const l1 = (await lease.leaseGrant({ TTL: 30n })).ID;
      await le.create({ election: e });
      const a = (await le.enter({ election: e, candidateId: "a", lease: l1 })).term;
      await le.enter({ election: e, candidateId: "b" });
      const seen: Array<[EventReason, string, bigint, string[]]> = [];
      // Ends by itself (no abort, no error) once the election is closed.
      const reading = (async () => {
        for await (const ev of le.events({ election: e })) {
          seen.push([ev.reason, ev.candidateId, ev.term?.term ?? -1n, ev.term?.candidates ?? []]);
        }
      })();
      while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
      const closed = (await le.close({ election: e })).term;
      await reading;
      assert.deepEqual(seen, [
        [EventReason.CURRENT, "a", 1n, ["a", "b"]],
        [EventReason.CLOSED, "a", 1n, []],
      ]);
      assert.deepEqual(
        [closed?.leader, closed?.term, closed?.candidates, closed?.created, closed?.leaderLease],
        ["", 1n, [], false, 0n],
      );
      // The candidates' keys are gone, in the close's revision; the lease is untouched.
      const pfx = enc.encode(`__conclave/le/${e}/candidates/`);
      const keys = await kv.range({
        key: pfx,
        rangeEnd: enc.encode(`__conclave/le/${e}/candidates0`),
      });
      assert.deepEqual(keys.kvs, []);
      assert.ok(((await lease.leaseTimeToLive({ ID: l1 })).TTL ?? -1n) > 0n);
      assert.deepEqual(await listed(e), []);
      // Closing again changes nothing; a replay that reaches CLOSED ends there too.
      assert.equal((await le.close({ election: e })).term?.revision, closed?.revision);
      const replayed: EventReason[] = [];
      for await (const ev of le.events({ election: e, startRevision: a?.revision ?? 0n })) {
        replayed.push(ev.reason);
      }
      assert.deepEqual(replayed, [
        EventReason.ENTERED,
        EventReason.ELECTED,
        EventReason.ENTERED,
        EventReason.CLOSED,
      ]);
      // Entering again, with the same lease, elects with the next term.
      const back = (await le.enter({ election: e, candidateId: "a", lease: l1 })).term;
      assert.deepEqual([back?.leader, back?.term, back?.created], ["a", 2n, false]);
      // A leader elected after the close has a new leader revision: writes
      // fenced with the closed term fail.
      assert.notEqual(back?.leaderRevision, a?.leaderRevision);
      await le.close({ election: e });
    });

    it("Close names no one when nobody led, and refuses elections that never existed", async () => {
      await le.create({ election: "empty-close" });
      const abort = new AbortController();
      const reasons: Array<[EventReason, string]> = [];
      const reading = (async () => {
        for await (const ev of le.events({ election: "empty-close" }, { signal: abort.signal })) {
          reasons.push([ev.reason, ev.candidateId]);
        }
      })();
      while (reasons.length === 0) await new Promise((r) => setTimeout(r, 5));
      await le.close({ election: "empty-close" });
      await reading;
      assert.deepEqual(reasons, [
        [EventReason.CURRENT, ""],
        [EventReason.CLOSED, ""],
      ]);
      await assert.rejects(le.close({ election: "never-was" }), isCode(Code.NotFound));
      await assert.rejects(le.create({ election: "" }), isCode(Code.InvalidArgument));
      await assert.rejects(le.close({ election: "" }), isCode(Code.InvalidArgument));
    });

    it("CREATED is an event; creating an entered election keeps its line", async () => {
      const e = "late-create";
      await le.enter({ election: e, candidateId: "a" });
      const abort = new AbortController();
      const seen: Array<[EventReason, boolean]> = [];
      const reading = (async () => {
        for await (const ev of le.events({ election: e }, { signal: abort.signal })) {
          seen.push([ev.reason, ev.term?.created ?? false]);
          if (seen.length === 2) break;
        }
      })();
      while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
      const t = (await le.create({ election: e })).term;
      await reading;
      assert.deepEqual(seen, [
        [EventReason.CURRENT, false],
        [EventReason.CREATED, true],
      ]);
      assert.deepEqual([t?.leader, t?.term, t?.candidates], ["a", 1n, ["a"]]);
    });
  });
});
