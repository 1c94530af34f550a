// The load generator behind `npm run bench`: drives etcd's KV service over
// gRPC (h2c) with connect-node, so the very same client code measures Conclave
// and a real etcd. No server internals are imported; any etcd v3 endpoint works.

import { create } from "@bufbuild/protobuf";
import { KV, PutRequestSchema, RangeRequestSchema } from "@conclave/proto";
import { type Client, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

export const workloads = ["put", "range", "mixed"] as const;
export type Workload = (typeof workloads)[number];

export interface LoadOptions {
  /** `http://host:port` of an etcd v3 gRPC endpoint (h2c). */
  endpoint: string;
  workload: Workload;
  /** In-flight requests, spread round-robin over the connections. */
  concurrency: number;
  /** Timed operations. */
  total: number;
  /** Bytes per value written. */
  valueSize: number;
  /** Size of the key space; keys are picked uniformly at random. */
  keys: number;
  /** gRPC connections (one HTTP/2 session each). */
  clients: number;
  /** Untimed operations before the timed run (connection set-up, JIT). */
  warmup: number;
  /** Every key starts with this. */
  keyPrefix: string;
  /** Per-request deadline. */
  timeoutMs: number;
}

export interface LoadResult {
  workload: Workload;
  concurrency: number;
  clients: number;
  /** Operations that succeeded. */
  ok: number;
  errors: number;
  /** Error kind -> count (ConnectError code names, or "range-miss"). */
  errorKinds: Map<string, number>;
  /** Wall time of the timed phase. */
  elapsedMs: number;
  /** Successful operations per second of wall time. */
  opsPerSec: number;
  /** Latencies of successful operations in ms, sorted ascending. */
  latenciesMs: Float64Array;
  /** CPU the benchmark client itself used during the timed phase, in ms. */
  clientCpuMs: number;
}

/** Percentile (0..100) of an ascending array, nearest-rank; NaN when empty. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? Number.NaN;
}

/** Key number `i` in the benchmark's key space, fixed width so keys sort numerically. */
function keyBytes(prefix: string, i: number): Uint8Array {
  return new TextEncoder().encode(`${prefix}${i.toString().padStart(8, "0")}`);
}

interface Connection {
  session: Http2SessionManager;
  kv: Client<typeof KV>;
}

function openConnections(endpoint: string, n: number): Connection[] {
  const out: Connection[] = [];
  for (let i = 0; i < n; i++) {
    // One session manager per transport = one HTTP/2 connection per simulated client.
    const session = new Http2SessionManager(endpoint);
    const transport = createGrpcTransport({ baseUrl: endpoint, sessionManager: session });
    out.push({ session, kv: createClient(KV, transport) });
  }
  return out;
}

export function errorKind(err: unknown): string {
  if (err instanceof ConnectError) return `grpc:${err.code}:${err.rawMessage.slice(0, 80)}`;
  return err instanceof Error ? `${err.name}:${err.message.slice(0, 80)}` : String(err);
}

type Op = (conn: Connection, key: Uint8Array) => Promise<void>;

/**
 * Runs `count` operations with `concurrency` workers, each bound to one
 * connection. `record` gets every successful operation's latency in ms.
 * Bounded: a shared counter hands out exactly `count` operations.
 */
async function drive(
  conns: Connection[],
  concurrency: number,
  count: number,
  nextKey: (seq: number) => Uint8Array,
  pickOp: () => Op,
  onResult: (latencyMs: number, err: unknown) => void,
): Promise<void> {
  let issued = 0;
  const worker = async (w: number) => {
    const conn = conns[w % conns.length];
    if (conn === undefined) throw new Error("no connection");
    while (issued < count) {
      const seq = issued++;
      const op = pickOp();
      const key = nextKey(seq);
      const t0 = performance.now();
      try {
        await op(conn, key);
        onResult(performance.now() - t0, undefined);
      } catch (err) {
        onResult(performance.now() - t0, err);
      }
    }
  };
  const workers: Promise<void>[] = [];
  for (let w = 0; w < concurrency; w++) workers.push(worker(w));
  await Promise.all(workers);
}

/** Runs one workload against one endpoint: populate (untimed), warm up (untimed), then the timed phase. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const clients = Math.max(1, Math.min(o.clients, o.concurrency));
  const conns = openConnections(o.endpoint, clients);
  try {
    await Promise.all(conns.map((c) => c.session.connect()));
    const value = new Uint8Array(o.valueSize);
    for (let i = 0; i < value.length; i++) value[i] = 97 + (i % 26);
    const keys: Uint8Array[] = [];
    for (let i = 0; i < o.keys; i++) keys.push(keyBytes(o.keyPrefix, i));
    const randomKey = () => keys[Math.floor(Math.random() * keys.length)] ?? keys[0] ?? value;
    const opts = o.timeoutMs > 0 ? { timeoutMs: o.timeoutMs } : {};

    const put: Op = async (c, key) => {
      await c.kv.put(create(PutRequestSchema, { key, value }), opts);
    };
    const range: Op = async (c, key) => {
      const res = await c.kv.range(create(RangeRequestSchema, { key }), opts);
      // Every key was written before the timed phase: a miss is a wrong answer.
      if (res.kvs.length !== 1) throw new Error("range-miss");
    };
    const pickOp: () => Op =
      o.workload === "put"
        ? () => put
        : o.workload === "range"
          ? () => range
          : () => (Math.random() < 0.5 ? put : range);

    let setupErrors = 0;
    let firstSetupError: unknown;
    const countSetup = (_ms: number, err: unknown) => {
      if (err !== undefined) {
        setupErrors++;
        firstSetupError ??= err;
      }
    };
    if (o.workload !== "put") {
      // Populate every key once, in order, so single-key gets always hit.
      await drive(
        conns,
        o.concurrency,
        keys.length,
        (seq) => keys[seq] ?? value,
        () => put,
        countSetup,
      );
    }
    if (o.warmup > 0) await drive(conns, o.concurrency, o.warmup, randomKey, pickOp, countSetup);
    if (setupErrors > 0) {
      throw new Error(
        `${setupErrors} errors while populating/warming up ${o.endpoint}; first: ${errorKind(firstSetupError)}`,
      );
    }

    const lat = new Float64Array(o.total);
    let ok = 0;
    let errors = 0;
    const errorKinds = new Map<string, number>();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await drive(conns, o.concurrency, o.total, randomKey, pickOp, (ms, err) => {
      if (err === undefined) {
        lat[ok++] = ms;
      } else {
        errors++;
        const k = errorKind(err);
        errorKinds.set(k, (errorKinds.get(k) ?? 0) + 1);
      }
    });
    const elapsedMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const latenciesMs = lat.subarray(0, ok).sort();
    return {
      workload: o.workload,
      concurrency: o.concurrency,
      clients,
      ok,
      errors,
      errorKinds,
      elapsedMs,
      opsPerSec: (ok / elapsedMs) * 1000,
      latenciesMs,
      clientCpuMs: (cpu.user + cpu.system) / 1000,
    };
  } finally {
    for (const c of conns) c.session.abort();
  }
}
