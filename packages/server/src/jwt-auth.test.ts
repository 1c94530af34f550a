// JWTs through the services (`--auth-token jwt,…`): the token's revision
// claim against the auth store's, etcd's errors for an old or invalid token,
// and a verify-only server that accepts another's tokens but signs none.

import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createJwtTokens } from "@conclave/core";
import { Auth, KV, Watch, type WatchResponse } from "@conclave/proto";
import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { errorInterceptor } from "./error-interceptor.js";
import { createRoutes } from "./routes.js";
import { closeServerContext, openServerContext, type ServerContext } from "./server-context.js";
import { expectError } from "./test-util.js";

const enc = new TextEncoder();
const b = (s: string) => enc.encode(s);
const as = (token: string) => ({ headers: { token } });

const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const privatePem = enc.encode(privateKey.export({ type: "pkcs1", format: "pem" }) as string);
const publicPem = enc.encode(publicKey.export({ type: "spki", format: "pem" }) as string);

/** A server over its own memory store, with root and the same auth history as any other. */
async function server(keys: "both" | "public") {
  const ctx = await openServerContext({
    dataDir: ":memory:",
    jwtTokens: createJwtTokens({
      signMethod: "RS256",
      publicKey: publicPem,
      ...(keys === "both" && { privateKey: privatePem }),
    }),
  });
  await ctx.auth.userAdd("root", "rootpw");
  await ctx.auth.roleAdd("root");
  await ctx.auth.userGrantRole("root", "root");
  await ctx.auth.enable();
  const transport = createRouterTransport(createRoutes(ctx), {
    router: { interceptors: [errorInterceptor] },
  });
  return {
    ctx,
    auth: createClient(Auth, transport),
    kv: createClient(KV, transport),
    watch: createClient(Watch, transport),
  };
}

describe("JWT auth through the services", () => {
  let issuer: Awaited<ReturnType<typeof server>>;
  let verifier: Awaited<ReturnType<typeof server>>;
  const contexts: ServerContext[] = [];
  before(async () => {
    issuer = await server("both");
    verifier = await server("public");
    contexts.push(issuer.ctx, verifier.ctx);
  });
  after(async () => {
    for (const ctx of contexts) await closeServerContext(ctx);
  });

  it("a token works for KV and Watch until an auth change makes it old", async () => {
    const { token } = await issuer.auth.authenticate({ name: "root", password: "rootpw" });
    assert.equal(token.split(".").length, 3);
    await issuer.kv.put({ key: b("k"), value: b("v") }, as(token));
    const got = await issuer.kv.range({ key: b("k") }, as(token));
    assert.equal(got.count, 1n);

    await issuer.auth.roleAdd({ name: "r" }, as(token)); // admin needs no current revision
    const old = "etcdserver: revision of auth store is old";
    await expectError(
      issuer.kv.put({ key: b("k"), value: b("w") }, as(token)),
      Code.InvalidArgument,
      old,
    );
    await expectError(
      issuer.kv.txn(
        { success: [{ request: { case: "requestRange", value: { key: b("k") } } }] },
        as(token),
      ),
      Code.InvalidArgument,
      old,
    );
    // A watch create is refused in etcd's form: created+canceled with the status as text.
    const abort = new AbortController();
    const requests = (async function* () {
      yield { requestUnion: { case: "createRequest" as const, value: { key: b("k") } } };
      await new Promise((r) => abort.signal.addEventListener("abort", r));
    })();
    let first: WatchResponse | undefined;
    for await (const m of issuer.watch.watch(requests, { ...as(token), signal: abort.signal })) {
      first = m;
      break;
    }
    abort.abort();
    assert.equal(first?.canceled, true);
    assert.equal(first?.cancelReason, `rpc error: code = InvalidArgument desc = ${old}`);

    const fresh = (await issuer.auth.authenticate({ name: "root", password: "rootpw" })).token;
    await issuer.kv.put({ key: b("k"), value: b("w") }, as(fresh));
  });

  it("invalid tokens: etcd's text, after validation errors", async () => {
    const { token } = await issuer.auth.authenticate({ name: "root", password: "rootpw" });
    const tampered = `${token.slice(0, -4)}AAAA`;
    await expectError(
      issuer.kv.range({ key: b("k") }, as(tampered)),
      Code.Unauthenticated,
      "etcdserver: invalid auth token",
    );
    // The request's own error comes first, as in etcd.
    await expectError(
      issuer.kv.put({ key: b(""), value: b("v") }, as(tampered)),
      Code.InvalidArgument,
      "etcdserver: key is not provided",
    );
  });

  it("a verify-only server accepts the issuer's token (same auth data) and signs none", async () => {
    // Both servers made the same auth changes: their auth revisions are equal.
    const twin = await server("both");
    contexts.push(twin.ctx);
    assert.equal(verifier.ctx.auth.revision(), twin.ctx.auth.revision());
    const { token } = await twin.auth.authenticate({ name: "root", password: "rootpw" });
    await verifier.kv.put({ key: b("x"), value: b("1") }, as(token));
    assert.equal((await verifier.kv.range({ key: b("x") }, as(token))).count, 1n);
    await expectError(
      verifier.auth.authenticate({ name: "root", password: "wrong" }),
      Code.InvalidArgument,
      "etcdserver: authentication failed, invalid user ID or password",
    );
    await expectError(
      verifier.auth.authenticate({ name: "root", password: "rootpw" }),
      Code.Unknown,
      "auth: token signing attempted with verify-only key",
    );
  });
});
