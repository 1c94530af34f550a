import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, it } from "node:test";
import { createMemoryBackend } from "../backend/memory-backend.js";
import {
  errAuthFailed,
  errAuthNotEnabled,
  errAuthOldRevision,
  errInvalidAuthMgmt,
  errPermissionDenied,
  errPermissionNotGiven,
  errPermissionNotGranted,
  errRoleAlreadyExist,
  errRoleEmpty,
  errRoleNotFound,
  errRoleNotGranted,
  errRootRoleNotExist,
  errRootUserNotExist,
  errUserAlreadyExist,
  errUserEmpty,
  errUserNotFound,
  errVerifyOnly,
} from "../errors.js";
import { openKvStore } from "../mvcc/kv-store.js";
import { b } from "../test-util.js";
import { createAuthStore } from "./auth-store.js";
import { createJwtTokens } from "./jwt-tokens.js";
import { PermissionType } from "./permission-ranges.js";

/** Cheap hashing: the cost does not matter to what these tests check. */
const scrypt = { N: 16, r: 1, p: 1 };
const bcryptCost = 4;

function setup(backend = createMemoryBackend(), now?: () => number) {
  const store = openKvStore({ backend });
  const auth = createAuthStore({
    store,
    scrypt,
    bcryptCost,
    ...(now && { now }),
    tokenTtlSeconds: 10,
  });
  return { backend, store, auth };
}

const is = (want: Error) => (e: unknown) => e === want;

async function withRoot(auth: ReturnType<typeof setup>["auth"]) {
  await auth.userAdd("root", "rootpw");
  await auth.roleAdd("root");
  await auth.userGrantRole("root", "root");
}

