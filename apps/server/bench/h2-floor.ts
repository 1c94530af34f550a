// The HTTP/2 floor (`node --import tsx apps/server/bench/h2-floor.ts`): what a gRPC call costs a
// Node server before any Conclave code runs. Two servers answer every call with a fixed message
// and nothing else: "node", through node:http2 (nghttp2 and Node's Http2Stream, what Conclave
// serves gRPC with), and "frames", a frame loop of our own in JavaScript on a plain socket (the
// HPACK decoder of authority-repair/, responses as literal header blocks, every frame of a turn
// in one socket write). The Go clientv3 generator drives each in turn, builds alternating, and
// the table gives the server CPU per call of each.
//
//   node --import tsx apps/server/bench/h2-floor.ts [--pairs 2] [--total 40000]
//       [--workloads put,put-c1,keepalive-once]
//
// "frames" serves exactly what the generator sends and no more: it keeps windows open with
// large WINDOW_UPDATEs instead of flow control, ignores priorities and GOAWAY, and answers by
// path. It measures the floor; it is not a server.

import { type ChildProcess, spawn } from "node:child_process";
import * as http2 from "node:http2";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort } from "@conclave/testkit";
import { createHpackDecoder } from "../src/authority-repair/hpack-decoder.js";
import {
  frameHeaderLength,
  headersFragment,
  http2Preface,
  settingsFrame,
} from "../src/authority-repair/http2-frames.js";
import { ensureGoBench, runGoBench } from "./go-client.js";

const { values: args } = parseArgs({
  options: {
    serve: { type: "string" },
    port: { type: "string" },
    pairs: { type: "string", default: "2" },
    total: { type: "string", default: "40000" },
    workloads: { type: "string", default: "put,put-c1,keepalive-once" },
  },
});

type Variant = "node" | "frames";

// ResponseHeader { cluster_id: 1, member_id: 2, revision: 3, raft_term: 4 }
const responseHeader = [0x0a, 0x08, 0x08, 0x01, 0x10, 0x02, 0x18, 0x03, 0x20, 0x04];
/** A PutResponse (or RangeResponse, TxnResponse): just the header. */
const plainAnswer = envelope(responseHeader);
/** A LeaseGrantResponse or LeaseKeepAliveResponse: the header, ID 7, TTL 600. */
const leaseAnswer = envelope([...responseHeader, 0x10, 0x07, 0x18, 0xd8, 0x04]);
const answerFor = (path: string) => (path.includes("/Lease") ? leaseAnswer : plainAnswer);

/** Calls `each` per complete gRPC envelope in `bytes`; returns what is left. */
function takeMessages(bytes: Buffer, each: () => void): Buffer {
  let at = 0;
  while (bytes.length - at >= 5 && bytes.length - at >= 5 + bytes.readUInt32BE(at + 1)) {
    at += 5 + bytes.readUInt32BE(at + 1);
    each();
  }
  return bytes.subarray(at);
}

function envelope(message: number[]): Buffer {
  return Buffer.from([0, 0, 0, 0, message.length, ...message]);
}

/**
 * Answers each gRPC message with the fixed one, once per complete envelope,
 * and the end of the request with the trailers: a unary call gets headers,
 * message and trailers; a KeepAliveOnce stream its one answer.
 */
function serveNode(port: number): void {
  const server = http2.createServer({ settings: { maxConcurrentStreams: 2 ** 32 - 1 } });
  server.on("stream", (stream, headers) => {
    const answer = answerFor(String(headers[":path"]));
    let pending: Buffer = Buffer.alloc(0);
    let responded = false;
    const respond = () => {
      if (responded) return;
      responded = true;
      stream.respond(
        { ":status": 200, "content-type": "application/grpc" },
        { waitForTrailers: true },
      );
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    };
    stream.on("data", (chunk: Buffer) => {
      pending = takeMessages(Buffer.concat([pending, chunk]), () => {
        respond();
        stream.write(answer);
      });
    });
    stream.on("end", () => {
      respond();
      stream.end();
    });
    stream.on("error", () => {});
  });
  server.listen(port, "127.0.0.1", () => console.log("ready"));
}

