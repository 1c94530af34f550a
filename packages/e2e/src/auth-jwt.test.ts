// JWT auth tokens (`--auth-token jwt,…`) over the wire: real etcdctl 3.4 with
// --user doing put/get/txn/watch/lease against a server signing RS256 tokens
// with keys made by openssl (a certificate as pub-key, as etcd's own e2e
// tests pass); the token checked with jose against the public key alone;
// tokens surviving a restart and accepted by a second, verify-only server
// over a copy of the same data; expiry and an old auth revision refused with
// etcd's texts.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Auth, KV } from "@conclave/proto";
import { type RunningServer, requireTool, serverBundle, startConclave } from "@conclave/testkit";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { decodeProtectedHeader, importX509, jwtVerify } from "jose";
import { etcdctl } from "./etcdctl.js";

const enc = new TextEncoder();
const root = ["--user", "root:rootpw"];

/** An RSA key and a self-signed certificate for it, made by openssl in a temp dir. */
function makeKeys(): { dir: string; key: string; cert: string } {
  const openssl = requireTool("openssl");
  const dir = mkdtempSync(join(tmpdir(), "conclave-jwt-"));
  const key = join(dir, "server.key");
  const cert = join(dir, "server.crt");
  execFileSync(openssl, ["genrsa", "-out", key, "2048"], { stdio: "ignore" });
  execFileSync(
    openssl,
    ["req", "-x509", "-new", "-key", key, "-out", cert, "-days", "1", "-subj", "/CN=conclave"],
    { stdio: "ignore" },
  );
  return { dir, key, cert };
}

const jwtFlag = (keys: { key?: string; cert: string }, ttl: string) => [
  "--auth-token",
  `jwt,pub-key=${keys.cert}${keys.key ? `,priv-key=${keys.key}` : ""},sign-method=RS256,ttl=${ttl}`,
];

function clients(server: RunningServer) {
  const transport = createGrpcTransport({ baseUrl: server.url });
  return { auth: createClient(Auth, transport), kv: createClient(KV, transport) };
}

async function refused(p: Promise<unknown>, code: Code, message: string) {
  await assert.rejects(p, (e) => {
    const ce = ConnectError.from(e);
    assert.equal(ce.rawMessage, message);
    assert.equal(ce.code, code);
    return true;
  });
}

