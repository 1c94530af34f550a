import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Permission_Type } from "@conclave/proto";
import {
  closeServerContext,
  createRoutes,
  errorInterceptor,
  openServerContext,
  type ServerContext,
} from "@conclave/server";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { createAuthSession } from "./auth-session.js";
import { createConclaveClient } from "./conclave-client.js";

const enc = new TextEncoder();
let ctx: ServerContext;

before(async () => {
  ctx = await openServerContext({ dataDir: ":memory:" });
  await ctx.auth.userAdd("root", "rootpw");
  await ctx.auth.userGrantRole("root", "root");
  await ctx.auth.userAdd("alice", "alicepw");
  await ctx.auth.roleAdd("app");
  await ctx.auth.roleGrantPermission("app", {
    permType: Permission_Type.READWRITE,
    key: enc.encode("app/"),
    rangeEnd: enc.encode("app0"),
  });
  await ctx.auth.userGrantRole("alice", "app");
  await ctx.auth.enable();
});
after(async () => {
  await closeServerContext(ctx);
});

function connect() {
  const session = createAuthSession();
  const transport = createRouterTransport(createRoutes(ctx), {
    router: { interceptors: [errorInterceptor] },
    transport: { interceptors: [session.interceptor] },
  });
  return { session, transport, client: createConclaveClient(transport) };
}

describe("auth session", () => {
  it("sends the token on every call; the user's permissions apply", async () => {
    const { session, transport, client } = connect();
    await assert.rejects(client.get("app/x"), (e) => {
      assert.equal(ConnectError.from(e).rawMessage, "etcdserver: user name is empty");
      return true;
    });
    await session.login(transport, "alice", "alicepw");
    assert.match(session.token() ?? "", /^[a-zA-Z]{16}\.\d+$/);
    await client.put("app/x", "1");
    assert.equal((await client.get("app/x"))?.value.length, 1);
    await assert.rejects(client.put("other", "1"), (e) => {
      assert.equal(ConnectError.from(e).code, Code.PermissionDenied);
      return true;
    });
    client.close();
  });

  it("a wrong password rejects with etcd's error and keeps no credentials", async () => {
    const { session, transport } = connect();
    await assert.rejects(session.login(transport, "alice", "nope"), (e) => {
      assert.equal(
        ConnectError.from(e).rawMessage,
        "etcdserver: authentication failed, invalid user ID or password",
      );
      return true;
    });
    assert.equal(session.token(), undefined);
  });

  it("renews a token the server no longer knows and retries the call once", async () => {
    const { session, transport, client } = connect();
    await session.login(transport, "alice", "alicepw");
    const first = session.token();
    // Disabling drops every token; the old one is now invalid.
    await ctx.auth.disable();
    await ctx.auth.enable();
    await client.put("app/y", "2");
    assert.notEqual(session.token(), first);
    session.logout();
    assert.equal(session.token(), undefined);
    client.close();
  });
});
