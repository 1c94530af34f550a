// The HTTP/JSON doors (issue #20): unary calls over HTTP/1.1 keep-alive driven
// by wrk, and watch event throughput to streaming HTTP clients, for
// `npm run bench`. Against etcd, every door is measured on etcd's own gateway
// (/v3/kv/range, /v3/watch…): etcd has no Connect or gRPC-Web, and its
// gateway is what curl and browser users of etcd get.
//
// Why wrk (Debian's, installed with apt when missing, as the Go toolchain
// is): it is C with an event loop per thread, ~10–20 µs of CPU per request,
// so two threads keep 50 connections busy without being the limit; a Node
// generator (autocannon) costs several times that per request and would
// share the same two cores with the servers.

import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { aptInstall } from "./apt-install.js";
import type { RunResult } from "./coord.js";

/** The unary door workloads: what is sent, and its gateway twin for etcd. */
export const httpUnaryWorkloads = [
  "gw-range",
  "gw-put",
  "connect-range",
  "connect-put",
  "grpc-web-range",
] as const;
export const httpWatchWorkloads = ["gw-watch", "connect-watch"] as const;
export type HttpUnaryWorkload = (typeof httpUnaryWorkloads)[number];
export type HttpWatchWorkload = (typeof httpWatchWorkloads)[number];

export interface HttpDoorOptions {
  /** wrk connections (default 50, as issue #20 measured). */
  connections: number;
  /** wrk threads (default 2). */
  threads: number;
  /** Timed seconds per unary run (default 8). */
  durationS: number;
  /**
   * Untimed seconds of the same load before each unary run (default 2),
   * outside the server CPU window: the Go workloads warm up too, and a
   * server's first HTTP/1.1 requests (lazy compilation, JIT) otherwise
   * put its start-up into the first round's p99.
   */
  warmupS: number;
  /** Streaming HTTP watch clients (default 100). */
  watchClients: number;
  /** Timed puts of a watch run; each must reach every client (default 1000). */
  watchEvents: number;
}

/** The key every workload reads and writes: "foo". */
const key = Buffer.from("foo").toString("base64");
const value = Buffer.from("bar").toString("base64");

interface UnaryRequest {
  path: string;
  contentType: string;
  headers?: Record<string, string>;
  body: Buffer;
}

/** A gRPC-Web envelope around RangeRequest{key: "foo"} (field 1, 3 bytes). */
const grpcWebRange = Buffer.from([0, 0, 0, 0, 5, 0x0a, 3, ...Buffer.from("foo")]);

const gatewayRange: UnaryRequest = {
  path: "/v3/kv/range",
  contentType: "application/json",
  body: Buffer.from(JSON.stringify({ key })),
};
const gatewayPut: UnaryRequest = {
  path: "/v3/kv/put",
  contentType: "application/json",
  body: Buffer.from(JSON.stringify({ key, value })),
};

/** The request of `workload` against Conclave, or against etcd (its gateway twin). */
function unaryRequest(workload: HttpUnaryWorkload, etcd: boolean): UnaryRequest {
  const put = workload.endsWith("-put");
  if (etcd || workload.startsWith("gw-")) return put ? gatewayPut : gatewayRange;
  if (workload === "grpc-web-range") {
    return {
      path: "/etcdserverpb.KV/Range",
      contentType: "application/grpc-web+proto",
      headers: { "x-grpc-web": "1" },
      body: grpcWebRange,
    };
  }
  return {
    path: put ? "/etcdserverpb.KV/Put" : "/etcdserverpb.KV/Range",
    contentType: "application/json",
    body: put ? gatewayPut.body : gatewayRange.body,
  };
}

function haveWrk(): boolean {
  return spawnSync("wrk", ["--version"], { stdio: "ignore" }).error === undefined;
}

/** wrk on PATH, installed from Debian when missing. */
export function ensureWrk(): void {
  if (haveWrk()) return;
  aptInstall(["wrk"]);
  if (!haveWrk()) throw new Error("wrk still missing after apt-get install");
}

/**
 * wrk's script: the request, and at the end one JSON line with the counts
 * and the latency distribution as 1000 quantiles (0.1% steps, in µs) — the
 * samples the report takes its percentiles from.
 */
