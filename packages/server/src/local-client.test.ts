// The in-process client acting for a caller: its calls are checked by the
// applier inside the read or write serving them (etcd's v3lock/v3election
// are clients of the KV API with the caller's token), and a replica carries
// that caller into the log entry its apply checks.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  deleteRangeRequest,
  errPermissionDenied,
  type KvApplier,
  type KvAuthorizer,
  PermissionType,
  rangeRequest,
} from "@conclave/core";
import { type conclaveLog, Lock } from "@conclave/proto";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { errorInterceptor } from "./error-interceptor.js";
import { createLocalClient } from "./local-client.js";
import { applyLogEntry } from "./replication/apply-log-entry.js";
import type { ReplicaLog } from "./replication/replica-log.js";
import { createReplicatedKv } from "./replication/replicated-kv.js";
import { createRoutes } from "./routes.js";
import { closeServerContext, openServerContext, type ServerContext } from "./server-context.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
const prefix = (p: string) => {
  const key = enc.encode(p);
  const rangeEnd = key.slice();
  rangeEnd[rangeEnd.length - 1] = (rangeEnd[rangeEnd.length - 1] ?? 0) + 1;
  return { key, rangeEnd };
};

/** An authorizer that records what it was asked, allowing everything. */
function recording(log: string[]): KvAuthorizer {
  return {
    caller: { username: "alice", revision: 1 },
    range: (r) => log.push(`range ${dec.decode(r.key)}`),
    put: (r) => log.push(`put ${dec.decode(r.key)}`),
    deleteRange: (r) => log.push(`delete ${dec.decode(r.key)}`),
    txn: () => log.push("txn"),
  };
}

let ctx: ServerContext;
before(async () => {
  ctx = await openServerContext({ dataDir: ":memory:" });
});
after(async () => {
  await closeServerContext(ctx);
});

describe("LocalClient.as", () => {
  it("hands a fresh authorizer to the applier on each call; the unchecked client none", async () => {
    const seen: Array<KvAuthorizer | undefined> = [];
    const note = <T>(auth: KvAuthorizer | undefined, then: () => T): T => {
      seen.push(auth);
      return then();
    };
    const spy: KvApplier = {
      ...ctx.kv,
      range: (r, auth) => note(auth, () => ctx.kv.range(r, auth)),
      txn: (r, auth) => note(auth, () => ctx.kv.txn(r, auth)),
      deleteRange: (r, auth) => note(auth, () => ctx.kv.deleteRange(r, auth)),
    };
    const base = createLocalClient({ ...ctx, kv: spy });
    let made = 0;
    const checks: string[] = [];
    const c = base.as(() => {
      made++;
      return recording(checks);
    });
    await c.range(enc.encode("a"));
    await c.txn({ compare: [], success: [], failure: [] });
    await c.delete(enc.encode("a"));
    assert.equal(made, 3);
    assert.equal(seen.length, 3);
    assert.ok(seen.every((a) => a !== undefined));
    assert.deepEqual(checks, ["range a", "txn", "delete a"], "run by the applier");
    await c.unchecked.delete(enc.encode("a"));
    await base.range(enc.encode("a"));
    assert.equal(seen.length, 5);
    assert.equal(seen[3], undefined);
    assert.equal(seen[4], undefined);
    assert.equal(c.unchecked, base);
  });

  it("checks a watch as a Range of what it watches, when created", () => {
    const checks: string[] = [];
    const c = createLocalClient(ctx).as(() => recording(checks));
    const stop = new AbortController();
    c.watch(enc.encode("w/"), { prefix: true, rev: 0 }, stop.signal);
    assert.deepEqual(checks, ["range w/"]);
    stop.abort();
    const refuse = createLocalClient(ctx).as(() => ({
      ...recording(checks),
      range: () => {
        throw errPermissionDenied;
      },
    }));
    const before = ctx.hub.watcherCount();
    assert.throws(
      () => refuse.watch(enc.encode("w/"), { rev: 0 }, stop.signal),
      errPermissionDenied,
    );
    assert.equal(ctx.hub.watcherCount(), before, "no watcher for a refused watch");
  });

  it("in replica mode, carries the caller (and a scope) into the log entry the apply checks", async () => {
    const entries: conclaveLog.LogEntry[] = [];
    const log = {
      propose: async (entry: conclaveLog.LogEntry) => {
        entries.push(entry);
        return applyLogEntry(ctx, entry);
      },
      readIndex: async () => undefined,
    } as unknown as ReplicaLog;
    const replica = createLocalClient({ ...ctx, kv: createReplicatedKv(ctx.kv, log) });
    const caller = { username: "alice", revision: ctx.auth.revision() };
    const scope = { key: enc.encode("s/"), rangeEnd: enc.encode("s0"), write: true };
    await replica.as(() => ({ ...recording([]), caller })).delete(enc.encode("x"));
    await replica.as(() => ({ ...recording([]), caller, scope })).delete(enc.encode("s/x"));
    await replica.unchecked.delete(enc.encode("x"));
    assert.deepEqual(
      entries.map((e) => [
        e.caller?.username,
        e.caller?.authRevision,
        dec.decode(e.caller?.scope?.key),
      ]),
      [
        ["alice", BigInt(caller.revision), ""],
        ["alice", BigInt(caller.revision), "s/"],
        [undefined, undefined, ""],
      ],
    );
  });
});

