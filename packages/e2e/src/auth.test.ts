// Auth with real etcdctl 3.4: the same user/role/auth commands and the same
// --user accesses run against a real etcd 3.4.23 and against conclave, and
// what etcdctl prints must be the same byte for byte (after masking the
// timestamps and client IDs of its retry warnings). Plus persistence across
// kill -9 and graceful restarts, and token expiry.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { Auth, KV } from "@conclave/proto";
import { type RunningServer, requireTool, startConclave, startEtcd } from "@conclave/testkit";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { etcdctl } from "./etcdctl.js";

interface Step {
  args: string[];
  input?: string;
  /** Some commands (watch) run until killed: stop them after this many ms. */
  timeoutMs?: number;
}

/** etcdctl's retry warnings carry a time and a random client ID, and messages the endpoint: mask them. */
function normalize(text: string, endpoint: string): string {
  return text
    .replaceAll(endpoint, "<endpoint>")
    .replace(/"ts":"[^"]*"/g, '"ts":"<ts>"')
    .replace(/"target":"endpoint:\/\/client-[^/]*\/[^"]*"/g, '"target":"<target>"');
}

function run(endpoint: string, step: Step) {
  if (step.timeoutMs === undefined) {
    const r = etcdctl(endpoint, step.args, step.input);
    return { stdout: r.stdout, stderr: normalize(r.stderr, endpoint), code: r.code };
  }
  const r = spawnSync(requireTool("etcdctl"), [`--endpoints=${endpoint}`, ...step.args], {
    env: { ...process.env, ETCDCTL_API: "3" },
    timeout: step.timeoutMs,
    input: step.input ?? "",
  });
  return {
    stdout: r.stdout.toString(),
    stderr: normalize(r.stderr.toString(), endpoint),
    code: r.status,
  };
}

const root = ["--user", "root:rootpw"];
const alice = ["--user", "alice:alicepw"];
const txnInput = (success: string, failure: string) =>
  `value("foo/x") = "1"\n\n${success}\n\n${failure}\n\n`;

/**
 * A session an operator would type: set up root, a user and a role with
 * every range form, enable auth, use it as root and as alice (allowed and
 * denied), hit the error paths, disable.
 */
const script: Step[] = [
  { args: ["auth", "enable"] },
  { args: ["user", "add", "root:rootpw"] },
  // etcdctl answers "root user does not have root role" by adding the role and retrying.
  { args: ["auth", "enable"] },
  { args: ["user", "get", "root"] },
  { args: [...root, "user", "get", "root"] },
  { args: [...root, "role", "get", "root"] },
  { args: [...root, "user", "add", "root:x"] },
  { args: [...root, "user", "add", "alice:alicepw"] },
  { args: [...root, "role", "add", "alice"] },
  { args: [...root, "role", "add", "alice"] },
  { args: [...root, "role", "grant-permission", "alice", "readwrite", "--prefix", "foo/"] },
  { args: [...root, "role", "grant-permission", "alice", "read", "single"] },
  { args: [...root, "role", "grant-permission", "alice", "write", "single"] },
  { args: [...root, "role", "grant-permission", "alice", "read", "--from-key", "zz"] },
  { args: [...root, "role", "grant-permission", "alice", "readwrite", "a", "c"] },
  { args: [...root, "role", "get", "alice"] },
  { args: [...root, "user", "grant-role", "alice", "alice"] },
  { args: [...root, "user", "grant-role", "alice", "alice"] },
  { args: [...root, "user", "grant-role", "alice", "nosuch"] },
  { args: [...root, "user", "grant-role", "nosuch", "alice"] },
  { args: [...root, "user", "get", "alice"] },
  { args: [...root, "user", "get", "alice", "--detail"] },
  { args: [...root, "user", "list"] },
  { args: [...root, "role", "list"] },
  { args: [...root, "user", "get", "nosuch"] },
  { args: [...root, "role", "get", "nosuch"] },
  { args: [...root, "user", "revoke-role", "alice", "nosuch"] },
  { args: [...root, "role", "revoke-permission", "alice", "nosuch"] },
  { args: [...root, "role", "revoke-permission", "alice", "a"] },
  { args: [...root, "user", "delete", "root"] },
  { args: [...root, "user", "revoke-role", "root", "root"] },
  { args: [...root, "role", "delete", "root"] },
  { args: [...root, "user", "delete", "nosuch"] },
  { args: [...root, "role", "delete", "nosuch"] },
  { args: [...root, "put", "x", "1"] },
  // alice: allowed and denied, by range form
  { args: [...alice, "put", "foo/x", "1"] },
  { args: [...alice, "get", "foo/", "--prefix"] },
  { args: [...alice, "put", "bar", "1"] },
  { args: [...alice, "get", "a", "d"] },
  { args: [...alice, "get", "zz", "--from-key"] },
  { args: [...alice, "get", "z", "--from-key"] },
  { args: [...alice, "put", "single", "v"] },
  { args: [...alice, "get", "single"] },
  { args: [...alice, "put", "single", "v2", "--prev-kv"] },
  { args: [...alice, "put", "x", "2"] },
  { args: [...alice, "get", "x"] },
  { args: [...alice, "del", "x"] },
  { args: [...alice, "del", "foo/", "--prefix"] },
  { args: [...alice, "put", "foo/x", "1"] },
  { args: [...alice, "txn"], input: txnInput("put foo/a 1", "get foo/x") },
  { args: [...alice, "txn"], input: txnInput("put foo/a 1", "put x 1") },
  { args: [...alice, "watch", "x"], timeoutMs: 5000 },
  { args: ["watch", "x"], timeoutMs: 5000 },
  { args: [...alice, "lock", "x"], timeoutMs: 5000 },
  { args: ["--user", "alice:wrong", "get", "foo/x"] },
  { args: ["--user", "nobody:x", "get", "foo/x"] },
  { args: ["get", "foo/x"] },
  { args: [...alice, "user", "get", "alice"] },
  { args: [...alice, "role", "get", "alice"] },
  { args: [...alice, "user", "list"] },
  { args: [...alice, "role", "get", "root"] },
  { args: [...alice, "user", "passwd", "alice", "--interactive=false"], input: "newpw\n" },
  { args: [...alice, "auth", "disable"] },
  { args: [...alice, "defrag"] },
  { args: [...root, "user", "passwd", "alice", "--interactive=false"], input: "alicepw2\n" },
  { args: [...alice, "get", "foo/x"] },
  { args: ["--user", "alice:alicepw2", "get", "foo/x"] },
  { args: [...root, "role", "revoke-permission", "alice", "foo/", "foo0"] },
  { args: ["--user", "alice:alicepw2", "get", "foo/x"] },
  { args: [...root, "user", "revoke-role", "alice", "alice"] },
  { args: [...root, "role", "delete", "alice"] },
  { args: [...root, "user", "delete", "alice"] },
  { args: [...root, "auth", "disable"] },
  { args: ["auth", "disable"] },
  { args: [...root, "get", "x"] },
  { args: ["get", "x"] },
  { args: ["user", "list"] },
];

