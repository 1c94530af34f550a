// etcd's --client-crl-file, --cipher-suites, --max-concurrent-streams and
// --listen-metrics-urls, each checked with etcdctl 3.4, curl and a Node
// HTTP/2 client against Conclave and a real etcd 3.4.23 started with the
// same flags: both must answer alike.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import { after, before, describe, test } from "node:test";
import {
  freePort,
  type RunningServer,
  requireTool,
  startConclave,
  startEtcd,
} from "@conclave/testkit";
import { createTestCerts, type TestCerts } from "./test-certs.js";

const certs: TestCerts = createTestCerts(["root", "alice"]);
/** Alice's certificate is revoked. */
const crl = certs.crl("client", [certs.clients.alice ?? certs.stranger]);
/** The same CRL in DER, the form of etcd's own test fixture (integration/fixtures/revoke.crl). */
const crlDer = `${crl}.der`;
writeFileSync(
  crlDer,
  Buffer.from(readFileSync(crl, "utf8").replace(/-----[A-Z0-9 ]+-----|\s/g, ""), "base64"),
);
/** The server certificate is ECDSA: these are the ECDSA suites allowed. */
const cipherSuites = [
  "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
  "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
];

interface Target {
  name: string;
  server: RunningServer;
  metricsHttp: string;
  metricsHttps: string;
}

/** Starts a server with the flags under test (start: startConclave or startEtcd). */
async function start(
  name: string,
  startServer: typeof startConclave | typeof startEtcd,
): Promise<Target> {
  const metricsHttp = `http://127.0.0.1:${await freePort()}`;
  const metricsHttps = `https://127.0.0.1:${await freePort()}`;
  const server = await startServer({
    scheme: "https",
    args: [
      ...["--cert-file", certs.server.cert, "--key-file", certs.server.key],
      ...["--trusted-ca-file", certs.ca.cert, "--client-cert-auth"],
      ...["--client-crl-file", crl],
      ...["--cipher-suites", cipherSuites.join(",")],
      ...["--max-concurrent-streams", "1"],
      ...["--listen-metrics-urls", `${metricsHttp},${metricsHttps}`],
    ],
  });
  return { name, server, metricsHttp, metricsHttps };
}

function clientFiles(client: string) {
  const files = certs.clients[client];
  assert.ok(files, client);
  return files;
}