describe("Lock's calls are checked in the apply", () => {
  let lock: ReturnType<typeof createClient<typeof Lock>>;
  const token = { headers: { token: "" } };
  before(async () => {
    const { auth } = ctx;
    await auth.userAdd("root", "rootpw");
    await auth.roleAdd("root");
    await auth.userGrantRole("root", "root");
    await auth.userAdd("bob", "bobpw");
    await auth.roleAdd("locks");
    await auth.roleGrantPermission("locks", {
      permType: PermissionType.READWRITE,
      ...prefix("L/"),
    });
    await auth.userGrantRole("bob", "locks");
    await auth.enable();
    token.headers.token = await auth.authenticate("bob", "bobpw");
    const transport = createRouterTransport(createRoutes(ctx), {
      router: { interceptors: [errorInterceptor] },
    });
    lock = createClient(Lock, transport);
  });

  it("a waiter whose permission is revoked while it waits is refused at its next read, and leaves the line", async () => {
    const holder = await ctx.lessor.grant(0n, 30);
    const waiter = await ctx.lessor.grant(0n, 30);
    const held = await lock.lock({ name: enc.encode("L"), lease: holder.id }, token);
    const waiting = lock.lock({ name: enc.encode("L"), lease: waiter.id }, token);
    const settled = waiting.then(
      () => "ok",
      (e: unknown) => ConnectError.from(e),
    );
    await new Promise((r) => setTimeout(r, 30));
    const waiterKey = enc.encode(`L/${waiter.id.toString(16)}`);
    assert.equal((await ctx.kv.range(rangeRequest(waiterKey))).kvs.length, 1, "in line");
    await ctx.auth.roleRevokePermission("locks", prefix("L/").key, prefix("L/").rangeEnd);
    // The holder leaves: the waiter wakes and reads the line again, as bob.
    await ctx.kv.deleteRange(deleteRangeRequest(held.key));
    const err = await settled;
    assert.ok(err instanceof ConnectError, "refused");
    assert.equal(err.code, Code.Unknown);
    assert.equal(err.rawMessage, "etcdserver: permission denied");
    assert.equal((await ctx.kv.range(rangeRequest(waiterKey))).kvs.length, 0, "left the line");
  });

  it("an anonymous caller is refused before a session lease is granted", async () => {
    const leases = ctx.lessor.leases().length;
    const err = await lock.lock({ name: enc.encode("L"), lease: 0n }).catch((e: unknown) => e);
    assert.equal(ConnectError.from(err).rawMessage, "etcdserver: user name is empty");
    assert.equal(ctx.lessor.leases().length, leases);
  });
});