function ok(server: RunningServer, args: string[], input?: string): string {
  const r = etcdctl(server.endpoint, args, input);
  assert.equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

describe("JWT auth tokens", () => {
  const keys = makeKeys();
  let server: RunningServer;
  before(async () => {
    server = await startConclave({ args: jwtFlag(keys, "5m") });
    ok(server, ["user", "add", "root:rootpw"]);
    ok(server, ["auth", "enable"]);
  });
  after(async () => {
    await server.stop();
  });

  test("etcdctl --user: put, get, txn, lease, watch", async () => {
    assert.equal(ok(server, [...root, "put", "foo", "bar"]), "OK\n");
    assert.equal(ok(server, [...root, "get", "foo"]), "foo\nbar\n");
    assert.equal(
      ok(server, [...root, "txn"], 'value("foo") = "bar"\n\nput foo baz\n\nput foo nope\n\n'),
      "SUCCESS\n\nOK\n",
    );
    assert.equal(ok(server, [...root, "get", "foo", "--print-value-only"]), "baz\n");

    const grant = ok(server, [...root, "lease", "grant", "60"]);
    const id = /lease ([0-9a-f]+) granted/.exec(grant)?.[1];
    assert.ok(id, grant);
    ok(server, [...root, "put", "leased", "v", "--lease", id]);
    assert.match(
      ok(server, [...root, "lease", "timetolive", id, "--keys"]),
      /attached keys\(\[leased\]\)/,
    );
    assert.match(ok(server, [...root, "lease", "list"]), new RegExp(id));
    ok(server, [...root, "lease", "revoke", id]);
    assert.equal(ok(server, [...root, "get", "leased"]), "");

    // A watch with its token, then a write it must see.
    const watch = spawn(
      requireTool("etcdctl"),
      [`--endpoints=${server.endpoint}`, ...root, "watch", "w"],
      { env: { ...process.env, ETCDCTL_API: "3" } },
    );
    let seen = "";
    watch.stdout.on("data", (d: Buffer) => {
      seen += d.toString();
    });
    try {
      const deadline = Date.now() + 15_000;
      while (!seen.includes("PUT\nw\nhello\n") && Date.now() < deadline) {
        ok(server, [...root, "put", "w", "hello"]);
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.match(seen, /PUT\nw\nhello\n/);
    } finally {
      watch.kill();
    }
  });

  test("the token is etcd's JWT: RS256, claims username, revision, exp; checked with the public key alone", async () => {
    const { auth } = clients(server);
    const before = Math.floor(Date.now() / 1000);
    const { token } = await auth.authenticate({ name: "root", password: "rootpw" });
    assert.deepEqual(decodeProtectedHeader(token), { alg: "RS256", typ: "JWT" });
    const publicKey = await importX509(readFileSync(keys.cert, "utf8"), "RS256");
    const { payload } = await jwtVerify(token, publicKey, { algorithms: ["RS256"] });
    const status = await auth.authStatus({}, { headers: { token } });
    assert.deepEqual(Object.keys(payload), ["exp", "revision", "username"]);
    assert.equal(payload.username, "root");
    assert.equal(payload.revision, Number(status.authRevision));
    const exp = payload.exp ?? 0;
    assert.ok(exp >= before + 300 && exp <= before + 301, `exp ${exp}, issued ~${before}`);
  });

  test("an auth change makes older tokens old: etcd's error, and etcdctl authenticates again", async () => {
    const { auth, kv } = clients(server);
    const { token } = await auth.authenticate({ name: "root", password: "rootpw" });
    await kv.put({ key: enc.encode("k"), value: enc.encode("1") }, { headers: { token } });
    ok(server, [...root, "role", "add", "someone"]);
    await refused(
      kv.put({ key: enc.encode("k"), value: enc.encode("2") }, { headers: { token } }),
      Code.InvalidArgument,
      "etcdserver: revision of auth store is old",
    );
    assert.equal(ok(server, [...root, "put", "k", "3"]), "OK\n");
  });

  test("tokens survive a restart, and a verify-only server over the same data accepts them", async () => {
    const { auth } = clients(server);
    const { token } = await auth.authenticate({ name: "root", password: "rootpw" });
    assert.equal(await server.stop(), 0);
    const copy = mkdtempSync(join(tmpdir(), "conclave-jwt-copy-"));
    cpSync(server.dataDir, copy, { recursive: true });
    server = await startConclave({ dataDir: server.dataDir, args: jwtFlag(keys, "5m") });
    const verifier = await startConclave({
      dataDir: copy,
      args: jwtFlag({ cert: keys.cert }, "5m"),
    });
    try {
      for (const s of [server, verifier]) {
        const { kv } = clients(s);
        const got = await kv.range({ key: enc.encode("k") }, { headers: { token } });
        assert.equal(new TextDecoder().decode(got.kvs[0]?.value), "3");
      }
      // It signs nothing: Authenticate checks the password, then answers etcd's error.
      await refused(
        clients(verifier).auth.authenticate({ name: "root", password: "wrong" }),
        Code.InvalidArgument,
        "etcdserver: authentication failed, invalid user ID or password",
      );
      const r = etcdctl(verifier.endpoint, [...root, "get", "k"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /auth: token signing attempted with verify-only key/);
    } finally {
      await verifier.stop();
    }
  });
});

describe("JWT expiry", () => {
  const keys = makeKeys();
  let server: RunningServer;
  before(async () => {
    server = await startConclave({ args: jwtFlag(keys, "1s") });
    ok(server, ["user", "add", "root:rootpw"]);
    ok(server, ["auth", "enable"]);
  });
  after(async () => {
    await server.stop();
  });

  test("ttl=1s: refused once exp has passed, used or not; etcdctl goes on authenticating", async () => {
    const { auth, kv } = clients(server);
    const { token } = await auth.authenticate({ name: "root", password: "rootpw" });
    const { payload } = await jwtVerify(
      token,
      await importX509(readFileSync(keys.cert, "utf8"), "RS256"),
      { algorithms: ["RS256"], clockTolerance: 2 },
    );
    // exp is whole seconds, cut down as etcd's: at most one second away.
    const exp = payload.exp ?? 0;
    assert.ok(exp * 1000 - Date.now() <= 1000);
    await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 100));
    await refused(
      kv.range({ key: enc.encode("k") }, { headers: { token } }),
      Code.Unauthenticated,
      "etcdserver: invalid auth token",
    );
    assert.equal(ok(server, [...root, "put", "hoo", "bar"]), "OK\n");
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(ok(server, [...root, "put", "hoo", "bar"]), "OK\n");
  });

  test("a bad key stops the start with the reason", async () => {
    const r = spawnSyncConclave(["--auth-token", `jwt,priv-key=${keys.cert},sign-method=RS256`]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--auth-token: priv-key: cannot read the key/);
  });
});

/** Runs the CLI to its exit (a start that must fail), with a throwaway data dir. */
function spawnSyncConclave(args: string[]): { status: number | null; stderr: string } {
  const dataDir = mkdtempSync(join(tmpdir(), "conclave-jwt-bad-"));
  try {
    execFileSync(
      process.execPath,
      [serverBundle, "--data-dir", dataDir, "--listen-client-urls", "http://127.0.0.1:0", ...args],
      { stdio: ["ignore", "pipe", "pipe"], timeout: 20_000 },
    );
    return { status: 0, stderr: "" };
  } catch (e) {
    const err = e as { status: number | null; stderr?: Buffer };
    return { status: err.status, stderr: err.stderr?.toString() ?? "" };
  }
}
