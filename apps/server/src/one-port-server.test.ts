import * as assert from "node:assert/strict";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as net from "node:net";
import { after, before, describe, it, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type * as tls from "node:tls";
import { create, createFileRegistry } from "@bufbuild/protobuf";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import {
  FileDescriptorProtoSchema,
  file_google_protobuf_wrappers,
  type StringValueSchema,
} from "@bufbuild/protobuf/wkt";
import { peerCommonNameKey } from "@conclave/server";
import { Code, ConnectError, type ConnectRouter, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { type CreateAppOptions, createApp } from "./create-app.js";
import { createTestCerts, type TestCerts } from "./tls-test-certs.js";

const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/** A hung socket must fail its test, not the whole run. */
const limit = { timeout: 5_000 };

/**
 * Starts an app on 127.0.0.1 port 0 with plain routes: GET /ping, POST /echo,
 * GET /slow (answers after 300 ms; `slowStarted` resolves when it begins),
 * GET /authority (the request's `:authority`, and "native" or "repaired" for
 * how its HTTP/2 connection is read).
 */
async function startApp(
  t: TestContext,
  options: Partial<CreateAppOptions> = {},
  urls: readonly string[] = ["http://127.0.0.1:0"],
) {
  let markSlowStarted = () => {};
  const slowStarted = new Promise<void>((resolve) => {
    markSlowStarted = resolve;
  });
  const server = createApp({
    routes: () => {},
    logger: pino({ level: "silent" }),
    ...options,
  });
  server.app.get("/ping", async () => "pong");
  server.app.post("/echo", async (req) => req.body);
  server.app.get("/authority", async (req) => {
    const raw = req.raw as unknown as http2.Http2ServerRequest;
    const socket = raw.stream.session?.socket as { stream?: unknown } | undefined;
    const repaired = socket?.stream !== undefined;
    return `${raw.authority} ${repaired ? "repaired" : "native"}`;
  });
  server.app.get("/slow", async () => {
    markSlowStarted();
    await sleep(300);
    return "slow done";
  });
  const bound = await server.listen(urls);
  const [url] = bound;
  assert.ok(url);
  t.after(() => server.close(0));
  return { server, url, bound, port: Number(new URL(url).port), slowStarted };
}

/** One HTTP/2 request with prior knowledge; resolves with status and body. */
function h2Request(
  session: http2.ClientHttp2Session,
  path: string,
  init: { method?: string; body?: string; headers?: http2.OutgoingHttpHeaders } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":path": path,
      ":method": init.method ?? "GET",
      ...init.headers,
    });
    let status = 0;
    let body = "";
    stream.setEncoding("utf8");
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
    });
    stream.on("data", (chunk: string) => {
      body += chunk;
    });
    stream.on("end", () => resolve({ status, body }));
    stream.on("error", reject);
    stream.end(init.body);
  });
}

function connectH2(
  t: TestContext,
  url: string,
  options?: http2.SecureClientSessionOptions,
): http2.ClientHttp2Session {
  const session = http2.connect(url, options);
  session.on("error", () => {});
  t.after(() => session.destroy());
  return session;
}

/** Opens a raw TCP socket; `closed` resolves with everything received. */
function rawSocket(port: number) {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  let received = "";
  socket.on("data", (d: Buffer) => {
    received += d.toString("latin1");
  });
  const connected = new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  const closed = new Promise<string>((resolve) => socket.once("close", () => resolve(received)));
  return { socket, connected, closed };
}

/** Writes `data` in small pieces with pauses, to exercise protocol detection. */
async function writeSlowly(socket: net.Socket, data: string | Buffer, pieceSize = 3) {
  const buf = typeof data === "string" ? Buffer.from(data, "latin1") : data;
  for (let i = 0; i < buf.length; i += pieceSize) {
    socket.write(buf.subarray(i, i + pieceSize));
    await sleep(2);
  }
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ECONNREFUSED"));
  });
}