/** etcdctl as `client`; killed after `killAfterMs` (status null) if it has not exited. */
function etcdctl(target: Target, client: string, args: string[], killAfterMs = 20_000) {
  const files = clientFiles(client);
  const r = spawnSync(
    requireTool("etcdctl"),
    [
      `--endpoints=${target.server.url}`,
      `--cacert=${certs.ca.cert}`,
      `--cert=${files.cert}`,
      `--key=${files.key}`,
      "--dial-timeout=2s",
      "--command-timeout=3s",
      ...args,
    ],
    // SIGKILL: etcdctl lock traps SIGTERM to unlock and would outlive the test.
    { env: { ...process.env, ETCDCTL_API: "3" }, timeout: killAfterMs, killSignal: "SIGKILL" },
  );
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** curl with the test CA, as `client` (or no certificate); status, body and exit code. */
function curl(url: string, client: string | undefined, args: string[] = []) {
  const files = client === undefined ? undefined : clientFiles(client);
  const r = spawnSync(
    requireTool("curl"),
    [
      "-sS",
      "--max-time",
      "5",
      "--cacert",
      certs.ca.cert,
      ...(files ? ["--cert", files.cert, "--key", files.key] : []),
      "-w",
      "\n%{http_code}",
      ...args,
      url,
    ],
    { timeout: 20_000 },
  );
  const out = r.stdout.toString();
  const cut = out.lastIndexOf("\n");
  return { exit: r.status, body: out.slice(0, cut), status: Number(out.slice(cut + 1)) };
}

/** The maxConcurrentStreams a server announces, as a Node HTTP/2 client sees it. */
function announcedStreams(target: Target): Promise<number | undefined> {
  const files = clientFiles("root");
  return new Promise((resolve, reject) => {
    const session = http2.connect(target.server.url, {
      ca: certs.read(certs.ca.cert),
      cert: certs.read(files.cert),
      key: certs.read(files.key),
    });
    session.once("error", reject);
    session.once("remoteSettings", (settings) => {
      session.close();
      resolve(settings.maxConcurrentStreams);
    });
  });
}

describe("etcd's TLS and stream flags, against etcd", () => {
  const targets: Target[] = [];

  before(async () => {
    targets.push(await start("conclave", startConclave), await start("etcd", startEtcd));
  });
  after(async () => {
    for (const t of targets) await t.server.stop();
  });

  test("--client-crl-file: a revoked client certificate is refused", () => {
    const seen = targets.map((t) => {
      const root = etcdctl(t, "root", ["put", "crl/k", "v"]);
      const alice = etcdctl(t, "alice", ["get", "crl/k"]);
      return {
        root: [root.code, root.stdout],
        alice: [alice.code, /deadline exceeded|certificate|tls/i.test(alice.stderr)],
        curlRoot: curl(`${t.server.url}/health`, "root").status,
        curlAlice: curl(`${t.server.url}/health`, "alice").exit !== 0,
      };
    });
    assert.deepEqual(seen[0], seen[1]);
    assert.deepEqual(seen[0], {
      root: [0, "OK\n"],
      alice: [1, true],
      curlRoot: 200,
      curlAlice: true,
    });
  });

  test("--cipher-suites: TLS 1.2 offers only the named suites; TLS 1.3 is unchanged", () => {
    const tls12 = ["--tlsv1.2", "--tls-max", "1.2"];
    const seen = targets.map((t) => ({
      allowed: curl(`${t.server.url}/health`, "root", [
        ...tls12,
        "--ciphers",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
      ]).status,
      other: curl(`${t.server.url}/health`, "root", [
        ...tls12,
        "--ciphers",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
      ]).exit,
      tls13: curl(`${t.server.url}/health`, "root", ["--tlsv1.3"]).status,
      etcdctl: etcdctl(t, "root", ["get", "crl/k", "--print-value-only"]).stdout,
    }));
    assert.deepEqual(seen[0], seen[1]);
    assert.equal(seen[0]?.allowed, 200);
    assert.notEqual(seen[0]?.other, 0);
    assert.equal(seen[0]?.tls13, 200);
  });

  test("--max-concurrent-streams: announced, and clients stay within it", async () => {
    const seen = [];
    for (const t of targets) {
      // etcdctl lock uses two streams (its lease's keep-alive and Lock) over
      // one connection allowed one at a time: it usually waits for the second
      // until killed, but whether Lock or the keep-alive stream is opened
      // first is a race in etcdctl (etcd itself let it lock once in CI), so
      // what it prints is not compared — only that the server takes calls
      // again afterwards.
      etcdctl(t, "root", ["lock", "streams", "echo", "locked"], 3_000);
      seen.push({
        announced: await announcedStreams(t),
        put: etcdctl(t, "root", ["put", "streams/k", "v"]).stdout,
      });
    }
    assert.deepEqual(seen[0], seen[1]);
    assert.deepEqual(seen[0], { announced: 1, put: "OK\n" });
  });

  test("--max-concurrent-streams caps the JSON gateway's calls together, as etcd's gateway connection", async () => {
    const seen = [];
    for (const t of targets) {
      // One gateway watch holds the one stream etcd's gateway may open.
      const files = clientFiles("root");
      const watch = spawn(requireTool("curl"), [
        ...["-sSN", "--cacert", certs.ca.cert, "--cert", files.cert, "--key", files.key],
        `${t.server.url}/v3/watch`,
        ...["-d", JSON.stringify({ create_request: { key: "c3RyZWFtcw==" } })],
      ]);
      let out = "";
      watch.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      const exited = new Promise((r) => watch.once("exit", r));
      for (let i = 0; i < 100 && !out.includes('"created":true'); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const whileWatching = curl(`${t.server.url}/v3/kv/range`, "root", [
        ...["--max-time", "2", "-d", JSON.stringify({ key: "c3RyZWFtcw==" })],
      ]);
      watch.kill();
      await exited;
      const after = curl(`${t.server.url}/v3/kv/range`, "root", [
        ...["-d", JSON.stringify({ key: "c3RyZWFtcw==" })],
      ]);
      seen.push({
        created: out.includes('"created":true'),
        // curl's exit 28: its --max-time passed with no answer.
        whileWatching: whileWatching.exit,
        after: [after.exit, after.status],
      });
    }
    assert.deepEqual(seen[0], seen[1]);
    assert.deepEqual(seen[0], { created: true, whileWatching: 28, after: [0, 200] });
  });

  test("--listen-metrics-urls: /metrics and /health only, over http and https", () => {
    const seen = targets.map((t) => {
      const metrics = curl(`${t.metricsHttp}/metrics`, undefined, ["-D", "-"]);
      return {
        metrics: [metrics.status, /content-type: text\/plain; version=0\.0\.4/i.test(metrics.body)],
        health: [curl(`${t.metricsHttp}/health`, undefined).body, 200],
        healthPost: curl(`${t.metricsHttp}/health`, undefined, ["-X", "POST"]).status,
        version: curl(`${t.metricsHttp}/version`, undefined),
        api: curl(`${t.metricsHttp}/v3/kv/range`, undefined, ["-d", "{}"]).status,
        httpsRoot: curl(`${t.metricsHttps}/health`, "root").body,
        httpsAlice: curl(`${t.metricsHttps}/health`, "alice").exit !== 0,
        httpsNoCert: curl(`${t.metricsHttps}/health`, undefined).exit !== 0,
      };
    });
    assert.deepEqual(seen[0], seen[1]);
    assert.deepEqual(seen[0]?.version, { exit: 0, body: "404 page not found\n", status: 404 });
    assert.deepEqual(seen[0]?.metrics, [200, true]);
    assert.equal(seen[0]?.httpsRoot, '{"health":"true"}');
  });
});

describe("--client-crl-file with a DER CRL, against etcd", () => {
  const targets: Target[] = [];

  before(async () => {
    for (const [name, startServer] of [
      ["conclave", startConclave],
      ["etcd", startEtcd],
    ] as const) {
      const server = await startServer({
        scheme: "https",
        args: [
          ...["--cert-file", certs.server.cert, "--key-file", certs.server.key],
          ...["--trusted-ca-file", certs.ca.cert, "--client-cert-auth"],
          ...["--client-crl-file", crlDer],
        ],
      });
      targets.push({ name, server, metricsHttp: "", metricsHttps: "" });
    }
  });
  after(async () => {
    for (const t of targets) await t.server.stop();
  });

  test("taken as etcd takes it: the revoked certificate is refused, others served", () => {
    const seen = targets.map((t) => {
      const root = etcdctl(t, "root", ["put", "crl/der", "v"]);
      const alice = etcdctl(t, "alice", ["get", "crl/der"]);
      return {
        root: [root.code, root.stdout],
        alice: [alice.code, /deadline exceeded|certificate|tls/i.test(alice.stderr)],
        curlAlice: curl(`${t.server.url}/health`, "alice").exit !== 0,
      };
    });
    assert.deepEqual(seen[0], seen[1]);
    assert.deepEqual(seen[0], { root: [0, "OK\n"], alice: [1, true], curlAlice: true });
  });
});
