// A scope's checks (conclave.v1 LeaderElection's election prefix): READ on
// the whole range, WRITE too for a change, whatever key of it a request
// touches — run by the applier inside the read view or write.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMemoryBackend } from "../backend/memory-backend.js";
import { errPermissionDenied } from "../errors.js";
import { createKvApplier } from "../kv/kv-applier.js";
import { openKvStore } from "../mvcc/kv-store.js";
import { b, putReq, rangeReq } from "../test-util.js";
import { createAuthStore } from "./auth-store.js";
import { PermissionType } from "./permission-ranges.js";
import { createScopedAuthorizer } from "./scoped-authorizer.js";

const scrypt = { N: 16, r: 1, p: 1 };
const bcryptCost = 4;

describe("createScopedAuthorizer", () => {
  it("needs READ on the whole scope for every request, and WRITE too when the scope writes", async () => {
    const store = openKvStore({ backend: createMemoryBackend() });
    const auth = createAuthStore({ store, scrypt, bcryptCost });
    const kv = createKvApplier({ store });
    await auth.userAdd("root", "pw");
    await auth.roleAdd("root");
    await auth.userGrantRole("root", "root");
    await auth.userAdd("alice", "pw");
    await auth.roleAdd("r");
    // READ on the scope, WRITE on one key of it only.
    await auth.roleGrantPermission("r", {
      permType: PermissionType.READ,
      key: b("e/"),
      rangeEnd: b("e0"),
    });
    await auth.roleGrantPermission("r", {
      permType: PermissionType.WRITE,
      key: b("e/k"),
      rangeEnd: new Uint8Array(0),
    });
    await auth.userGrantRole("alice", "r");
    await auth.enable();
    const alice = () => auth.authInfoFromName("alice");
    const scope = (write: boolean) => ({ key: b("e/"), rangeEnd: b("e0"), write });

    await kv.range(rangeReq("e/k"), createScopedAuthorizer(auth, alice(), scope(false)));
    // A write of the one key alice may write is still refused: the scope is the rule.
    await assert.rejects(
      kv.put(putReq("e/k", "v"), createScopedAuthorizer(auth, alice(), scope(true))),
      (e) => e === errPermissionDenied,
    );
    // And so is a read made as part of a change.
    await assert.rejects(
      kv.range(rangeReq("e/k"), createScopedAuthorizer(auth, alice(), scope(true))),
      (e) => e === errPermissionDenied,
    );
    assert.equal(store.currentRev(), 1, "nothing written");
    const rootAuth = createScopedAuthorizer(auth, auth.authInfoFromName("root"), scope(true));
    assert.deepEqual(rootAuth.scope, scope(true), "carried for a replica's log entry");
    await kv.put(putReq("e/k", "v"), rootAuth);
    assert.equal(store.currentRev(), 2);
  });
});