function wrkScript(req: UnaryRequest): string {
  const lua = (b: Buffer) => `"${[...b].map((c) => `\\${c}`).join("")}"`;
  const headers = Object.entries({ "Content-Type": req.contentType, ...req.headers })
    .map(([k, v]) => `wrk.headers[${lua(Buffer.from(k))}] = ${lua(Buffer.from(v))}`)
    .join("\n");
  return `wrk.method = "POST"
wrk.body = ${lua(req.body)}
${headers}
done = function(summary, latency, requests)
  local q = {}
  for i = 1, 999 do q[i] = latency:percentile(i / 10) end
  q[1000] = latency.max
  local e = summary.errors
  io.write(string.format('{"requests":%d,"durationUs":%d,"non2xx":%d,"socket":%d,"quantilesUs":[%s]}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    table.concat(q, ",")))
end
`;
}

interface WrkOutput {
  requests: number;
  durationUs: number;
  non2xx: number;
  socket: number;
  quantilesUs: number[];
}

/** One POST, to check the door answers 200 before it is loaded. */
function probe(endpoint: string, req: UnaryRequest): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = request(
      endpoint + req.path,
      { method: "POST", headers: { "content-type": req.contentType, ...req.headers } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    r.on("error", reject);
    r.end(req.body);
  });
}

/** A unary door under wrk: `threads` threads, `connections` keep-alive connections, `durationS`. */
export async function runHttpUnary(
  workload: HttpUnaryWorkload,
  endpoint: string,
  etcd: boolean,
  options: HttpDoorOptions,
): Promise<RunResult> {
  const req = await seededRequest(workload, endpoint, etcd);
  const stdout = await runWrk(req, endpoint, options, options.durationS);
  {
    const clientCpuMs = childCpuMs(stdout);
    const line = stdout.split("\n").find((l) => l.startsWith('{"requests"'));
    if (line === undefined) throw new Error(`no result line from wrk:\n${stdout}`);
    const out = JSON.parse(line) as WrkOutput;
    const errors = out.non2xx + out.socket;
    const errorKinds = new Map<string, number>();
    if (out.non2xx > 0) errorKinds.set("non-2xx answer", out.non2xx);
    if (out.socket > 0) errorKinds.set("socket error", out.socket);
    return {
      workload,
      params: `wrk -t${options.threads} -c${options.connections} -d${options.durationS}s, POST ${unaryRequest(workload, false).path} (etcd: ${unaryRequest(workload, true).path})`,
      ops: out.requests - errors,
      errors,
      errorKinds,
      measures: [
        {
          name: "round trip",
          rate: (out.requests - errors) / (out.durationUs / 1e6),
          unit: "ops",
          latenciesMs: Float64Array.from(out.quantilesUs, (us) => us / 1000),
        },
      ],
      clientCpuMs,
      notes: [],
    };
  }
}

/** The warm-up of a unary door: the same wrk load for `warmupS`, untimed. */
export async function warmUpHttpUnary(
  workload: HttpUnaryWorkload,
  endpoint: string,
  etcd: boolean,
  options: HttpDoorOptions,
): Promise<void> {
  if (options.warmupS <= 0) return;
  await runWrk(await seededRequest(workload, endpoint, etcd), endpoint, options, options.warmupS);
}

/** The workload's request, once the key it reads exists and one request was answered 200. */
async function seededRequest(
  workload: HttpUnaryWorkload,
  endpoint: string,
  etcd: boolean,
): Promise<UnaryRequest> {
  ensureWrk();
  const req = unaryRequest(workload, etcd);
  // The Range reads a key that must exist.
  const status = await probe(endpoint, gatewayPut);
  if (status !== 200) throw new Error(`seeding foo: HTTP ${status}`);
  const probeStatus = await probe(endpoint, req);
  if (probeStatus !== 200) throw new Error(`${req.path}: HTTP ${probeStatus}`);
  return req;
}