describe("one-port server", () => {
  it("serves HTTP/1.1", limit, async (t) => {
    const { url } = await startApp(t);
    const ping = await fetch(`${url}/ping`);
    assert.equal(ping.status, 200);
    assert.equal(await ping.text(), "pong");
    const echo = await fetch(`${url}/echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ a: 1 }),
    });
    assert.deepEqual(await echo.json(), { a: 1 });
  });

  it(
    "serves HTTP/1.1 that arrives a few bytes at a time, starting like the preface",
    limit,
    async (t) => {
      const { port } = await startApp(t);
      const { socket, connected, closed } = rawSocket(port);
      await connected;
      // "P" and "PO" are prefixes of both "POST" and the HTTP/2 preface.
      await writeSlowly(
        socket,
        'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{"b":2}',
      );
      const response = await closed;
      assert.match(response, /^HTTP\/1\.1 200 /);
      assert.match(response, /\{"b":2\}$/);
    },
  );

  it("serves h2c with prior knowledge", limit, async (t) => {
    const { url } = await startApp(t);
    const session = connectH2(t, url);
    assert.deepEqual(await h2Request(session, "/ping"), { status: 200, body: "pong" });
    const echo = await h2Request(session, "/echo", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"c":3}',
    });
    assert.deepEqual(echo, { status: 200, body: '{"c":3}' });
    session.close();
  });

  it("serves h2c whose preface arrives a few bytes at a time", limit, async (t) => {
    const { port } = await startApp(t);
    const { socket, connected } = rawSocket(port);
    await connected;
    const firstFrame = new Promise<Buffer>((resolve) => socket.once("data", resolve));
    await writeSlowly(socket, h2Preface);
    // The server's session starts with a SETTINGS frame (type 4).
    const frame = await firstFrame;
    assert.equal(frame[3], 4);
    socket.destroy();
  });

  it("repairs an :authority with a URL scheme, on that connection only", limit, async (t) => {
    const { url, port } = await startApp(t);
    const session = connectH2(t, url);
    const bad = `http://127.0.0.1:${port}`;
    const repaired = `127.0.0.1:${String(port).padStart(bad.length - 10, "0")}`;
    // Headers that change every time push the authority's entry out of the
    // HPACK table every few dozen requests: the client then sends it as a
    // literal again, in a later header block.
    for (let i = 0; i < 200; i++) {
      const answer = await h2Request(session, "/authority", {
        headers: { ":authority": bad, "x-pad": `${i}`.repeat(40) },
      });
      assert.deepEqual(answer, { status: 200, body: `${repaired} repaired` }, `request ${i}`);
    }
    assert.deepEqual(await h2Request(connectH2(t, url), "/authority"), {
      status: 200,
      body: `127.0.0.1:${port} native`,
    });
  });

  it(
    "serves h2c clients that wait for the server's SETTINGS, and PINGs first",
    limit,
    async (t) => {
      const { port } = await startApp(t);
      // Preface, empty SETTINGS, PING: the check must hand the connection on
      // without waiting for a request, so the PING gets its answer.
      const { socket, connected, closed } = rawSocket(port);
      await connected;
      socket.write(h2Preface);
      socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
      await sleep(50);
      socket.write(Buffer.from([0, 0, 0, 4, 1, 0, 0, 0, 0])); // ACK of the server's SETTINGS
      socket.write(Buffer.from([0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]));
      await sleep(100);
      socket.end();
      const received = Buffer.from(await closed, "latin1");
      // A PING ACK (type 6, flag 1) carrying the same 8 bytes.
      const pingAck = Buffer.from([0, 0, 8, 6, 1, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
      assert.ok(received.includes(pingAck), received.toString("hex"));
    },
  );

  it("closes sockets that send garbage and keeps serving", limit, async (t) => {
    const { url, port, server } = await startApp(t);
    const http1Garbage = [
      Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), // TLS hello
      Buffer.from("\x00\x01\x02garbage\r\n\r\n", "latin1"),
      Buffer.from("PRI * HTTP/2.1\r\n\r\nSM\r\n\r\n", "latin1"), // leaves the preface late
    ];
    for (const bytes of http1Garbage) {
      const { socket, connected, closed } = rawSocket(port);
      await connected;
      socket.write(bytes);
      assert.match(await closed, /^HTTP\/1\.1 400 Bad Request\r\n/);
    }
    // A valid preface followed by bytes that are no HTTP/2 frames.
    const h2Garbage = rawSocket(port);
    await h2Garbage.connected;
    h2Garbage.socket.write(
      Buffer.concat([Buffer.from(h2Preface, "latin1"), Buffer.alloc(64, 0xff)]),
    );
    await h2Garbage.closed;

    // A client that resets in the middle of a request.
    const { socket, connected, closed } = rawSocket(port);
    await connected;
    socket.write("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc");
    await sleep(20);
    socket.resetAndDestroy();
    await closed;

    assert.equal(await (await fetch(`${url}/ping`)).text(), "pong");
    const session = connectH2(t, url);
    assert.equal((await h2Request(session, "/ping")).body, "pong");
    session.close();
    assert.equal(server.onePort.connections().pending, 0);
  });

  it("closes connections that send nothing within firstBytesTimeoutMs", limit, async (t) => {
    const { port, url } = await startApp(t, { onePort: { firstBytesTimeoutMs: 150 } });
    const silent = rawSocket(port);
    const partial = rawSocket(port); // a preface that never completes
    await Promise.all([silent.connected, partial.connected]);
    partial.socket.write("PRI * HTTP/2");
    const started = Date.now();
    await Promise.all([silent.closed, partial.closed]);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 100 && elapsed < 2000, `closed after ${elapsed} ms`);
    // The timeout does not apply once the protocol is known.
    const session = connectH2(t, url);
    assert.equal((await h2Request(session, "/ping")).body, "pong");
    await sleep(300);
    assert.equal((await h2Request(session, "/ping")).body, "pong");
    session.close();
  });

  it("lets an in-flight h2 stream finish on close, then refuses connections", limit, async (t) => {
    const { server, url, port, slowStarted } = await startApp(t);
    const session = connectH2(t, url);
    const response = h2Request(session, "/slow");
    await slowStarted;
    const started = Date.now();
    const closed = server.close(2000);
    assert.deepEqual(await response, { status: 200, body: "slow done" });
    await closed;
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 1500, `close took ${elapsed} ms, expected it not to wait for the grace`);
    assert.ok(await refused(port));
    assert.deepEqual(server.addresses(), []);
  });

  it("lets an in-flight HTTP/1.1 request finish on close", limit, async (t) => {
    const { server, url, slowStarted } = await startApp(t);
    const agent = new http.Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    const response = fetchWithAgent(`${url}/slow`, agent);
    await slowStarted;
    const closed = server.close(2000);
    const { status, body, headers } = await response;
    assert.equal(status, 200);
    assert.equal(body, "slow done");
    assert.equal(headers.connection, "close");
    await closed;
  });

  it("destroys what is still running when the grace period ends", limit, async (t) => {
    const { server, url, slowStarted } = await startApp(t);
    const session = connectH2(t, url);
    const response = h2Request(session, "/slow");
    await slowStarted;
    const started = Date.now();
    await server.close(50);
    assert.ok(Date.now() - started < 250);
    // Node's client ends a stream of a destroyed session without a response
    // (status 0) or with an error, depending on timing.
    const outcome = await response.catch(() => undefined);
    assert.notEqual(outcome?.status, 200);
    // The handler still answers after 300 ms, into a destroyed stream: that
    // must not crash anything.
    await sleep(350);
  });

  it("closes promptly with idle keep-alive and h2 connections open", limit, async (t) => {
    const { server, url } = await startApp(t);
    const agent = new http.Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    assert.equal((await fetchWithAgent(`${url}/ping`, agent)).body, "pong");
    const session = connectH2(t, url);
    assert.equal((await h2Request(session, "/ping")).body, "pong");
    const sessionClosed = new Promise<void>((resolve) => session.once("close", () => resolve()));
    assert.deepEqual(server.onePort.connections(), { pending: 0, http1: 1, http2: 1 });

    const started = Date.now();
    await server.close(5000);
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 1000, `close took ${elapsed} ms`);
    await sessionClosed;
    assert.deepEqual(server.onePort.connections(), { pending: 0, http1: 0, http2: 0 });
  });

  it("listens on several URLs, and on every address of localhost", limit, async (t) => {
    const server = createApp({ routes: () => {}, logger: pino({ level: "silent" }) });
    server.app.get("/ping", async () => "pong");
    t.after(() => server.close(0));
    const bound = await server.listen([
      "http://127.0.0.1:0",
      "http://127.0.0.1:0",
      "http://localhost:0",
    ]);
    assert.deepEqual(server.addresses(), bound);
    assert.ok(bound.length >= 3, bound.join(" "));
    const localhostPorts = new Set(bound.slice(2).map((u) => new URL(u).port));
    assert.equal(localhostPorts.size, 1, "localhost addresses share one port");
    for (const url of bound) {
      assert.equal(await (await fetch(`${url}/ping`)).text(), "pong", url);
      const session = connectH2(t, url);
      assert.equal((await h2Request(session, "/ping")).body, "pong", url);
      session.close();
    }
  });

  it("fails listen() on a port in use and closes what it opened", limit, async (t) => {
    const first = await startApp(t);
    const second = createApp({ routes: () => {}, logger: pino({ level: "silent" }) });
    await assert.rejects(
      second.listen(["http://127.0.0.1:0", `http://127.0.0.1:${first.port}`]),
      /EADDRINUSE/,
    );
    assert.deepEqual(second.addresses(), []);
  });
});