describe("etcdctl user/role/auth: conclave prints what etcd 3.4.23 prints", () => {
  let etcd: RunningServer;
  let conclave: RunningServer;

  before(async () => {
    requireTool("etcdctl");
    [etcd, conclave] = await Promise.all([startEtcd(), startConclave()]);
  });
  after(async () => {
    await etcd.kill();
    assert.equal(await conclave.stop(), 0, conclave.output());
  });

  test("the whole session, command by command", () => {
    for (const step of script) {
      const want = run(etcd.endpoint, step);
      const got = run(conclave.endpoint, step);
      assert.deepEqual(got, want, `etcdctl ${step.args.join(" ")}`);
    }
  });
});

const t = (s: string) => new TextEncoder().encode(s);

describe("auth state is durable", () => {
  test("survives kill -9 and a graceful restart: enabled, users, roles, permissions", async () => {
    let server = await startConclave();
    const { dataDir } = server;
    const ok = (args: string[], input?: string) => {
      const r = etcdctl(server.endpoint, args, input);
      assert.equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    ok(["user", "add", "root:rootpw"]);
    ok(["auth", "enable"]);
    ok([...root, "user", "add", "alice:alicepw"]);
    ok([...root, "role", "add", "app"]);
    ok([...root, "role", "grant-permission", "app", "readwrite", "--prefix", "app/"]);
    ok([...root, "user", "grant-role", "alice", "app"]);
    ok([...alice, "put", "app/k", "v1"]);
    await server.kill();

    for (const restart of ["after kill -9", "after graceful stop"]) {
      server = await startConclave({ dataDir });
      assert.equal(ok([...alice, "get", "app/k", "--print-value-only"]), "v1\n", restart);
      const denied = etcdctl(server.endpoint, [...alice, "put", "other", "v"]);
      assert.match(denied.stderr, /Error: etcdserver: permission denied/, restart);
      const anonymous = etcdctl(server.endpoint, ["get", "app/k"]);
      assert.match(anonymous.stderr, /Error: etcdserver: user name is empty/, restart);
      assert.equal(
        ok([...root, "role", "get", "app"]),
        "Role app\nKV Read:\n\t[app/, app0) (prefix app/)\nKV Write:\n\t[app/, app0) (prefix app/)\n",
      );
      if (restart === "after kill -9") await server.kill();
      else assert.equal(await server.stop(), 0);
    }
  });
});

describe("tokens", () => {
  let server: RunningServer;
  before(async () => {
    server = await startConclave({ args: ["--auth-token-ttl", "2"] });
    for (const args of [
      ["user", "add", "root:rootpw"],
      ["auth", "enable"],
    ]) {
      assert.equal(etcdctl(server.endpoint, args).code, 0);
    }
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test("expire after --auth-token-ttl without use; use keeps them alive", async () => {
    const transport = createGrpcTransport({ baseUrl: server.url });
    const auth = createClient(Auth, transport);
    const kv = createClient(KV, transport);
    const idle = (await auth.authenticate({ name: "root", password: "rootpw" })).token;
    const busy = (await auth.authenticate({ name: "root", password: "rootpw" })).token;
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 500));
      await kv.range({ key: t("k") }, { headers: { token: busy } });
    }
    await assert.rejects(kv.range({ key: t("k") }, { headers: { token: idle } }), (e) => {
      const ce = ConnectError.from(e);
      assert.equal(ce.code, Code.Unauthenticated);
      assert.equal(ce.rawMessage, "etcdserver: invalid auth token");
      return true;
    });
    await kv.range({ key: t("k") }, { headers: { token: busy } });
  });
});
