// The rounds of one workload against one server, merged: rates are averaged
// over rounds, latency percentiles are taken over every round's samples
// (percentiles of percentiles would mean nothing), CPU and operations add up.

import type { RunResult } from "./coord.js";
import { percentile } from "./load.js";
import { mean, meanOf } from "./report-format.js";

export interface Merged {
  params: string;
  /** Per measure index: rates of each round, latencies of each round. */
  rates: number[][];
  latencies: Float64Array[][];
  names: string[];
  units: string[];
  ops: number;
  errors: number;
  errorKinds: Map<string, number>;
  /** Server CPU over the rounds (all processes counted for the server). */
  serverCpuMs: number;
  /** The part of serverCpuMs that PostgreSQL spent (replica mode; 0 otherwise). */
  postgresCpuMs: number;
  clientCpuMs: number;
}

export function emptyMerged(): Merged {
  return {
    params: "",
    rates: [],
    latencies: [],
    names: [],
    units: [],
    ops: 0,
    errors: 0,
    errorKinds: new Map(),
    serverCpuMs: 0,
    postgresCpuMs: 0,
    clientCpuMs: 0,
  };
}

/** Adds one round's result and the server CPU it cost. */
export function addRun(m: Merged, r: RunResult, serverCpuMs: number, postgresCpuMs = 0): void {
  m.params = r.params;
  r.measures.forEach((x, i) => {
    m.names[i] = x.name;
    m.units[i] = x.unit;
    m.rates[i] = [...(m.rates[i] ?? []), x.rate];
    m.latencies[i] = [...(m.latencies[i] ?? []), x.latenciesMs];
  });
  m.ops += r.ops;
  m.errors += r.errors;
  for (const [k, n] of r.errorKinds) m.errorKinds.set(k, (m.errorKinds.get(k) ?? 0) + n);
  // NaN (unreadable /proc) stays NaN in the sum, so the table prints "-".
  m.serverCpuMs += serverCpuMs;
  m.postgresCpuMs += postgresCpuMs;
  m.clientCpuMs += r.clientCpuMs;
}

function sortedConcat(parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out.sort();
}

export interface MeasureStats {
  rate: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Mean rate over rounds and percentiles over all samples of measure `i`. */
export function measureStats(m: Merged, i: number): MeasureStats {
  const l = sortedConcat(m.latencies[i] ?? []);
  return {
    rate: mean(m.rates[i] ?? []),
    mean: meanOf(l),
    p50: percentile(l, 50),
    p90: percentile(l, 90),
    p99: percentile(l, 99),
    max: percentile(l, 100),
  };
}

/** Server CPU per operation, in µs. */
export const cpuPerOpUs = (m: Merged) => (m.serverCpuMs * 1000) / Math.max(1, m.ops);
/** PostgreSQL's share of it, in µs. */
export const postgresPerOpUs = (m: Merged) => (m.postgresCpuMs * 1000) / Math.max(1, m.ops);
/** The benchmark client's CPU per operation, in µs. */
export const clientPerOpUs = (m: Merged) => (m.clientCpuMs * 1000) / Math.max(1, m.ops);
