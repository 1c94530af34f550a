// etcdctl 3.4 with endpoints written as URLs (`--endpoints=http://…`,
// `https://…`) as well as bare `host:port`, on every kind of listener:
// h2c, TLS, and both on one port. etcd 3.4's clientv3 (grpc-go before 1.30)
// sends such an endpoint whole as `:authority` on the connections it opens
// to one endpoint (Maintenance calls); nghttp2 inside Node would reset those
// streams, so Conclave repairs the header (apps/server/src/authority-repair).
// Over TLS grpc-go sends the certificate's server name instead (`127.0.0.1`),
// so there the URL form needs no repair; one-port-server.test.ts covers a
// repaired TLS connection and its client certificate's CN. move-leader is
// compared with a real etcd 3.4.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  freePort,
  type RunningServer,
  requireTool,
  startConclave,
  startEtcd,
} from "@conclave/testkit";
import { createTestCerts, type TestCerts } from "./test-certs.js";

const certs: TestCerts = createTestCerts();
const snapshots = mkdtempSync(join(tmpdir(), "conclave-schemes-"));
process.once("exit", () => rmSync(snapshots, { recursive: true, force: true }));

/** etcdctl; a `#tls` endpoint (bare host:port) and `https://` ones trust the test CA. */
function etcdctl(endpoint: string, args: string[]) {
  const tls = endpoint.startsWith("https://") || endpoint.includes("#tls");
  const r = spawnSync(
    requireTool("etcdctl"),
    [
      `--endpoints=${endpoint.replace("#tls", "")}`,
      "--dial-timeout=3s",
      "--command-timeout=5s",
      ...(tls ? [`--cacert=${certs.ca.cert}`] : []),
      ...args,
    ],
    { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 20_000 },
  );
  return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), code: r.status };
}

