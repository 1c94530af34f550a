// TLS on the client port, driven by real etcdctl 3.4 and curl with
// certificates the test makes with openssl: etcd's --cert-file, --key-file,
// --trusted-ca-file and --client-cert-auth; ALPN h2 (gRPC) and http/1.1
// (Connect, gateway, /health) on one port; plaintext and TLS side by side.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { KV } from "@conclave/proto";
import {
  freePort,
  type RunningServer,
  requireTool,
  startConclave,
  startEtcd,
} from "@conclave/testkit";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { bytes, text } from "./clients.js";
import { spawnEtcdctl } from "./etcdctl-process.js";
import { createTestCerts, type TestCerts } from "./test-certs.js";

const certs: TestCerts = createTestCerts();

/** Flags for etcdctl: trust the test CA; present a client certificate ("stranger" = other CA). */
function tlsArgs(client?: string): string[] {
  const args = [`--cacert=${certs.ca.cert}`];
  const files = client === "stranger" ? certs.stranger : client && certs.clients[client];
  if (files) args.push(`--cert=${files.cert}`, `--key=${files.key}`);
  return args;
}

/**
 * Runs etcdctl (API v3). A refused handshake makes etcdctl retry until its
 * command timeout ("context deadline exceeded", as against etcd itself), so
 * calls expected to fail get a short one.
 */
function etcdctl(endpoint: string, args: string[], commandTimeout = "5s") {
  const r = spawnSync(
    requireTool("etcdctl"),
    [
      `--endpoints=${endpoint}`,
      "--dial-timeout=2s",
      `--command-timeout=${commandTimeout}`,
      ...args,
    ],
    { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 20_000 },
  );
  return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), code: r.status };
}

