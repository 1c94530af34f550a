import assert from "node:assert/strict";
import * as http2 from "node:http2";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { createHpackDecoder } from "../authority-repair/hpack-decoder.js";
import { encodeFrame as frame, http2Preface } from "../authority-repair/http2-frames.js";
import { pingAckHoldMs, serveGrpcEngineConnection } from "./grpc-engine-connection.js";
import type { GrpcEngineStream } from "./grpc-engine-stream.js";
import { encodeHeaderBlock } from "./header-block.js";

/** A frame as the raw client reads it. */
interface Frame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

const requestBlock = (path: string) =>
  encodeHeaderBlock(undefined, {
    ":method": "POST",
    ":scheme": "http",
    ":path": path,
    ":authority": "localhost",
    "content-type": "application/grpc",
  });

/** The frames in `bytes` (whole frames only). */
function framesIn(bytes: Buffer): Frame[] {
  const frames: Frame[] = [];
  let at = 0;
  while (bytes.length - at >= 9) {
    const length = bytes.readUIntBE(at, 3);
    if (bytes.length - at < 9 + length) break;
    frames.push({
      type: bytes[at + 3] as number,
      flags: bytes[at + 4] as number,
      id: bytes.readUInt32BE(at + 5) & 0x7fff_ffff,
      payload: bytes.subarray(at + 9, at + 9 + length),
    });
    at += 9 + length;
  }
  return frames;
}

/** A few promise jobs, as a service's answer comes after its awaits. */
const promiseJobs = async () => {
  for (let i = 0; i < 3; i++) await Promise.resolve();
};

/**
 * What the test server's streams do, by path: "/answer" answers with its
 * request bytes once the request ends; "/later" does the same a few promise
 * jobs later; "/corked" then sends headers and one message corked until a
 * tick of its own (as the stream fast path sends a turn's messages) and
 * stays open; "/big" sends 200 KiB at once and ends; "/hold" reads nothing
 * (pauses) and never answers.
 */
function onStream(stream: GrpcEngineStream): void {
  const { req, res } = stream;
  if (req.url === "/hold") {
    req.pause();
    return;
  }
  if (req.url === "/later" || req.url === "/corked") {
    const corked = req.url === "/corked";
    req.resume();
    req.on("end", async () => {
      await promiseJobs();
      res.writeHead(200, { "content-type": "application/grpc" });
      if (corked) {
        res.stream.cork();
        process.nextTick(() => res.stream.uncork());
      }
      res.write(Buffer.from([0, 0, 0, 0, 0]));
      if (corked) return;
      res.addTrailers({ "grpc-status": "0" });
      res.end();
    });
    return;
  }
  if (req.url === "/big") {
    res.writeHead(200, { "content-type": "application/grpc" });
    res.write(Buffer.alloc(200 * 1024, 7));
    res.addTrailers({ "grpc-status": "0" });
    res.end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/grpc" });
    res.write(Buffer.concat(chunks));
    res.addTrailers({ "grpc-status": "0" });
    res.end();
  });
}