describe("auth store", () => {
  it("enable needs root with the root role; errors as etcd's", async () => {
    const { auth } = setup();
    await assert.rejects(auth.enable(), is(errRootUserNotExist));
    await auth.userAdd("root", "pw");
    await assert.rejects(auth.enable(), is(errRootRoleNotExist));
    // The root role need not exist as a role to be granted (etcd).
    await auth.userGrantRole("root", "root");
    await auth.enable();
    assert.equal(auth.isEnabled(), true);
    await auth.enable(); // already on: no-op
    auth.close();
  });

  it("user and role management with etcd's errors", async () => {
    const { auth } = setup();
    await assert.rejects(auth.userAdd("", "x"), is(errUserEmpty));
    await assert.rejects(auth.roleAdd(""), is(errRoleEmpty));
    await auth.userAdd("alice", "pw");
    await assert.rejects(auth.userAdd("alice", "pw"), is(errUserAlreadyExist));
    await auth.roleAdd("r");
    await assert.rejects(auth.roleAdd("r"), is(errRoleAlreadyExist));
    await assert.rejects(auth.userGrantRole("alice", "nosuch"), is(errRoleNotFound));
    await assert.rejects(auth.userGrantRole("nosuch", "r"), is(errUserNotFound));
    await assert.rejects(auth.userRevokeRole("alice", "r"), is(errRoleNotGranted));
    await assert.rejects(
      auth.roleRevokePermission("r", b("a"), b("")),
      is(errPermissionNotGranted),
    );
    await assert.rejects(auth.roleGrantPermission("r", undefined), is(errPermissionNotGiven));
    await assert.rejects(auth.roleGrantPermission("nosuch", undefined), is(errRoleNotFound));
    assert.throws(() => auth.userGet("nosuch"), is(errUserNotFound));
    assert.throws(() => auth.roleGet("nosuch"), is(errRoleNotFound));
    await auth.userAdd("bob", "pw");
    await auth.userGrantRole("alice", "r");
    await auth.roleAdd("a-role");
    await auth.userGrantRole("alice", "a-role");
    assert.deepEqual(auth.userGet("alice"), ["a-role", "r"], "roles sorted");
    assert.deepEqual(auth.userList(), ["alice", "bob"]);
    assert.deepEqual(auth.roleList(), ["a-role", "r"]);
    // Deleting a role takes it from its users.
    await auth.roleDelete("r");
    assert.deepEqual(auth.userGet("alice"), ["a-role"]);
    await auth.userDelete("bob");
    await assert.rejects(auth.userDelete("bob"), is(errUserNotFound));
    await assert.rejects(auth.roleDelete("r"), is(errRoleNotFound));
    auth.close();
  });

  it("permissions: same range replaces the type, others sorted by key; revoke needs the exact range", async () => {
    const { auth } = setup();
    await auth.roleAdd("r");
    await auth.roleGrantPermission("r", {
      permType: PermissionType.READ,
      key: b("single"),
      rangeEnd: b(""),
    });
    await auth.roleGrantPermission("r", {
      permType: PermissionType.WRITE,
      key: b("single"),
      rangeEnd: b(""),
    });
    await auth.roleGrantPermission("r", {
      permType: PermissionType.READWRITE,
      key: b("a"),
      rangeEnd: b("c"),
    });
    await auth.roleGrantPermission("r", {
      permType: PermissionType.READ,
      key: b("zz"),
      rangeEnd: b("\0"),
    });
    assert.deepEqual(
      auth
        .roleGet("r")
        .map((p) => [
          p.permType,
          Buffer.from(p.key).toString(),
          Buffer.from(p.rangeEnd).toString(),
        ]),
      [
        [PermissionType.READWRITE, "a", "c"],
        [PermissionType.WRITE, "single", ""],
        [PermissionType.READ, "zz", "\0"],
      ],
    );
    await assert.rejects(
      auth.roleRevokePermission("r", b("a"), b("")),
      is(errPermissionNotGranted),
    );
    await auth.roleRevokePermission("r", b("a"), b("c"));
    assert.equal(auth.roleGet("r").length, 2);
    auth.close();
  });

  it("every change bumps the auth revision; enabling and no-op grants do not", async () => {
    const { auth } = setup();
    assert.equal(auth.revision(), 1);
    const steps: Array<[string, () => Promise<void>, number]> = [
      ["userAdd", () => auth.userAdd("root", "pw"), 1],
      ["roleAdd", () => auth.roleAdd("root"), 1],
      ["grant", () => auth.userGrantRole("root", "root"), 1],
      ["grant again", () => auth.userGrantRole("root", "root"), 0],
      ["enable", () => auth.enable(), 0],
      ["roleAdd r", () => auth.roleAdd("r"), 1],
      [
        "grant perm",
        () => auth.roleGrantPermission("r", { permType: 0, key: b("k"), rangeEnd: b("") }),
        1,
      ],
      ["revoke perm", () => auth.roleRevokePermission("r", b("k"), b("")), 1],
      ["chpw", () => auth.userChangePassword("root", "pw2"), 1],
      ["disable", () => auth.disable(), 1],
      ["disable again", () => auth.disable(), 0],
    ];
    for (const [label, step, bump] of steps) {
      const before = auth.revision();
      await step();
      assert.equal(auth.revision(), before + bump, label);
    }
    auth.close();
  });

  it("root may not be deleted or lose its role while auth is on", async () => {
    const { auth } = setup();
    await withRoot(auth);
    await auth.enable();
    await assert.rejects(auth.userDelete("root"), is(errInvalidAuthMgmt));
    await assert.rejects(auth.userRevokeRole("root", "root"), is(errInvalidAuthMgmt));
    await assert.rejects(auth.roleDelete("root"), is(errInvalidAuthMgmt));
    await auth.disable();
    await auth.userRevokeRole("root", "root");
    auth.close();
  });

  it("authenticate: tokens, wrong passwords, no_password users, invalidation", async () => {
    const { auth } = setup();
    await withRoot(auth);
    await auth.userAdd("alice", "alicepw");
    await auth.userAdd("nopw", "ignored", { noPassword: true });
    await assert.rejects(auth.authenticate("alice", "alicepw"), is(errAuthNotEnabled));
    await auth.enable();
    const t = await auth.authenticate("alice", "alicepw");
    assert.match(t, /^[a-zA-Z]{16}\.\d+$/);
    assert.equal(auth.authInfoFromToken(t)?.username, "alice");
    assert.equal(auth.authInfoFromToken("bogus"), undefined);
    await assert.rejects(auth.authenticate("alice", "wrong"), is(errAuthFailed));
    await assert.rejects(auth.authenticate("nobody", "x"), is(errAuthFailed));
    await assert.rejects(auth.authenticate("nopw", "ignored"), is(errAuthFailed));
    await assert.rejects(auth.authenticate("nopw", ""), is(errAuthFailed));
    // Changing the password revokes the user's tokens; so does deleting it.
    await auth.userChangePassword("alice", "new");
    assert.equal(auth.authInfoFromToken(t), undefined);
    await assert.rejects(auth.authenticate("alice", "alicepw"), is(errAuthFailed));
    const t2 = await auth.authenticate("alice", "new");
    const rootToken = await auth.authenticate("root", "rootpw");
    await auth.userDelete("alice");
    assert.equal(auth.authInfoFromToken(t2), undefined);
    // Disabling drops every token.
    await auth.disable();
    assert.equal(auth.authInfoFromToken(rootToken), undefined);
    auth.close();
  });

  it("tokens expire after the TTL without use; each use restarts the clock", async () => {
    let now = 1_000_000;
    const { auth } = setup(createMemoryBackend(), () => now);
    await withRoot(auth);
    await auth.enable();
    const t = await auth.authenticate("root", "rootpw");
    now += 9_000;
    assert.ok(auth.authInfoFromToken(t), "used within the TTL");
    now += 9_000;
    assert.ok(auth.authInfoFromToken(t), "the use restarted its clock");
    now += 10_000;
    assert.equal(auth.authInfoFromToken(t), undefined, "idle for the whole TTL");
    auth.close();
  });

  it("checks: auth off allows all; no user → user empty; root bypasses; admin needs root", async () => {
    const { auth } = setup();
    await withRoot(auth);
    await auth.userAdd("alice", "pw");
    await auth.roleAdd("alice");
    await auth.userGrantRole("alice", "alice");
    await auth.roleGrantPermission("alice", {
      permType: PermissionType.READWRITE,
      key: b("foo/"),
      rangeEnd: b("foo0"),
    });
    auth.checkPermission(undefined, b("x"), b(""), "write");
    auth.checkAdmin(undefined);
    await auth.enable();
    assert.throws(() => auth.checkPermission(undefined, b("x"), b(""), "read"), is(errUserEmpty));
    assert.throws(() => auth.checkAdmin(undefined), is(errUserEmpty));
    const alice = auth.authInfoFromName("alice");
    auth.checkPermission(alice, b("foo/x"), b(""), "write");
    assert.throws(
      () => auth.checkPermission(alice, b("bar"), b(""), "write"),
      is(errPermissionDenied),
    );
    assert.throws(() => auth.checkAdmin(alice), is(errPermissionDenied));
    assert.throws(() => auth.checkAdmin(auth.authInfoFromName("ghost")), is(errUserNotFound));
    assert.throws(
      () => auth.checkPermission(auth.authInfoFromName("ghost"), b("foo/x"), b(""), "read"),
      is(errPermissionDenied),
    );
    auth.checkPermission(auth.authInfoFromName("root"), b("\0"), b("\0"), "write");
    // A user granted the root role is an administrator too.
    await auth.userGrantRole("alice", "root");
    auth.checkAdmin(auth.authInfoFromName("alice"));
    auth.checkPermission(auth.authInfoFromName("alice"), b("bar"), b(""), "write");
    // Revoking takes effect at once (the permission cache is dropped on change).
    await auth.userRevokeRole("alice", "root");
    assert.throws(
      () => auth.checkPermission(auth.authInfoFromName("alice"), b("bar"), b(""), "write"),
      is(errPermissionDenied),
    );
    await auth.roleRevokePermission("alice", b("foo/"), b("foo0"));
    assert.throws(
      () => auth.checkPermission(auth.authInfoFromName("alice"), b("foo/x"), b(""), "write"),
      is(errPermissionDenied),
    );
    auth.close();
  });

  it("a change checks its caller's root role as it applies: after the password hash, before its own errors", async () => {
    const { auth } = setup();
    await withRoot(auth);
    await auth.userAdd("admin", "pw");
    await auth.userGrantRole("admin", "root");
    await auth.userAdd("alice", "pw");
    await auth.enable();
    const as = (name: string | undefined) => ({
      caller: name === undefined ? undefined : auth.authInfoFromName(name),
    });
    const root = as("root");
    // The admin check comes before the change's own errors, as in etcd's apply.
    await assert.rejects(auth.userAdd("", "pw", {}, as("alice")), is(errPermissionDenied));
    await assert.rejects(auth.userAdd("x", "pw", {}, as(undefined)), is(errUserEmpty));
    await assert.rejects(auth.userAdd("x", "pw", {}, as("nobody")), is(errUserNotFound));
    await assert.rejects(auth.roleDelete("nope", as("alice")), is(errPermissionDenied));
    await assert.rejects(auth.roleDelete("nope", root), is(errRoleNotFound));
    // Admin loses the root role while the hash runs: the change is refused, nothing written.
    const rev = auth.revision();
    // The assertions are attached at once: the refusals may come while the revoke is awaited.
    const adding = assert.rejects(
      auth.userAdd("bob", "pw", {}, as("admin")),
      is(errPermissionDenied),
    );
    const changing = assert.rejects(
      auth.userChangePassword("alice", "new", {}, as("admin")),
      is(errPermissionDenied),
    );
    await auth.userRevokeRole("admin", "root", root);
    await adding;
    await changing;
    assert.equal(auth.revision(), rev + 1, "only the revoke");
    assert.throws(() => auth.userGet("bob"), is(errUserNotFound));
    assert.ok(await auth.authenticate("alice", "pw"), "password unchanged");
    // Trusted changes (no caller) and root's go through.
    await auth.userAdd("bob", "pw", {}, root);
    await auth.userChangePassword("bob", "pw2");
    assert.ok(await auth.authenticate("bob", "pw2"));
  });

  it("onChange: every change is told synchronously, once in force; voided tokens name their user", async () => {
    const { auth } = setup();
    const seen: string[] = [];
    const off = auth.onChange((c) => {
      seen.push(`${auth.revision()}:${c.tokensVoidedFor ?? "-"}`);
    });
    // [what, change, told as, told in the same turn (no password hashing first)]
    const steps: Array<[string, () => Promise<void>, string, boolean]> = [
      ["user add", () => auth.userAdd("alice", "pw"), "2:-", false],
      ["role add", () => auth.roleAdd("app"), "3:-", true],
      ["grant", () => auth.userGrantRole("alice", "app"), "4:-", true],
      ["revoke", () => auth.userRevokeRole("alice", "app"), "5:-", true],
      ["password", () => auth.userChangePassword("alice", "pw2"), "6:alice", false],
      ["delete", () => auth.userDelete("alice"), "7:alice", true],
    ];
    for (const [name, step, want, sameTurn] of steps) {
      const done = step();
      // Told as the change takes effect, before it is durable.
      if (sameTurn) assert.equal(seen.at(-1), want, name);
      await done;
      assert.equal(seen.at(-1), want, name);
    }
    off();
    await auth.roleAdd("other");
    assert.equal(seen.length, steps.length, "no calls after unsubscribe");
  });

  it("state survives reopening the backend; passwords are stored hashed", async () => {
    const backend = createMemoryBackend();
    const first = setup(backend);
    await withRoot(first.auth);
    await first.auth.userAdd("alice", "secret-pw");
    await first.auth.roleAdd("r");
    await first.auth.roleGrantPermission("r", {
      permType: PermissionType.READ,
      key: b("a"),
      rangeEnd: b("\0"),
    });
    await first.auth.userGrantRole("alice", "r");
    await first.auth.enable();
    const rev = first.auth.revision();
    first.auth.close();
    await first.store.close();
    for (const { value } of backend.range("authUsers")) {
      assert.ok(!Buffer.from(value).toString().includes("secret-pw"), "no plain password on disk");
    }

    const second = setup(backend);
    assert.equal(second.auth.isEnabled(), true);
    assert.equal(second.auth.revision(), rev);
    assert.deepEqual(second.auth.userList(), ["alice", "root"]);
    assert.deepEqual(second.auth.userGet("alice"), ["r"]);
    assert.equal(second.auth.roleGet("r")[0]?.rangeEnd[0], 0);
    const t = await second.auth.authenticate("alice", "secret-pw");
    second.auth.checkPermission(second.auth.authInfoFromToken(t), b("b"), b(""), "read");
    second.auth.close();
    await second.store.close();
  });
});