function ok(endpoint: string, args: string[]): string {
  const r = etcdctl(endpoint, args);
  assert.equal(r.code, 0, `etcdctl ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

function refused(endpoint: string, args: string[]): string {
  const r = etcdctl(endpoint, args, "2s");
  assert.notEqual(r.code, 0, `etcdctl ${args.join(" ")} succeeded: ${r.stdout}`);
  return r.stderr;
}

/** curl; returns stdout and the exit code (35/56/58 and friends are TLS failures). */
function curl(args: string[]) {
  const r = spawnSync(requireTool("curl"), ["-sS", "--max-time", "10", ...args], {
    timeout: 20_000,
  });
  return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), code: r.status };
}

function curlArgs(client?: string): string[] {
  const args = ["--cacert", certs.ca.cert];
  const files = client === "stranger" ? certs.stranger : client && certs.clients[client];
  if (files) args.push("--cert", files.cert, "--key", files.key);
  return args;
}

const serverFlags = ["--cert-file", certs.server.cert, "--key-file", certs.server.key];

async function stopCleanly(server: RunningServer) {
  const code = await server.stop();
  assert.equal(code, 0, `conclave exited with ${code}:\n${server.output()}`);
}

describe("TLS client port (--cert-file, --key-file)", () => {
  let server: RunningServer;
  let endpoint: string;

  before(async () => {
    requireTool("etcdctl");
    server = await startConclave({ scheme: "https", args: serverFlags });
    endpoint = server.url;
    assert.match(endpoint, /^https:\/\/127\.0\.0\.1:\d+$/);
  });
  after(() => stopCleanly(server));

  test("etcdctl put, get and member list over https with --cacert", () => {
    assert.equal(ok(endpoint, [...tlsArgs(), "put", "tls/a", "secret"]), "OK\n");
    assert.equal(ok(endpoint, [...tlsArgs(), "get", "tls/a"]), "tls/a\nsecret\n");
    // The advertised client URL defaults to the https listen URL.
    const members = ok(endpoint, [...tlsArgs(), "member", "list"]);
    assert.ok(members.includes(endpoint), members);
  });

  test("etcdctl refuses a server it cannot verify, and plaintext fails", () => {
    const untrusted = refused(endpoint, ["get", "tls/a"]);
    assert.match(untrusted, /certificate|deadline exceeded/i);
    refused(endpoint.replace("https:", "http:"), ["get", "tls/a"]);
  });

  test("etcdctl watch over https sees history and live events", async () => {
    const rev = /"revision":(\d+)/.exec(
      ok(endpoint, [...tlsArgs(), "put", "tls/w", "one", "-w", "json"]),
    )?.[1];
    assert.ok(rev);
    const watch = spawnEtcdctl(endpoint, [...tlsArgs(), "watch", "tls/w", `--rev=${rev}`]);
    try {
      await watch.waitFor("PUT\ntls/w\none\n");
      ok(endpoint, [...tlsArgs(), "put", "tls/w", "two"]);
      await watch.waitFor("PUT\ntls/w\none\nPUT\ntls/w\ntwo\n");
    } finally {
      await watch.kill();
    }
  });

  test("gRPC over h2 (ALPN) and Connect JSON over HTTPS/1.1", async () => {
    const grpc = createClient(
      KV,
      createGrpcTransport({ baseUrl: endpoint, nodeOptions: { ca: certs.read(certs.ca.cert) } }),
    );
    await grpc.put({ key: bytes("tls/c"), value: bytes("via grpc") });
    const connect = createClient(
      KV,
      createConnectTransport({
        baseUrl: endpoint,
        httpVersion: "1.1",
        nodeOptions: { ca: certs.read(certs.ca.cert) },
      }),
    );
    const res = await connect.range({ key: bytes("tls/c") });
    assert.equal(text(res.kvs[0]?.value ?? new Uint8Array()), "via grpc");
  });

  test("curl: /health over HTTP/1.1 and HTTP/2, the gateway's /v3/kv/range", () => {
    for (const version of ["--http1.1", "--http2"]) {
      const r = curl([...curlArgs(), version, "-w", "\n%{http_version}", `${endpoint}/health`]);
      assert.equal(r.code, 0, r.stderr);
      const [body, httpVersion] = r.stdout.split("\n");
      assert.deepEqual(JSON.parse(body ?? ""), { health: "true" });
      assert.equal(httpVersion, version === "--http2" ? "2" : "1.1");
    }
    const range = curl([
      ...curlArgs(),
      "-X",
      "POST",
      `${endpoint}/v3/kv/range`,
      "-d",
      JSON.stringify({ key: Buffer.from("tls/a").toString("base64") }),
    ]);
    assert.equal(range.code, 0, range.stderr);
    const kv = (JSON.parse(range.stdout) as { kvs: { value: string }[] }).kvs[0];
    assert.equal(Buffer.from(kv?.value ?? "", "base64").toString(), "secret");
    // Without the CA, curl does not trust the server.
    assert.notEqual(curl([`${endpoint}/health`]).code, 0);
  });
});

describe("client certificate auth (--client-cert-auth, --trusted-ca-file)", () => {
  let server: RunningServer;
  let endpoint: string;

  before(async () => {
    server = await startConclave({
      scheme: "https",
      args: [...serverFlags, "--client-cert-auth", "--trusted-ca-file", certs.ca.cert],
    });
    endpoint = server.url;
  });
  after(() => stopCleanly(server));

  test("etcdctl with a certificate from the trusted CA works", () => {
    assert.equal(ok(endpoint, [...tlsArgs("alice"), "put", "cca/k", "v"]), "OK\n");
    assert.equal(ok(endpoint, [...tlsArgs("root"), "get", "cca/k", "--print-value-only"]), "v\n");
  });

  test("etcdctl without a certificate, or with one from another CA, is refused", () => {
    for (const client of [undefined, "stranger"]) {
      const stderr = refused(endpoint, [...tlsArgs(client), "get", "cca/k"]);
      assert.match(stderr, /certificate|deadline exceeded|tls|handshake/i, `${client}: ${stderr}`);
    }
  });

  test("curl and the gateway: a client certificate is required", () => {
    assert.notEqual(curl([...curlArgs(), `${endpoint}/health`]).code, 0, "no client certificate");
    assert.notEqual(curl([...curlArgs("stranger"), `${endpoint}/health`]).code, 0, "another CA");
    const health = curl([...curlArgs("alice"), `${endpoint}/health`]);
    assert.equal(health.code, 0, health.stderr);
    const range = curl([
      ...curlArgs("alice"),
      "-X",
      "POST",
      `${endpoint}/v3/kv/range`,
      "-d",
      JSON.stringify({ key: Buffer.from("cca/k").toString("base64") }),
    ]);
    assert.equal(range.code, 0, range.stderr);
    assert.equal(JSON.parse(range.stdout).count, "1");
  });
});

describe("auth by client certificate CN, compared with etcd 3.4", () => {
  const flags = [...serverFlags, "--client-cert-auth", "--trusted-ca-file", certs.ca.cert];
  let etcd: RunningServer;
  let conclave: RunningServer;

  before(async () => {
    [etcd, conclave] = await Promise.all([
      startEtcd({ scheme: "https", args: flags }),
      startConclave({ scheme: "https", args: flags }),
    ]);
  });
  after(async () => {
    await etcd.stop();
    await stopCleanly(conclave);
  });

  /** What an operator sees: stdout, etcdctl's "Error:" line, the exit code. */
  function run(server: RunningServer, client: string, args: string[]) {
    const r = etcdctl(server.url, [...tlsArgs(client), ...args]);
    const error = r.stderr.split("\n").find((l) => l.startsWith("Error:")) ?? "";
    return { stdout: r.stdout, error, code: r.code };
  }

  test("without --user, requests act as the certificate's CN: same outputs as etcd", () => {
    const session: [string, string[]][] = [
      ["root", ["user", "add", "root:rootpw"]],
      ["root", ["auth", "enable"]],
      // From here on auth is on and no request carries a token.
      ["root", ["role", "add", "app"]],
      ["root", ["role", "grant-permission", "app", "readwrite", "--prefix", "app/"]],
      ["root", ["user", "add", "alice:alicepw"]],
      ["root", ["user", "grant-role", "alice", "app"]],
      ["alice", ["put", "app/x", "1"]],
      ["alice", ["get", "app/x", "--print-value-only"]],
      ["alice", ["put", "other", "1"]],
      ["alice", ["user", "list"]],
      // A token wins over the certificate's name.
      ["alice", ["--user", "root:rootpw", "user", "list"]],
      ["root", ["user", "list"]],
    ];
    for (const [client, args] of session) {
      const want = run(etcd, client, args);
      const got = run(conclave, client, args);
      assert.deepEqual(got, want, `${client}: etcdctl ${args.join(" ")}`);
    }
    // The session did what it says, not merely the same thing twice.
    assert.equal(
      run(conclave, "alice", ["put", "other", "1"]).error,
      "Error: etcdserver: permission denied",
    );
    assert.equal(run(conclave, "root", ["user", "list"]).stdout, "alice\nroot\n");
  });

  test("the gateway uses the CN too (etcd's own gateway refuses CN-only requests)", () => {
    const put = (client: string, key: string) =>
      curl([
        ...curlArgs(client),
        `${conclave.url}/v3/kv/put`,
        "-d",
        JSON.stringify({ key: Buffer.from(key).toString("base64"), value: "MQ==" }),
      ]);
    const allowed = put("alice", "app/gw");
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.ok(JSON.parse(allowed.stdout).header, allowed.stdout);
    const denied = JSON.parse(put("alice", "other/gw").stdout);
    assert.equal(denied.message, "etcdserver: permission denied");
    assert.equal(denied.code, 7);
  });
});

describe("plaintext and TLS in one process", () => {
  test("an http:// port and an https:// port share one store; etcd's warning for the plain one", async () => {
    const plainPort = await freePort();
    const plain = `http://127.0.0.1:${plainPort}`;
    const server = await startConclave({
      scheme: "https",
      args: serverFlags,
      extraListenUrls: [plain],
    });
    try {
      ok(plain, ["put", "both/k", "from plain"]);
      assert.equal(
        ok(server.url, [...tlsArgs(), "get", "both/k", "--print-value-only"]),
        "from plain\n",
      );
      ok(server.url, [...tlsArgs(), "put", "both/k", "from tls"]);
      assert.equal(ok(plain, ["get", "both/k", "--print-value-only"]), "from tls\n");
      assert.match(
        server.output(),
        /scheme is HTTP while key and cert files are present; ignoring key and cert files for client url http:\/\/127\.0\.0\.1:\d+/,
      );
    } finally {
      await stopCleanly(server);
    }
  });

  test("http:// and https:// on the same port, as etcd allows", async () => {
    const port = await freePort();
    const server = await startConclave({
      port,
      scheme: "https",
      args: serverFlags,
      extraListenUrls: [`http://127.0.0.1:${port}`],
    });
    try {
      ok(`http://127.0.0.1:${port}`, ["put", "same/k", "v"]);
      assert.equal(
        ok(`https://127.0.0.1:${port}`, [...tlsArgs(), "get", "same/k", "--print-value-only"]),
        "v\n",
      );
      const health = curl([`http://127.0.0.1:${port}/health`]);
      assert.equal(health.code, 0, health.stderr);
    } finally {
      await stopCleanly(server);
    }
  });
});

