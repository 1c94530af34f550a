// Client-certificate identity: with --client-cert-auth and auth enabled, a
// request without a token acts as the user named by the verified
// certificate's CN (etcd's AuthInfoFromTLS); a token, when sent, wins.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { type RunningServer, requireTool, startConclave } from "@conclave/testkit";
import { createTestCerts, type TestCerts } from "./test-certs.js";

const certs: TestCerts = createTestCerts(["root", "alice", "ghost"]);

function etcdctl(endpoint: string, client: string, args: string[]) {
  const files = certs.clients[client];
  assert.ok(files, client);
  const r = spawnSync(
    requireTool("etcdctl"),
    [
      `--endpoints=${endpoint}`,
      `--cacert=${certs.ca.cert}`,
      `--cert=${files.cert}`,
      `--key=${files.key}`,
      ...args,
    ],
    { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 20_000 },
  );
  return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), code: r.status };
}

describe("auth: the client certificate's CN is the user", () => {
  let server: RunningServer;
  const ok = (client: string, args: string[]) => {
    const r = etcdctl(server.url, client, args);
    assert.equal(r.code, 0, `${client}: etcdctl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const deniedWith = (client: string, args: string[], message: string) => {
    const r = etcdctl(server.url, client, args);
    assert.notEqual(r.code, 0, `${client}: etcdctl ${args.join(" ")} succeeded`);
    assert.match(r.stderr, new RegExp(`Error: ${message}\\n$`), r.stderr);
  };

  before(async () => {
    server = await startConclave({
      scheme: "https",
      args: [
        "--cert-file",
        certs.server.cert,
        "--key-file",
        certs.server.key,
        "--client-cert-auth",
        "--trusted-ca-file",
        certs.ca.cert,
      ],
    });
    ok("root", ["user", "add", "root:rootpw"]);
    ok("root", ["user", "add", "alice", "--no-password"]);
    ok("root", ["role", "add", "app"]);
    ok("root", ["role", "grant-permission", "app", "readwrite", "--prefix", "app/"]);
    ok("root", ["user", "grant-role", "alice", "app"]);
    ok("root", ["auth", "enable"]);
  });
  after(async () => {
    assert.equal(await server.stop(), 0, server.output());
  });

  test("alice's certificate gets alice's permissions, without a password", () => {
    assert.equal(ok("alice", ["put", "app/x", "1"]), "OK\n");
    assert.equal(ok("alice", ["get", "app/x", "--print-value-only"]), "1\n");
    deniedWith("alice", ["put", "other", "1"], "etcdserver: permission denied");
    deniedWith("alice", ["user", "list"], "etcdserver: permission denied");
  });

  test("root's certificate administers; a CN without a user is denied", () => {
    assert.equal(ok("root", ["user", "list"]), "alice\nroot\n");
    assert.equal(ok("root", ["put", "other", "1"]), "OK\n");
    deniedWith("ghost", ["get", "app/x"], "etcdserver: permission denied");
    deniedWith("ghost", ["user", "list"], "etcdserver: user name not found");
  });

  test("a token wins over the certificate", () => {
    assert.equal(ok("alice", ["--user", "root:rootpw", "put", "other", "2"]), "OK\n");
  });
});