/** A raw HTTP/2 client: sends bytes, collects frames, ACKs nothing by itself. */
class RawClient {
  readonly frames: Frame[] = [];
  closed = false;
  private held = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.held = Buffer.concat([this.held, chunk]);
      const frames = framesIn(this.held);
      for (const f of frames) {
        this.frames.push(f);
        this.held = this.held.subarray(9 + f.payload.length);
      }
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on("close", () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on("error", () => {});
  }

  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  /** Waits until a frame matches (or the socket closes, or 2 s pass). */
  async waitFor(match: (f: Frame) => boolean): Promise<Frame | undefined> {
    const deadline = Date.now() + 2_000;
    for (;;) {
      const found = this.frames.find(match);
      if (found !== undefined || this.closed || Date.now() > deadline) return found;
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }
}

describe("gRPC engine connection", () => {
  let server: net.Server;
  let port = 0;
  const errors: Error[] = [];
  /** Each server-side socket's `write()` calls, by the client's port. */
  const writesByPort = new Map<number | undefined, Buffer[]>();
  before(async () => {
    server = net.createServer((socket) => {
      const writes: Buffer[] = [];
      writesByPort.set(socket.remotePort, writes);
      const write = socket.write.bind(socket) as (chunk: Buffer) => boolean;
      (socket as { write: (chunk: Buffer) => boolean }).write = (chunk) => {
        writes.push(Buffer.from(chunk));
        return write(chunk);
      };
      serveGrpcEngineConnection(socket, {
        maxConcurrentStreams: 2,
        maxHeldBytes: 1024 * 1024,
        maxHeaderBlockBytes: 64 * 1024,
        onStream,
        reportError: (e) => errors.push(e),
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    port = typeof address === "object" && address !== null ? address.port : 0;
  });
  const sockets: net.Socket[] = [];
  after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function connect(): Promise<RawClient> {
    const socket = net.connect(port, "127.0.0.1");
    sockets.push(socket);
    await new Promise((resolve) => socket.once("connect", resolve));
    const client = new RawClient(socket);
    client.send(http2Preface, frame(0x4, 0, 0));
    return client;
  }

  const goawayCode = (f: Frame | undefined) => f?.payload.readUInt32BE(4);
  const rstCode = (f: Frame | undefined) => f?.payload.readUInt32BE(0);

  // Each case: what the client sends after its preface and SETTINGS, and the
  // connection error (GOAWAY code) or stream error (RST_STREAM code) it must get.
  const errorCases: {
    name: string;
    frames: () => Buffer[];
    goaway?: number;
    rst?: [number, number];
  }[] = [
    {
      name: "a frame larger than 16 KiB",
      frames: () => [frame(0x0, 0, 1, Buffer.alloc(16_385))],
      goaway: 0x6,
    },
    {
      name: "CONTINUATION without HEADERS",
      frames: () => [frame(0x9, 0x4, 1, Buffer.alloc(1))],
      goaway: 0x1,
    },
    {
      name: "an even stream id",
      frames: () => [frame(0x1, 0x5, 2, requestBlock("/answer"))],
      goaway: 0x1,
    },
    { name: "DATA on stream 0", frames: () => [frame(0x0, 0, 0, Buffer.alloc(1))], goaway: 0x1 },
    {
      name: "PUSH_PROMISE from a client",
      frames: () => [frame(0x5, 0x4, 1, Buffer.alloc(4))],
      goaway: 0x1,
    },
    { name: "a PING of 7 bytes", frames: () => [frame(0x6, 0, 0, Buffer.alloc(7))], goaway: 0x6 },
    { name: "SETTINGS of 5 bytes", frames: () => [frame(0x4, 0, 0, Buffer.alloc(5))], goaway: 0x6 },
    {
      name: "a header block HPACK cannot decode",
      frames: () => [frame(0x1, 0x5, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))],
      goaway: 0x9,
    },
    {
      name: "a HEADERS frame interrupted by DATA",
      frames: () => [frame(0x1, 0, 1, requestBlock("/answer")), frame(0x0, 0, 1, Buffer.alloc(1))],
      goaway: 0x1,
    },
    {
      name: "DATA past the stream's 64 KiB window",
      frames: () => [
        frame(0x1, 0x4, 1, requestBlock("/hold")),
        ...Array.from({ length: 5 }, () => frame(0x0, 0, 1, Buffer.alloc(16_384))),
      ],
      rst: [1, 0x3],
    },
    {
      name: "a stream past SETTINGS_MAX_CONCURRENT_STREAMS (2)",
      frames: () => [
        frame(0x1, 0x4, 1, requestBlock("/hold")),
        frame(0x1, 0x4, 3, requestBlock("/hold")),
        frame(0x1, 0x4, 5, requestBlock("/hold")),
      ],
      rst: [5, 0x7],
    },
    {
      name: "a request without :path",
      frames: () => [
        frame(0x1, 0x5, 1, encodeHeaderBlock(undefined, { ":method": "POST", ":scheme": "http" })),
      ],
      rst: [1, 0x1],
    },
    {
      name: "a request with an upper-case field name",
      frames: () => [
        frame(
          0x1,
          0x5,
          1,
          Buffer.concat([requestBlock("/answer"), Buffer.from([0x00, 1, 0x58, 1, 0x61])]),
        ),
      ],
      rst: [1, 0x1],
    },
    {
      name: "a WINDOW_UPDATE of 0 on a stream",
      frames: () => [frame(0x1, 0x4, 1, requestBlock("/hold")), frame(0x8, 0, 1, u32(0))],
      rst: [1, 0x1],
    },
  ];
  for (const c of errorCases) {
    it(`answers ${c.name} as RFC 9113 says`, async () => {
      const client = await connect();
      client.send(...c.frames());
      if (c.goaway !== undefined) {
        const goaway = await client.waitFor((f) => f.type === 0x7);
        assert.equal(goawayCode(goaway), c.goaway);
      }
      if (c.rst !== undefined) {
        const [id, code] = c.rst;
        const rst = await client.waitFor((f) => f.type === 0x3 && f.id === id);
        assert.equal(rstCode(rst), code);
        assert.equal(
          client.frames.find((f) => f.type === 0x7),
          undefined,
          "no GOAWAY",
        );
      }
      client.socket.destroy();
    });
  }

  it("acknowledges SETTINGS and answers a PING with its payload", async () => {
    const client = await connect();
    const ping = Buffer.from("12345678");
    client.send(frame(0x6, 0, 0, ping));
    const ack = await client.waitFor((f) => f.type === 0x6 && f.flags === 0x1);
    assert.deepEqual(ack?.payload, ping);
    assert.ok(await client.waitFor((f) => f.type === 0x4 && f.flags === 0x1), "SETTINGS ACK");
    client.socket.destroy();
  });

  it("sends a lone PING's ACK by itself once its hold is up", async () => {
    const client = await connect();
    await client.waitFor((f) => f.type === 0x4 && f.flags === 0x1);
    const writes = writesByPort.get(client.socket.localPort) ?? [];
    const before = writes.length;
    const sent = performance.now();
    client.send(frame(0x6, 0, 0, Buffer.from("lonelyyy")));
    const ack = await client.waitFor((f) => f.type === 0x6 && f.flags === 0x1);
    const waited = performance.now() - sent;
    assert.deepEqual(ack?.payload, Buffer.from("lonelyyy"));
    assert.deepEqual(
      writes.slice(before).map((w) => framesIn(w).map((f) => f.type)),
      [[0x6]],
      "one write, the ACK alone",
    );
    // Node's timers may fire up to a millisecond early by their own clock.
    assert.ok(waited >= pingAckHoldMs - 1, `the ACK waited ${waited.toFixed(2)} ms`);
    client.socket.destroy();
  });

  it("answers every PING of a read, in order", async () => {
    const client = await connect();
    client.send(
      frame(0x6, 0, 0, Buffer.from("first...")),
      frame(0x6, 0, 0, Buffer.from("second..")),
      frame(0x6, 0, 0, Buffer.from("third...")),
    );
    await client.waitFor((f) => f.type === 0x6 && f.payload.toString() === "third...");
    assert.deepEqual(
      client.frames.filter((f) => f.type === 0x6 && f.flags === 0x1).map((f) => `${f.payload}`),
      ["first...", "second..", "third..."],
    );
    client.socket.destroy();
  });

  it("sends a held PING ACK after the frames of the write it rides in", async () => {
    const client = await connect();
    await client.waitFor((f) => f.type === 0x4 && f.flags === 0x1);
    client.send(
      frame(0x6, 0, 0, Buffer.from("12345678")),
      frame(0x1, 0x5, 1, requestBlock("/later")),
    );
    await client.waitFor((f) => f.type === 0x6 && f.flags === 0x1);
    const writes = (writesByPort.get(client.socket.localPort) ?? []).map(framesIn);
    const carrying = writes.find((fs) => fs.some((f) => f.type === 0x6 && f.flags === 0x1));
    assert.deepEqual(
      carrying?.map((f) => f.type),
      [0x1, 0x0, 0x1, 0x6],
      "headers, message, trailers, then the ACK: grpc-go counts the DATA before the ACK",
    );
    client.socket.destroy();
  });

  // Each case: what the client sends in one write after its preface, and the
  // frames that must leave the server in one socket write. One write is one
  // system call and one wake-up of the client; grpc-go sends a PING with
  // nearly every request.
  const isPingAck = (f: Frame) => f.type === 0x6 && f.flags === 0x1;
  const isHeaders = (f: Frame) => f.type === 0x1 && f.id === 1;
  const isData = (f: Frame) => f.type === 0x0 && f.id === 1;
  const oneWriteCases = [
    {
      name: "a PING's ACK with the answer its read started, a few promise jobs later",
      frames: () => [
        frame(0x6, 0, 0, Buffer.from("12345678")),
        frame(0x1, 0x5, 1, requestBlock("/later")),
      ],
      together: [isPingAck, isHeaders, isData],
    },
    {
      name: "a stream's headers with its first message, corked until a tick of its own",
      frames: () => [frame(0x1, 0x5, 1, requestBlock("/corked"))],
      together: [isHeaders, isData],
    },
  ];
  for (const c of oneWriteCases) {
    it(`sends ${c.name} in one write`, async () => {
      const client = await connect();
      client.send(...c.frames());
      assert.ok(await client.waitFor(isData), "the answer's message");
      const writes = writesByPort.get(client.socket.localPort) ?? [];
      const frames = writes.map(framesIn);
      assert.ok(
        frames.some((fs) => c.together.every((match) => fs.some(match))),
        `writes were ${frames.map((fs) => fs.map((f) => `${f.type}/${f.id}`).join(",")).join(" | ")}`,
      );
      client.socket.destroy();
    });
  }

  it("holds an answer to the client's window and sends the rest after WINDOW_UPDATE", async () => {
    const client = await connect();
    // A stream window of 1000 bytes (SETTINGS_INITIAL_WINDOW_SIZE).
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(0x4, 0);
    settings.writeUInt32BE(1000, 2);
    client.send(frame(0x4, 0, 0, settings), frame(0x1, 0x5, 1, requestBlock("/big")));
    await client.waitFor((f) => f.type === 0x0);
    await new Promise((r) => setTimeout(r, 100));
    const sent = () =>
      client.frames
        .filter((f) => f.type === 0x0 && f.id === 1)
        .reduce((n, f) => n + f.payload.length, 0);
    assert.equal(sent(), 1000);
    client.send(frame(0x8, 0, 1, u32(300 * 1024)));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(sent(), 65_535, "the connection's window (64 KiB) holds the rest");
    client.send(frame(0x8, 0, 0, u32(300 * 1024)));
    const end = await client.waitFor((f) => f.type === 0x1 && f.id === 1 && (f.flags & 0x1) !== 0);
    assert.ok(end, "trailers after the window opened");
    assert.equal(sent(), 200 * 1024);
    client.socket.destroy();
  });

  it("answers through Node's own HTTP/2 client, headers and trailers decoded", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/answer",
        "content-type": "application/grpc",
      });
      const body = Buffer.alloc(100_000, 3); // more than a window: WINDOW_UPDATEs from the engine
      stream.end(body);
      const chunks: Buffer[] = [];
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      stream.on("response", (h) => {
        headers = h;
      });
      stream.on("trailers", (t) => {
        trailers = t;
      });
      stream.on("data", (c: Buffer) => chunks.push(c));
      await new Promise((resolve) => stream.on("close", resolve));
      assert.equal(headers[":status"], 200);
      assert.equal(headers["content-type"], "application/grpc");
      assert.ok(typeof headers.date === "string");
      assert.equal(trailers["grpc-status"], "0");
      assert.deepEqual(Buffer.concat(chunks), body);
    } finally {
      session.close();
    }
  });

  it("decodes what it encodes (header blocks)", () => {
    const block = encodeHeaderBlock(200, { "grpc-message": "é ".repeat(100), "x-a": "b" });
    const fields = createHpackDecoder().decode(block);
    assert.deepEqual(
      fields.map((f) => [f.name, f.value]),
      [
        [":status", "200"],
        ["grpc-message", Buffer.from("é ".repeat(100), "utf8").toString("latin1")],
        ["x-a", "b"],
      ],
    );
  });
});