describe("auth store with JWTs", () => {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const priv = new TextEncoder().encode(
    privateKey.export({ type: "sec1", format: "pem" }) as string,
  );
  const pub = new TextEncoder().encode(publicKey.export({ type: "spki", format: "pem" }) as string);
  const jwtSetup = (backend = createMemoryBackend(), keys: "both" | "public" = "both") => {
    const store = openKvStore({ backend });
    const tokens = createJwtTokens({
      signMethod: "ES256",
      publicKey: pub,
      ...(keys === "both" && { privateKey: priv }),
    });
    return { backend, store, auth: createAuthStore({ store, scrypt, bcryptCost, tokens }) };
  };

  it("a token names the auth revision it was issued at; a later change makes it old", async () => {
    const { auth, store } = jwtSetup();
    assert.equal(auth.tokenType, "jwt");
    await withRoot(auth);
    await auth.enable();
    const token = await auth.authenticate("root", "rootpw");
    const info = await auth.verifyToken(token);
    assert.deepEqual(info, { username: "root", revision: auth.revision() });
    auth.checkPermission(info, b("k"), b(""), "write");
    auth.checkAdmin(info);
    await auth.roleAdd("r");
    // etcd's isOpPermitted: the token's revision is older than the store's.
    assert.throws(() => auth.checkPermission(info, b("k"), b(""), "write"), is(errAuthOldRevision));
    // A new token is current again.
    const fresh = await auth.verifyToken(await auth.authenticate("root", "rootpw"));
    auth.checkPermission(fresh, b("k"), b(""), "write");
    assert.deepEqual(await auth.verifyToken("abcdefghijklmnop.1"), undefined);
    // Simple tokens' synchronous lookup does not apply.
    assert.throws(() => auth.authInfoFromToken(token), /verifyToken/);
    auth.close();
    await store.close();
  });

  it("no state: tokens survive a restart and auth disable; the password is still checked", async () => {
    const backend = createMemoryBackend();
    const first = jwtSetup(backend);
    await withRoot(first.auth);
    await first.auth.enable();
    await assert.rejects(first.auth.authenticate("root", "wrong"), is(errAuthFailed));
    const token = await first.auth.authenticate("root", "rootpw");
    const rev = first.auth.revision();
    first.auth.close();
    await first.store.close();

    const second = jwtSetup(backend);
    assert.deepEqual(await second.auth.verifyToken(token), { username: "root", revision: rev });
    await second.auth.disable();
    // etcd's JWT provider keeps nothing to drop: the token still verifies
    // (and is old now: disable raised the revision).
    assert.deepEqual(await second.auth.verifyToken(token), { username: "root", revision: rev });
    second.auth.close();
    await second.store.close();
  });

  it("verify-only (pub-key alone): Authenticate checks the password, then cannot sign", async () => {
    const backend = createMemoryBackend();
    const issuer = jwtSetup(backend);
    await withRoot(issuer.auth);
    await issuer.auth.enable();
    const token = await issuer.auth.authenticate("root", "rootpw");
    issuer.auth.close();
    await issuer.store.close();

    const verifier = jwtSetup(backend, "public");
    await assert.rejects(verifier.auth.authenticate("root", "wrong"), is(errAuthFailed));
    await assert.rejects(verifier.auth.authenticate("root", "rootpw"), is(errVerifyOnly));
    assert.equal((await verifier.auth.verifyToken(token))?.username, "root");
    verifier.auth.close();
    await verifier.store.close();
  });
});