/** Runs a command that must succeed; its stdout (`endpoint health` reports on stderr: both). */
function ok(endpoint: string, args: string[]): string {
  const r = etcdctl(endpoint, args);
  assert.equal(r.code, 0, `${endpoint}: etcdctl ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return args[1] === "health" ? r.stdout + r.stderr : r.stdout;
}

/** The member ID in hex, as etcdctl's move-leader takes it. */
function memberIdOf(endpoint: string): string {
  // JSON.parse would lose the low bits of a 64-bit ID: read the digits.
  const json = ok(endpoint, ["endpoint", "status", "-w", "json"]);
  const digits = /"member_id":(\d+)/.exec(json)?.[1];
  assert.ok(digits, json);
  return BigInt(digits).toString(16);
}

/** What move-leader prints and exits with, the member ID replaced by "ID". */
function moveLeader(endpoint: string, target: string) {
  const id = memberIdOf(endpoint);
  const r = etcdctl(endpoint, ["move-leader", target === "self" ? id : target]);
  const lastLine = (s: string) => s.trim().split("\n").at(-1) ?? "";
  return {
    code: r.code,
    stdout: r.stdout.replaceAll(id, "ID"),
    error: lastLine(r.stderr),
  };
}

/** The endpoint forms of a listener: as a URL and bare (TLS marked for --cacert). */
function forms(url: string): string[] {
  const bare = url.replace(/^https?:\/\//, "");
  return [url, url.startsWith("https") ? `${bare}#tls` : bare];
}

describe("etcdctl with http:// and https:// endpoints", () => {
  let conclave: RunningServer;
  let etcd: RunningServer;
  let endpoints: string[];

  before(async () => {
    const tlsPort = await freePort();
    const bothPort = await freePort();
    conclave = await startConclave({
      extraListenUrls: [
        `https://127.0.0.1:${tlsPort}`,
        `http://127.0.0.1:${bothPort}`,
        `https://127.0.0.1:${bothPort}`,
      ],
      args: ["--cert-file", certs.server.cert, "--key-file", certs.server.key],
    });
    etcd = await startEtcd();
    endpoints = [
      conclave.url,
      `https://127.0.0.1:${tlsPort}`,
      `http://127.0.0.1:${bothPort}`,
      `https://127.0.0.1:${bothPort}`,
    ].flatMap(forms);
  });
  after(async () => {
    await etcd.stop();
    const code = await conclave.stop();
    assert.equal(code, 0, conclave.output());
  });

  test("maintenance commands work with every endpoint form on every listener", () => {
    for (const endpoint of endpoints) {
      assert.match(ok(endpoint, ["endpoint", "status"]), /, 3\.4\.23, /, endpoint);
      assert.match(ok(endpoint, ["endpoint", "hashkv"]), /, \d+\n$/, endpoint);
      assert.match(ok(endpoint, ["endpoint", "health"]), /is healthy/, endpoint);
      assert.match(ok(endpoint, ["defrag"]), /Finished defragmenting etcd member/, endpoint);
      assert.equal(ok(endpoint, ["alarm", "list"]), "", endpoint);
      const file = join(snapshots, `${endpoints.indexOf(endpoint)}.db`);
      assert.match(ok(endpoint, ["snapshot", "save", file]), /Snapshot saved at/, endpoint);
      assert.ok(statSync(file).size > 0);
      assert.match(ok(endpoint, ["move-leader", memberIdOf(endpoint)]), /transferred/, endpoint);
    }
  });

  test("KV commands work with every endpoint form on every listener", () => {
    for (const [i, endpoint] of endpoints.entries()) {
      assert.equal(ok(endpoint, ["put", `schemes/${i}`, endpoint]), "OK\n");
      assert.equal(ok(endpoint, ["get", `schemes/${i}`, "--print-value-only"]), `${endpoint}\n`);
      const keys = ok(endpoint, ["get", "schemes/", "--prefix", "--keys-only"]);
      assert.equal(keys.split("\n").filter((l) => l !== "").length, i + 1, keys);
      assert.match(ok(endpoint, ["member", "list"]), /started, default/);
    }
    assert.equal(ok(endpoints[0] ?? "", ["del", "schemes/", "--prefix"]), `${endpoints.length}\n`);
  });

  test("move-leader answers as etcd 3.4 does for a single member", () => {
    for (const target of ["self", "5", "0"]) {
      for (const [conclaveEndpoint, etcdEndpoint] of [
        [conclave.url, etcd.url],
        [conclave.endpoint, etcd.endpoint],
      ] as const) {
        assert.deepEqual(
          moveLeader(conclaveEndpoint, target),
          moveLeader(etcdEndpoint, target),
          `move-leader ${target} via ${conclaveEndpoint}`,
        );
      }
    }
    assert.deepEqual(moveLeader(conclave.url, "self"), {
      code: 0,
      stdout: "Leadership transferred from ID to ID\n",
      error: "",
    });
  });
});

describe("etcdctl with https:// endpoints and client certificates", () => {
  let conclave: RunningServer;

  before(async () => {
    conclave = await startConclave({
      scheme: "https",
      args: [
        ...["--cert-file", certs.server.cert, "--key-file", certs.server.key],
        ...["--client-cert-auth", "--trusted-ca-file", certs.ca.cert],
      ],
    });
  });
  after(async () => {
    const code = await conclave.stop();
    assert.equal(code, 0, conclave.output());
  });

  test("https:// endpoints act as the client certificate's CN", () => {
    const as = (client: string) => {
      const files = certs.clients[client];
      assert.ok(files);
      return [`--cert=${files.cert}`, `--key=${files.key}`];
    };
    const url = conclave.url;
    ok(url, [...as("root"), "user", "add", "root", "--new-user-password=rootpw"]);
    ok(url, [...as("root"), "user", "add", "alice", "--new-user-password=alicepw"]);
    ok(url, [...as("root"), "auth", "enable"]);
    // HashKV needs the root role: only the root certificate's CN has it.
    assert.match(ok(url, [...as("root"), "endpoint", "hashkv"]), /, \d+\n$/);
    const alice = etcdctl(url, [...as("alice"), "endpoint", "hashkv"]);
    assert.notEqual(alice.code, 0);
    assert.match(alice.stderr, /permission denied/);
    assert.match(ok(url, [...as("alice"), "endpoint", "status"]), /, 3\.4\.23, /);
  });
});