/** The frame loop: see the top of the file for what it leaves out. */
function serveFrames(port: number): void {
  const frame = (type: number, flags: number, id: number, payload: Buffer) => {
    const out = Buffer.allocUnsafe(frameHeaderLength + payload.length);
    out.writeUIntBE(payload.length, 0, 3);
    out[3] = type;
    out[4] = flags;
    out.writeUInt32BE(id, 5);
    payload.copy(out, frameHeaderLength);
    return out;
  };
  const contentType = Buffer.from("application/grpc", "latin1");
  // :status 200 (static index 8); content-type (static name 31) literal, not indexed.
  const headerBlock = Buffer.concat([
    Buffer.from([0x88, 0x0f, 0x10, contentType.length]),
    contentType,
  ]);
  const statusName = Buffer.from("grpc-status", "latin1");
  const trailerBlock = Buffer.concat([
    Buffer.from([0x00, statusName.length]),
    statusName,
    Buffer.from([1, 0x30]),
  ]);
  const bigWindow = Buffer.from([0x3f, 0xff, 0x00, 0x00]);

  net
    .createServer({ noDelay: true }, (socket) => {
      const hpack = createHpackDecoder();
      const streams = new Map<number, { answer: Buffer; pending: Buffer; responded: boolean }>();
      let held: Buffer = Buffer.alloc(0);
      let prefaceSeen = false;
      let block: Buffer[] = [];
      let blockStream = 0;
      let blockEnds = false;
      let received = 0;
      let out: Buffer[] = [];
      let scheduled = false;
      const flush = () => {
        scheduled = false;
        const batch = out;
        out = [];
        socket.write(batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch));
      };
      const send = (b: Buffer) => {
        out.push(b);
        if (!scheduled) {
          scheduled = true;
          queueMicrotask(flush);
        }
      };
      send(
        settingsFrame([
          [0x3, 0xffff_ffff],
          [0x4, 1 << 20],
        ]),
      );
      send(frame(0x8, 0, 0, bigWindow));

      const opened = (id: number, fields: { name: string; value: string }[], ends: boolean) => {
        const path = fields.find((f) => f.name === ":path")?.value ?? "";
        const s = { answer: answerFor(path), pending: Buffer.alloc(0), responded: false };
        streams.set(id, s);
        if (ends) finish(id);
      };
      const respond = (id: number, s: { responded: boolean }) => {
        if (s.responded) return;
        s.responded = true;
        send(frame(0x1, 0x4, id, headerBlock));
      };
      const finish = (id: number) => {
        const s = streams.get(id);
        if (s === undefined) return;
        streams.delete(id);
        respond(id, s);
        send(frame(0x1, 0x5, id, trailerBlock));
      };

      socket.on("data", (chunk: Buffer) => {
        held = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
        let at = 0;
        if (!prefaceSeen) {
          if (held.length < http2Preface.length) return;
          prefaceSeen = true;
          at = http2Preface.length;
        }
        while (held.length - at >= frameHeaderLength) {
          const length = held.readUIntBE(at, 3);
          if (held.length - at < frameHeaderLength + length) break;
          const type = held[at + 3] as number;
          const flags = held[at + 4] as number;
          const id = held.readUInt32BE(at + 5) & 0x7fff_ffff;
          const payload = held.subarray(at + frameHeaderLength, at + frameHeaderLength + length);
          at += frameHeaderLength + length;
          if (type === 0x0) {
            received += length;
            const s = streams.get(id);
            if (s !== undefined) {
              s.pending = takeMessages(Buffer.concat([s.pending, payload]), () => {
                respond(id, s);
                send(frame(0x0, 0, id, s.answer));
              });
            }
            if (flags & 0x1) finish(id);
          } else if (type === 0x1 || type === 0x9) {
            if (type === 0x1) {
              blockStream = id;
              blockEnds = (flags & 0x1) !== 0;
              block = [headersFragment(flags, payload) ?? Buffer.alloc(0)];
            } else block.push(payload);
            if (flags & 0x4) opened(blockStream, hpack.decode(Buffer.concat(block)), blockEnds);
          } else if (type === 0x4 && !(flags & 0x1)) {
            send(frame(0x4, 0x1, 0, Buffer.alloc(0)));
          } else if (type === 0x6 && !(flags & 0x1)) {
            send(frame(0x6, 0x1, 0, payload));
          } else if (type === 0x3) {
            streams.delete(id);
          }
        }
        if (received > 1 << 20) {
          const increment = Buffer.alloc(4);
          increment.writeUInt32BE(received);
          send(frame(0x8, 0, 0, increment));
          received = 0;
        }
        held = at === held.length ? Buffer.alloc(0) : held.subarray(at);
      });
      socket.on("error", () => {});
    })
    .listen(port, "127.0.0.1", () => console.log("ready"));
}

