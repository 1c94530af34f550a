// A replica's auth changes carry their caller into the log entry, and the
// apply checks its root role there (etcd's authApplierV3): a root role lost
// while the proposer hashed a password is honoured.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createJwtTokens, errPermissionDenied, errUserNotFound } from "@conclave/core";
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

describe("replicated Authenticate with JWTs", () => {
  it("signs on the proposer without a log entry; the token verifies on any replica", async () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const pem = new TextEncoder().encode(
      privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    );
    const jwtCtx = await openServerContext({
      dataDir: ":memory:",
      jwtTokens: createJwtTokens({ signMethod: "ES256", privateKey: pem }),
    });
    try {
      const entries: conclaveLog.LogEntry[] = [];
      let reads = 0;
      const log = {
        propose: async (entry: conclaveLog.LogEntry) => {
          entries.push(entry);
          return applyLogEntry(jwtCtx, entry);
        },
        readIndex: async () => {
          reads++;
        },
      } as unknown as ReplicaLog;
      const auth = createReplicatedAuth(jwtCtx.auth, log);
      await auth.userAdd("root", "rootpw");
      await auth.userGrantRole("root", "root");
      await auth.enable();
      const proposed = entries.length;
      const token = await auth.authenticate("root", "rootpw");
      assert.equal(entries.length, proposed, "no log entry: a JWT carries its own proof");
      assert.equal(reads, 1, "the password is checked against the latest auth state");
      assert.deepEqual(await auth.verifyToken(token), {
        username: "root",
        revision: jwtCtx.auth.revision(),
      });
    } finally {
      await closeServerContext(jwtCtx);
    }
  });
});