describe("TLS startup and reload", () => {
  test("https:// without --cert-file and --key-file: etcd's error, exit 2", async () => {
    await assert.rejects(
      startConclave({ scheme: "https" }),
      /process exited \(2\)[\s\S]*TLS key\/cert \(--cert-file, --key-file\) must be provided for client url https:\/\/127\.0\.0\.1:\d+ with HTTPS scheme/,
    );
  });

  test("an unreadable certificate file: a one-line error, exit 1", async () => {
    await assert.rejects(
      startConclave({
        scheme: "https",
        args: ["--cert-file", "/nonexistent/server.crt", "--key-file", certs.server.key],
      }),
      /process exited \(1\):\nconclave: cannot read --cert-file \/nonexistent\/server\.crt: ENOENT/,
    );
  });

  test("--auto-tls: a self-signed certificate in the data dir, kept across restarts", async () => {
    const first = await startConclave({ scheme: "https", args: ["--auto-tls"] });
    const certFile = join(first.dataDir, "fixtures", "client", "cert.pem");
    let cert: string;
    try {
      // etcdctl 3.4 only applies --insecure-skip-tls-verify with a TLS config, which
      // --insecure-transport=false makes: against etcd --auto-tls it takes both too.
      ok(first.url, [
        "--insecure-transport=false",
        "--insecure-skip-tls-verify",
        "put",
        "auto/k",
        "v",
      ]);
      // Go verifies it when trusted directly: the SAN holds the listen address.
      assert.equal(
        ok(first.url, ["--cacert", certFile, "get", "auto/k", "--print-value-only"]),
        "v\n",
      );
      refused(first.url, [...tlsArgs(), "get", "auto/k"]);
      cert = readFileSync(certFile, "utf8");
    } finally {
      await stopCleanly(first);
    }
    const again = await startConclave({
      scheme: "https",
      port: first.port,
      dataDir: first.dataDir,
      args: ["--auto-tls"],
    });
    try {
      assert.equal(readFileSync(certFile, "utf8"), cert);
      assert.equal(
        ok(again.url, ["--cacert", certFile, "get", "auto/k", "--print-value-only"]),
        "v\n",
      );
    } finally {
      await stopCleanly(again);
    }
  });

  test("SIGHUP reloads rotated certificate files for new connections", async () => {
    const next = createTestCerts([]);
    // The server's files, in a directory of their own so they can be rotated.
    const files = createTestCerts([]);
    const server = await startConclave({
      scheme: "https",
      // Info level, to see the reload's log line.
      args: [
        "--cert-file",
        files.server.cert,
        "--key-file",
        files.server.key,
        "--log-level",
        "info",
      ],
    });
    try {
      const withCa = (ca: string) => ["--cacert", ca, "get", "x"];
      ok(server.url, withCa(files.ca.cert));
      copyFileSync(next.server.cert, files.server.cert);
      copyFileSync(next.server.key, files.server.key);
      server.proc.kill("SIGHUP");
      const deadline = Date.now() + 5000;
      while (!server.output().includes("TLS certificates reloaded")) {
        assert.ok(Date.now() < deadline, `no reload logged:\n${server.output()}`);
        await sleep(20);
      }
      ok(server.url, withCa(next.ca.cert));
      refused(server.url, withCa(files.ca.cert));
    } finally {
      await stopCleanly(server);
    }
  });
});