/** wrk's output for `seconds` of `req`, followed by bash's `times` (wrk's CPU). */
async function runWrk(
  req: UnaryRequest,
  endpoint: string,
  options: HttpDoorOptions,
  seconds: number,
): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "bench-wrk-"));
  try {
    const script = join(dir, "door.lua");
    writeFileSync(script, wrkScript(req));
    // bash's `times` prints its children's CPU (wrk's) on its second line.
    const command = `wrk -t${options.threads} -c${options.connections} -d${seconds}s -s "$0" "$1"; times`;
    return await new Promise<string>((resolve, reject) => {
      execFile(
        "bash",
        ["-c", command, script, endpoint + req.path],
        { maxBuffer: 1 << 24 },
        (err, out) => (err !== null ? reject(err) : resolve(out)),
      );
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The children's user+system CPU of bash's `times` output (its last line: "0m1.234s 0m0.567s"). */
function childCpuMs(stdout: string): number {
  const last = stdout.trim().split("\n").at(-1) ?? "";
  const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(last);
  if (m === null) return Number.NaN;
  return (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000;
}

/** Counts `marker` in a stream of text chunks, across chunk boundaries. */
function createCounter(marker: string) {
  let tail = "";
  return (chunk: string): number => {
    const text = tail + chunk;
    let n = 0;
    for (let i = text.indexOf(marker); i >= 0; i = text.indexOf(marker, i + marker.length)) n++;
    tail = text.slice(Math.max(0, text.length - marker.length + 1));
    return n;
  };
}

/** A Connect streaming envelope around a JSON message. */
function connectEnvelope(json: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(json));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/**
 * Watch event throughput to `watchClients` streaming HTTP/1.1 clients, one
 * connection each, all watching "foo": the gateway's /v3/watch (NDJSON) or
 * conclave.v1 Watch over the Connect protocol with JSON (etcd: its
 * /v3/watch). A writer then sends `watchEvents` Puts over the gateway (8 in
 * flight, keep-alive) and the rate is deliveries (events × clients) over the
 * time from the first Put to the last delivery. Events are counted by their
 * `mod_revision` (`modRevision` in Connect's JSON) without parsing, so the
 * client's cost per event stays small.
 */
export async function runHttpWatch(
  workload: HttpWatchWorkload,
  endpoint: string,
  etcd: boolean,
  options: HttpDoorOptions,
): Promise<RunResult> {
  const connect = workload === "connect-watch" && !etcd;
  const clients = options.watchClients;
  const events = options.watchEvents;
  const expected = clients * events;
  const streams: { close(): void }[] = [];
  let delivered = 0;
  let lastAt = 0;
  let created = 0;
  let onAll: (() => void) | undefined;
  let onCreated: (() => void) | undefined;
  const all = new Promise<void>((r) => {
    onAll = r;
  });
  const allCreated = new Promise<void>((r) => {
    onCreated = r;
  });
  for (let i = 0; i < clients; i++) {
    const count = createCounter(connect ? '"modRevision"' : '"mod_revision"');
    let seenCreated = false;
    const req = request(endpoint + (connect ? "/conclave.v1.WatchService/Watch" : "/v3/watch"), {
      method: "POST",
      agent: false,
      headers: {
        "content-type": connect ? "application/connect+json" : "application/json",
      },
    });
    req.on("response", (res) => {
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (!seenCreated) {
          seenCreated = true;
          if (++created === clients) onCreated?.();
        }
        const n = count(chunk);
        if (n > 0) {
          delivered += n;
          lastAt = performance.now();
          if (delivered >= expected) onAll?.();
        }
      });
    });
    req.on("error", () => {});
    if (connect) req.end(connectEnvelope({ key }));
    else req.end(JSON.stringify({ create_request: { key } }));
    streams.push({ close: () => req.destroy() });
  }
  const cpu0 = process.cpuUsage();
  try {
    await withTimeout(allCreated, 30_000, "watch streams not created");
    const t0 = performance.now();
    let sent = 0;
    const putAgent = new Agent({ keepAlive: true, maxSockets: 8 });
    const agentReq = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const r = request(`${endpoint}/v3/kv/put`, { method: "POST", agent: putAgent }, (res) => {
          res.resume();
          res.on("end", () => resolve());
        });
        r.on("error", reject);
        r.end(gatewayPut.body);
      });
    const writers = Array.from({ length: 8 }, async () => {
      while (sent < events) {
        sent++;
        await agentReq();
      }
    });
    await Promise.all(writers);
    putAgent.destroy();
    await withTimeout(all, 60_000, `${delivered} of ${expected} deliveries`);
    const seconds = (lastAt - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return {
      workload,
      params: `${clients} streaming HTTP clients of ${workload === "connect-watch" ? "conclave.v1 Watch (Connect JSON)" : "/v3/watch"} (etcd: /v3/watch), ${events} puts (8 in flight)`,
      ops: delivered,
      errors: delivered > expected ? delivered - expected : 0,
      errorKinds:
        delivered > expected ? new Map([["duplicated event", delivered - expected]]) : new Map(),
      measures: [
        {
          name: "events delivered",
          rate: delivered / seconds,
          unit: "ev",
          latenciesMs: new Float64Array(),
        },
      ],
      clientCpuMs: (cpu.user + cpu.system) / 1000,
      notes: [],
    };
  } finally {
    for (const s of streams) s.close();
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