describe("Connect routes on the one-port server", () => {
  const pinger = createPingerService();

  function routes(router: ConnectRouter) {
    router.service(pinger, {
      ping: (req) => ({ value: `pong ${req.value}` }),
      async *ticks(req, ctx) {
        yield { value: `tick ${req.value}` };
        // Like a watch: runs until the client leaves or the server shuts down.
        await new Promise<void>((resolve) => {
          if (ctx.signal.aborted) resolve();
          ctx.signal.addEventListener("abort", () => resolve(), { once: true });
        });
        throw ctx.signal.reason;
      },
    });
  }

  it("answers gRPC over h2c and Connect over HTTP/1.1", limit, async (t) => {
    const { url } = await startApp(t, { routes });
    const grpc = createClient(pinger, createGrpcTransport({ baseUrl: url }));
    assert.equal((await grpc.ping({ value: "a" })).value, "pong a");
    const connect = createClient(
      pinger,
      createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
    );
    assert.equal((await connect.ping({ value: "b" })).value, "pong b");
  });

  it("ends streaming RPCs with Unavailable on close", limit, async (t) => {
    const { server, url } = await startApp(t, { routes, shutdownTimeoutMs: 100 });
    const grpc = createClient(pinger, createGrpcTransport({ baseUrl: url }));
    const received: string[] = [];
    let firstTick = () => {};
    const gotFirstTick = new Promise<void>((resolve) => {
      firstTick = resolve;
    });
    const consumed = (async () => {
      for await (const res of grpc.ticks({ value: "w" })) {
        received.push(res.value);
        firstTick();
      }
    })();
    await gotFirstTick;
    const started = Date.now();
    const closed = server.close(3000);
    const error = await consumed.then(
      () => undefined,
      (e: unknown) => e,
    );
    await closed;
    assert.deepEqual(received, ["tick w"]);
    assert.ok(error instanceof ConnectError, String(error));
    assert.equal(error.code, Code.Unavailable);
    assert.match(error.rawMessage, /shutting down/);
    assert.ok(Date.now() - started < 2000, "closed before the grace period ended");
  });
});

