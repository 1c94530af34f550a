// A replica's auth changes carry their caller into the log entry, and the
// apply checks its root role there (etcd's authApplierV3): a root role lost
// while the proposer hashed a password is honoured.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { errPermissionDenied, errUserNotFound } from "@conclave/core";
import type { conclaveLog } from "@conclave/proto";
import { closeServerContext, openServerContext, type ServerContext } from "../server-context.js";
import { applyLogEntry } from "./apply-log-entry.js";
import type { ReplicaLog } from "./replica-log.js";
import { createReplicatedAuth } from "./replicated-auth.js";

let ctx: ServerContext;
before(async () => {
  ctx = await openServerContext({ dataDir: ":memory:" });
});
after(async () => {
  await closeServerContext(ctx);
});

describe("replicated auth changes", () => {
  it("carry the caller; the apply checks its root role after the proposer's hash", async () => {
    const entries: conclaveLog.LogEntry[] = [];
    const log = {
      propose: async (entry: conclaveLog.LogEntry) => {
        entries.push(entry);
        return applyLogEntry(ctx, entry);
      },
      readIndex: async () => undefined,
    } as unknown as ReplicaLog;
    const auth = createReplicatedAuth(ctx.auth, log);
    await auth.userAdd("root", "rootpw");
    await auth.roleAdd("root");
    await auth.userGrantRole("root", "root");
    await auth.userAdd("admin", "pw");
    await auth.userGrantRole("admin", "root");
    await auth.enable();
    assert.equal(entries[0]?.caller, undefined, "a trusted change has no caller");
    const as = (name: string) => ({ caller: ctx.auth.authInfoFromName(name) });

    await auth.roleAdd("r", as("admin"));
    assert.equal(entries.at(-1)?.caller?.username, "admin");

    const adding = auth.userAdd("bob", "pw", {}, as("admin"));
    // Lost while the proposer hashes (another replica's change, applied here).
    await ctx.auth.userRevokeRole("admin", "root");
    await assert.rejects(adding, (e) => e === errPermissionDenied);
    assert.equal(entries.at(-1)?.request.case, "userAdd", "proposed, refused by the apply");
    assert.throws(
      () => ctx.auth.userGet("bob"),
      (e) => e === errUserNotFound,
    );
    // Refused before the hash too, once the role is gone.
    const proposed = entries.length;
    await assert.rejects(
      auth.userAdd("bob", "pw", {}, as("admin")),
      (e) => e === errPermissionDenied,
    );
    assert.equal(entries.length, proposed, "not proposed");
  });
});
