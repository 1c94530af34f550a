// Check-then-apply by structure: the caller's permission check runs inside
// the transaction that applies the request, so a refusal writes nothing, and
// an auth change that lands after the caller was resolved cannot let the
// request through under the permissions of before (etcd's authApplierV3,
// which checks the auth revision in apply).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMemoryBackend } from "../backend/memory-backend.js";
import { errAuthOldRevision, errPermissionDenied, errUserEmpty } from "../errors.js";
import { createKvApplier } from "../kv/kv-applier.js";
import type { KvAuthorizer } from "../kv/kv-authorizer.js";
import { createLessor } from "../lease/lessor.js";
import { openKvStore } from "../mvcc/kv-store.js";
import { b, putReq, rangeReq, txnReq } from "../test-util.js";
import { createAuthStore } from "./auth-store.js";
import { PermissionType } from "./permission-ranges.js";
import { createRequestAuthorizer } from "./request-authorizer.js";

const scrypt = { N: 16, r: 1, p: 1 };
const bcryptCost = 4;
const is = (want: Error) => (e: unknown) => e === want;
const none = new Uint8Array(0);

async function setup() {
  const backend = createMemoryBackend();
  const lessor = createLessor({ backend });
  const store = openKvStore({ backend, leases: lessor });
  lessor.start(store);
  const auth = createAuthStore({ store, scrypt, bcryptCost });
  const kv = createKvApplier({ store, leases: lessor });
  await auth.userAdd("root", "pw");
  await auth.roleAdd("root");
  await auth.userGrantRole("root", "root");
  await auth.userAdd("alice", "pw");
  await auth.roleAdd("rw");
  await auth.roleGrantPermission("rw", {
    permType: PermissionType.READWRITE,
    key: b("k"),
    rangeEnd: b("l"),
  });
  await auth.userGrantRole("alice", "rw");
  await auth.enable();
  const as = (name: string | undefined) =>
    createRequestAuthorizer(
      auth,
      name === undefined ? undefined : auth.authInfoFromName(name),
      (id) => lessor.timeToLive(id)?.keys ?? [],
    );
  return { store, auth, kv, lessor, as, close: () => lessor.close() };
}

/** A hook that refuses everything, counting its calls. */
function refusing(err: Error): KvAuthorizer & { calls: number } {
  const self = {
    calls: 0,
    range: () => fail(),
    put: () => fail(),
    deleteRange: () => fail(),
    txn: () => fail(),
  };
  const fail = (): never => {
    self.calls++;
    throw err;
  };
  return self;
}

describe("the applier's auth hook", () => {
  it("refuses every kind of request when the hook throws, with nothing written", async () => {
    const t = await setup();
    await t.kv.put(putReq("k1", "before"));
    const rev = t.store.currentRev();
    const hook = refusing(errPermissionDenied);
    await assert.rejects(t.kv.put(putReq("k1", "after"), hook), is(errPermissionDenied));
    await assert.rejects(
      t.kv.deleteRange({ key: b("k1"), rangeEnd: none, prevKv: false }, hook),
      is(errPermissionDenied),
    );
    await assert.rejects(
      t.kv.txn(
        txnReq({ success: [{ request: { case: "requestPut", value: putReq("k2", "x") } }] }),
        hook,
      ),
      is(errPermissionDenied),
    );
    await assert.rejects(t.kv.range(rangeReq("k1"), hook), is(errPermissionDenied));
    await assert.rejects(
      t.kv.txn(
        txnReq({ success: [{ request: { case: "requestRange", value: rangeReq("k1") } }] }),
        hook,
      ),
      is(errPermissionDenied),
    );
    assert.equal(hook.calls, 5);
    assert.equal(t.store.currentRev(), rev);
    const r = await t.kv.range(rangeReq("k", { rangeEnd: b("l") }));
    assert.deepEqual(
      r.kvs.map((kv) => new TextDecoder().decode(kv.value)),
      ["before"],
    );
    await t.close();
  });

  it("runs the hook before the applier's own checks (auth answers first, as in etcd)", async () => {
    const t = await setup();
    // A put on a lease that does not exist: the refusal, not errLeaseNotFound.
    await assert.rejects(
      t.kv.put({ ...putReq("k1", "v"), lease: 12345n }, refusing(errPermissionDenied)),
      is(errPermissionDenied),
    );
    await t.close();
  });
});

describe("a caller resolved before an auth change", () => {
  it("cannot write under the permissions it had: errAuthOldRevision, nothing written", async () => {
    const t = await setup();
    const alice = t.as("alice"); // resolved at request decode
    const rev = t.store.currentRev();
    // The change lands between decode and apply (in memory at once, durable later).
    const revoked = t.auth.roleRevokePermission("rw", b("k"), b("l"));
    await assert.rejects(t.kv.put(putReq("k1", "v"), alice), is(errAuthOldRevision));
    await revoked;
    assert.equal(t.store.currentRev(), rev); // auth records take no KV revision
    assert.equal((await t.kv.range(rangeReq("k1"))).kvs.length, 0);
    // Resolved afresh, the caller gets the new state's answer.
    await assert.rejects(t.kv.put(putReq("k1", "v"), t.as("alice")), is(errPermissionDenied));
    await t.close();
  });

  it("is refused even when the change did not touch its own permissions", async () => {
    const t = await setup();
    const alice = t.as("alice");
    await t.auth.roleAdd("other");
    await assert.rejects(t.kv.put(putReq("k1", "v"), alice), is(errAuthOldRevision));
    await t.kv.put(putReq("k1", "v"), t.as("alice"));
    await t.close();
  });

  it("anonymous is refused once auth is on", async () => {
    const t = await setup();
    await assert.rejects(t.kv.put(putReq("k1", "v"), t.as(undefined)), is(errUserEmpty));
    await t.close();
  });
});

describe("LeaseRevoke's check", () => {
  it("runs inside the revoke's write: a refusal keeps the lease and its keys", async () => {
    const t = await setup();
    const { id } = await t.lessor.grant(0n, 60);
    await t.kv.put({ ...putReq("z", "v"), lease: id }); // alice may not write "z"
    await t.kv.put({ ...putReq("k1", "v"), lease: id });
    const rev = t.store.currentRev();
    await assert.rejects(t.lessor.revoke(id, t.as("alice")), is(errPermissionDenied));
    assert.equal(t.store.currentRev(), rev);
    assert.equal(t.lessor.timeToLive(id)?.keys.length, 2);
    assert.ok(t.lessor.exists(id));
    // root may: the lease goes with both keys, in one revision.
    assert.equal(await t.lessor.revoke(id, t.as("root")), rev + 1);
    assert.equal(t.lessor.timeToLive(id), undefined);
    await t.close();
  });
});