describe("TLS listeners", () => {
  let certs: TestCerts;
  before(() => {
    certs = createTestCerts();
  });
  after(() => certs.remove());

  const pinger = createPingerService();
  /** Ping answers with the verified client certificate's CN, or "-". */
  function routes(router: ConnectRouter) {
    router.service(pinger, {
      ping: (req, ctx) => ({
        value: `pong ${req.value} ${ctx.values.get(peerCommonNameKey) ?? "-"}`,
      }),
      async *ticks() {},
    });
  }

  /** The server certificate; with `clientCerts`, client certificates signed by the test CA are required. */
  function serverTls(clientCerts = false): tls.TlsOptions {
    return {
      key: certs.read(certs.server.key),
      cert: certs.read(certs.server.cert),
      ...(clientCerts && {
        ca: certs.read(certs.ca.cert),
        requestCert: true,
        rejectUnauthorized: true,
      }),
    };
  }

  /** Trusts the test CA; presents the client certificate of `client` (a CN or the stranger). */
  function clientTls(client?: string): tls.ConnectionOptions {
    const files = client === "stranger" ? certs.stranger : client && certs.clients[client];
    return {
      ca: certs.read(certs.ca.cert),
      ...(files && { cert: certs.read(files.cert), key: certs.read(files.key) }),
    };
  }

  function startTlsApp(
    t: TestContext,
    urls: readonly string[] = ["https://127.0.0.1:0"],
    options: Partial<CreateAppOptions> = {},
  ) {
    return startApp(t, { routes, tls: serverTls(), ...options }, urls);
  }

  it("negotiates HTTP/2 and HTTP/1.1 by ALPN on an https URL", limit, async (t) => {
    const { url, server } = await startTlsApp(t);
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);

    const h1 = await httpsGet(`${url}/ping`, { ...clientTls(), ALPNProtocols: ["http/1.1"] });
    assert.deepEqual([h1.status, h1.body, h1.alpn], [200, "pong", "http/1.1"]);
    // No ALPN at all (curl --no-alpn, old clients): HTTP/1.1.
    const noAlpn = await httpsGet(`${url}/ping`, clientTls());
    assert.deepEqual([noAlpn.status, noAlpn.body, noAlpn.alpn], [200, "pong", false]);

    const session = connectH2(t, url, clientTls());
    assert.deepEqual(await h2Request(session, "/ping"), { status: 200, body: "pong" });
    const echo = await h2Request(session, "/echo", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"d":4}',
    });
    assert.deepEqual(echo, { status: 200, body: '{"d":4}' });
    assert.equal(session.alpnProtocol, "h2");
    assert.equal(server.onePort.connections().http2, 1);
    session.close();
    assert.equal(server.onePort.connections().pending, 0);
  });

  it("answers gRPC over h2 and Connect over HTTP/1.1 with TLS", limit, async (t) => {
    const { url } = await startTlsApp(t);
    const grpc = createClient(
      pinger,
      createGrpcTransport({ baseUrl: url, nodeOptions: clientTls() }),
    );
    assert.equal((await grpc.ping({ value: "a" })).value, "pong a -");
    const connect = createClient(
      pinger,
      createConnectTransport({ baseUrl: url, httpVersion: "1.1", nodeOptions: clientTls() }),
    );
    assert.equal((await connect.ping({ value: "b" })).value, "pong b -");
  });

  it("serves plaintext and TLS side by side, and both on one port", limit, async (t) => {
    const shared = await freeLocalPort();
    const { bound } = await startTlsApp(t, [
      "http://127.0.0.1:0",
      "https://127.0.0.1:0",
      `http://127.0.0.1:${shared}`,
      `https://127.0.0.1:${shared}`,
    ]);
    assert.equal(bound.length, 4, bound.join(" "));
    const [plain, secure, sharedPlain, sharedSecure] = bound as [string, string, string, string];
    assert.match(plain, /^http:/);
    assert.match(secure, /^https:/);
    assert.equal(sharedPlain, `http://127.0.0.1:${shared}`);
    assert.equal(sharedSecure, `https://127.0.0.1:${shared}`);
    for (const url of [plain, sharedPlain]) {
      assert.equal(await (await fetch(`${url}/ping`)).text(), "pong", url);
      assert.equal((await h2Request(connectH2(t, url), "/ping")).body, "pong", url);
    }
    for (const url of [secure, sharedSecure]) {
      assert.equal((await httpsGet(`${url}/ping`, clientTls())).body, "pong", url);
      assert.equal((await h2Request(connectH2(t, url, clientTls()), "/ping")).body, "pong", url);
    }
    // A plaintext request on the TLS-only port is no TLS handshake: dropped.
    const port = Number(new URL(secure).port);
    const { socket, connected, closed } = rawSocket(port);
    await connected;
    socket.write("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.doesNotMatch(await closed, /pong/);
    assert.equal((await httpsGet(`${secure}/ping`, clientTls())).body, "pong");
  });

  it(
    "requires a certificate from the trusted CA and passes its CN to handlers",
    limit,
    async (t) => {
      const { url, bound } = await startTlsApp(t, ["https://127.0.0.1:0", "http://127.0.0.1:0"], {
        tls: serverTls(true),
      });
      const plain = bound[1] ?? "";
      const grpc = (client?: string) =>
        createClient(pinger, createGrpcTransport({ baseUrl: url, nodeOptions: clientTls(client) }));
      const connect = (client?: string) =>
        createClient(
          pinger,
          createConnectTransport({
            baseUrl: url,
            httpVersion: "1.1",
            nodeOptions: clientTls(client),
          }),
        );

      assert.equal((await grpc("alice").ping({ value: "g" })).value, "pong g alice");
      assert.equal((await connect("root").ping({ value: "c" })).value, "pong c root");
      // Plaintext listeners have no peer identity.
      const plainClient = createClient(pinger, createGrpcTransport({ baseUrl: plain }));
      assert.equal((await plainClient.ping({ value: "p" })).value, "pong p -");

      for (const client of [undefined, "stranger"]) {
        await assert.rejects(httpsGet(`${url}/ping`, clientTls(client)), `HTTP/1.1 as ${client}`);
        await assert.rejects(grpc(client).ping({ value: "x" }), `gRPC as ${client}`);
      }
      assert.equal((await grpc("alice").ping({ value: "again" })).value, "pong again alice");
    },
  );

  it("repairs an :authority with a URL scheme over TLS and keeps the CN", limit, async (t) => {
    const { url, port } = await startTlsApp(t, ["https://127.0.0.1:0"], { tls: serverTls(true) });
    const session = connectH2(t, url, clientTls("alice"));
    for (let i = 0; i < 100; i++) {
      // A gRPC Ping by hand: Connect's transports derive :authority themselves.
      const message = Buffer.from([0x0a, 0x01, 0x61 + (i % 26)]);
      const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
      const stream = session.request({
        ":method": "POST",
        ":path": "/test.v1.Pinger/Ping",
        ":authority": `https://127.0.0.1:${port}`,
        "content-type": "application/grpc",
        te: "trailers",
        "x-pad": `${i}`.repeat(60),
      });
      stream.end(frame);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      const letter = String.fromCharCode(0x61 + (i % 26));
      assert.match(Buffer.concat(chunks).toString("latin1"), new RegExp(`pong ${letter} alice`));
    }
  });

  it("gives no CN without client-cert auth, even to a client that sends one", limit, async (t) => {
    const { url } = await startTlsApp(t);
    const grpc = createClient(
      pinger,
      createGrpcTransport({ baseUrl: url, nodeOptions: clientTls("alice") }),
    );
    assert.equal((await grpc.ping({ value: "n" })).value, "pong n -");
  });

  it(
    "closes connections whose handshake does not finish within firstBytesTimeoutMs",
    limit,
    async (t) => {
      const { port, url, server } = await startTlsApp(t, undefined, {
        onePort: { firstBytesTimeoutMs: 150 },
      });
      const silent = rawSocket(port);
      const partial = rawSocket(port); // a ClientHello that never completes
      await Promise.all([silent.connected, partial.connected]);
      partial.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
      const started = Date.now();
      await Promise.all([silent.closed, partial.closed]);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 100 && elapsed < 2000, `closed after ${elapsed} ms`);
      // The timeout does not apply once the handshake is done.
      const session = connectH2(t, url, clientTls());
      assert.equal((await h2Request(session, "/ping")).body, "pong");
      await sleep(300);
      assert.equal((await h2Request(session, "/ping")).body, "pong");
      session.close();
      assert.equal(server.onePort.connections().pending, 0);
    },
  );

  it(
    "lets an in-flight TLS h2 stream finish on close and closes idle TLS connections",
    limit,
    async (t) => {
      const { server, url, port, slowStarted } = await startTlsApp(t);
      const agent = new https.Agent({ keepAlive: true, ...clientTls() });
      t.after(() => agent.destroy());
      assert.equal((await httpsGet(`${url}/ping`, { agent })).body, "pong");
      const idle = connectH2(t, url, clientTls());
      assert.equal((await h2Request(idle, "/ping")).body, "pong");
      const idleClosed = new Promise<void>((resolve) => idle.once("close", () => resolve()));
      const busy = connectH2(t, url, clientTls());
      const response = h2Request(busy, "/slow");
      await slowStarted;
      assert.deepEqual(server.onePort.connections(), { pending: 0, http1: 1, http2: 2 });

      const started = Date.now();
      const closed = server.close(3000);
      assert.deepEqual(await response, { status: 200, body: "slow done" });
      await closed;
      await idleClosed;
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 1500, `close took ${elapsed} ms, expected it not to wait for the grace`);
      assert.deepEqual(server.onePort.connections(), { pending: 0, http1: 0, http2: 0 });
      assert.ok(await refused(port));
    },
  );

  it("destroys TLS handshakes in progress on close", limit, async (t) => {
    const { server, port } = await startTlsApp(t);
    const { connected, closed } = rawSocket(port);
    await connected;
    await sleep(20);
    assert.equal(server.onePort.connections().pending, 1);
    const started = Date.now();
    await server.close(5000);
    await closed;
    assert.ok(Date.now() - started < 1000);
  });

  it("refuses https URLs without TLS options", limit, async () => {
    const server = createApp({ routes: () => {}, logger: pino({ level: "silent" }) });
    await assert.rejects(server.listen(["https://127.0.0.1:0"]), /needs TLS options/);
  });
});

