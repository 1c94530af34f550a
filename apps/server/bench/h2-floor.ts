// The HTTP/2 floor (`node --import tsx apps/server/bench/h2-floor.ts`): what a gRPC call costs a
// Node server before any Conclave code runs. Two servers answer every call with a fixed message
// and nothing else: "node", through node:http2 (nghttp2 and Node's Http2Stream, what Conclave
// serves browsers and Connect clients with), and "engine", through the gRPC engine's frame loop
// (apps/server/src/grpc-engine/, what etcd clients' connections get). The Go clientv3 generator
// drives each in turn, order alternating, and the table gives the server CPU per call of each.
//
//   node --import tsx apps/server/bench/h2-floor.ts [--pairs 2] [--total 40000]
//       [--workloads put,put-c1,keepalive-once]

import { type ChildProcess, spawn } from "node:child_process";
import * as http2 from "node:http2";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort } from "@conclave/testkit";
import { serveGrpcEngineConnection } from "../src/grpc-engine/grpc-engine-connection.js";
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

type Variant = "node" | "engine";

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

/** The same answers through the gRPC engine's frame loop (grpc-engine/), as Conclave runs it. */
function serveEngine(port: number): void {
  const ok = Object.freeze({ "grpc-status": "0" });
  const header = Object.freeze({ "content-type": "application/grpc" });
  net
    .createServer({ noDelay: true }, (socket) =>
      serveGrpcEngineConnection(socket, {
        maxConcurrentStreams: 2 ** 32 - 1,
        maxHeldBytes: 32 * 1024 * 1024,
        maxHeaderBlockBytes: 64 * 1024,
        reportError: () => {},
        onStream({ req, res }) {
          const answer = answerFor(req.url);
          let pending: Buffer = Buffer.alloc(0);
          req.on("data", (chunk: Buffer) => {
            pending = takeMessages(Buffer.concat([pending, chunk]), () => {
              if (!res.headersSent) res.writeHead(200, header);
              res.write(answer);
            });
          });
          req.on("end", () => {
            if (!res.headersSent) res.writeHead(200, header);
            res.addTrailers(ok);
            res.end();
          });
        },
      }),
    )
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
      const order: Variant[] = pair % 2 === 0 ? ["engine", "node"] : ["node", "engine"];
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
else if (args.serve === "engine") serveEngine(Number(args.port));
else await main();