async function startVariant(variant: Variant): Promise<{ child: ChildProcess; endpoint: string }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ["--import", "tsx", fileURLToPath(import.meta.url), "--serve", variant, "--port", String(port)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      if (d.toString().includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`${variant} server exited (${code})`)));
  });
  return { child, endpoint: `127.0.0.1:${port}` };
}

const workloadFlags: Record<
  string,
  { program: "put" | "keepalive-once"; flags: Record<string, number> }
> = {
  put: { program: "put", flags: { clients: 100, conns: 10 } },
  "put-c1": { program: "put", flags: { clients: 1, conns: 1 } },
  "keepalive-once": { program: "keepalive-once", flags: { clients: 100, conns: 10 } },
};

async function main(): Promise<void> {
  const bin = ensureGoBench();
  const pairs = Number(args.pairs);
  const total = Number(args.total);
  const rows: string[] = [
    "| workload | server | ops/s | p50 ms | p99 ms | server CPU µs/call | client CPU µs/call |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const name of String(args.workloads).split(",")) {
    const spec = workloadFlags[name];
    if (spec === undefined) throw new Error(`unknown workload ${name}`);
    const calls = name === "put-c1" ? Math.min(total, 5000) : total;
    for (let pair = 0; pair < pairs; pair++) {
      const order: Variant[] = pair % 2 === 0 ? ["frames", "node"] : ["node", "frames"];
      for (const variant of order) {
        const { child, endpoint } = await startVariant(variant);
        try {
          const r = await runGoBench(bin, spec.program, endpoint, {
            ...spec.flags,
            total: calls,
            warmup: Math.ceil(calls / 10),
            "server-pids": child.pid ?? 0,
          });
          const m = r.measures[0];
          if (m === undefined || r.errors > 0)
            throw new Error(`${variant} ${name}: ${r.errors} errors`);
          const pct = (p: number) =>
            (
              m.latenciesMs[
                Math.min(m.latenciesMs.length - 1, Math.floor(p * m.latenciesMs.length))
              ] ?? 0
            ).toFixed(2);
          const perCall = (ms: number | undefined) =>
            ms === undefined ? "—" : ((ms * 1000) / r.ops).toFixed(0);
          rows.push(
            `| ${name} | ${variant} | ${m.rate.toFixed(0)} | ${pct(0.5)} | ${pct(0.99)} | ${perCall(r.serverCpuMs)} | ${perCall(r.clientCpuMs)} |`,
          );
          console.error(rows.at(-1));
        } finally {
          child.kill();
        }
      }
    }
  }
  console.log(rows.join("\n"));
}

if (args.serve === "node") serveNode(Number(args.port));
else if (args.serve === "frames") serveFrames(Number(args.port));
else await main();