type PingerService = GenService<{
  ping: { methodKind: "unary"; input: typeof StringValueSchema; output: typeof StringValueSchema };
  ticks: {
    methodKind: "server_streaming";
    input: typeof StringValueSchema;
    output: typeof StringValueSchema;
  };
}>;

/** A tiny service built from a descriptor, so the test needs no generated code. */
function createPingerService(): PingerService {
  const file = create(FileDescriptorProtoSchema, {
    name: "test/pinger.proto",
    package: "test.v1",
    syntax: "proto3",
    dependency: ["google/protobuf/wrappers.proto"],
    service: [
      {
        name: "Pinger",
        method: [
          {
            name: "Ping",
            inputType: ".google.protobuf.StringValue",
            outputType: ".google.protobuf.StringValue",
          },
          {
            name: "Ticks",
            inputType: ".google.protobuf.StringValue",
            outputType: ".google.protobuf.StringValue",
            serverStreaming: true,
          },
        ],
      },
    ],
  });
  const registry = createFileRegistry(file, (name) =>
    name === "google/protobuf/wrappers.proto" ? file_google_protobuf_wrappers : undefined,
  );
  const service = registry.getService("test.v1.Pinger");
  assert.ok(service);
  return service as unknown as PingerService;
}

function fetchWithAgent(
  url: string,
  agent: http.Agent,
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        res.on("error", reject);
      })
      .on("error", reject);
  });
}

/** An HTTPS GET over HTTP/1.1; resolves with status, body and the negotiated ALPN protocol. */
function httpsGet(
  url: string,
  options: https.RequestOptions & Pick<tls.ConnectionOptions, "ALPNProtocols">,
): Promise<{ status: number; body: string; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { agent: false, ...options }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          body,
          alpn: (res.socket as tls.TLSSocket | null)?.alpnProtocol ?? null,
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

/** A port that was free a moment ago, for URLs that must name their port. */
function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
