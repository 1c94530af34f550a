// Sends generated requests to Conclave and etcd and compares the answers.

import { isDeepStrictEqual } from "node:util";
import {
  clone,
  create,
  type DescMessage,
  type JsonValue,
  type MessageShape,
  toJson,
} from "@bufbuild/protobuf";
import {
  CompactionRequestSchema,
  CompactionResponseSchema,
  DeleteRangeRequestSchema,
  DeleteRangeResponseSchema,
  KV,
  PutRequestSchema,
  PutResponseSchema,
  RangeRequestSchema,
  RangeResponseSchema,
  type ResponseHeader,
  type ResponseOp,
  TxnRequestSchema,
  type TxnResponse,
  TxnResponseSchema,
} from "@conclave/proto";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { b, Generator, type GenState, type Op, Rng } from "./differential-gen.js";

export type KvClient = Client<typeof KV>;

/**
 * A KV client over gRPC (h2c). `kvTransportOptions` lets it decode the
 * responses of deeply nested txns (protobuf-es stops at 100 nested messages,
 * i.e. a 49-level txn response, by default).
 */
export function kvClient(baseUrl: string): KvClient {
  return createClient(KV, createGrpcTransport({ baseUrl, ...kvTransportOptions }));
}

/** Client read options that decode any txn response etcd or Conclave sends. */
export const kvTransportOptions = {
  binaryOptions: { recursionLimit: 10_000 },
  jsonOptions: { recursionLimit: 10_000 },
} as const;

/** What one server answered: a normalized response as proto JSON, or a gRPC status. */
export type Outcome =
  | { ok: true; json: JsonValue; revision: bigint }
  | { ok: false; code: string; message: string };

const CALL_TIMEOUT_MS = 15_000;

function requestSchema(op: Op): DescMessage {
  switch (op.kind) {
    case "range":
      return RangeRequestSchema;
    case "put":
      return PutRequestSchema;
    case "deleteRange":
      return DeleteRangeRequestSchema;
    case "txn":
      return TxnRequestSchema;
    case "compact":
      return CompactionRequestSchema;
  }
}

/** The request as proto JSON (bytes base64), exactly as protobuf-es prints it. */
export function requestJson(op: Op): JsonValue {
  return toJson(requestSchema(op), op.req as MessageShape<DescMessage>);
}

function clearHeader(h: ResponseHeader | undefined): void {
  if (!h) return;
  h.clusterId = 0n;
  h.memberId = 0n;
  h.raftTerm = 0n;
}

function clearTxn(t: TxnResponse): void {
  clearHeader(t.header);
  for (const r of t.responses) clearResponseOp(r);
}

function clearResponseOp(r: ResponseOp): void {
  switch (r.response.case) {
    case "responseTxn":
      clearTxn(r.response.value);
      break;
    case "responseRange":
    case "responsePut":
    case "responseDeleteRange":
      clearHeader(r.response.value.header);
      break;
    default:
      break;
  }
}

function ok<D extends DescMessage>(schema: D, msg: MessageShape<D>): Outcome {
  const c = clone(schema, msg);
  const header = (c as { header?: ResponseHeader }).header;
  const revision = header?.revision ?? -1n;
  if (schema.typeName === TxnResponseSchema.typeName) clearTxn(c as unknown as TxnResponse);
  else clearHeader(header);
  return { ok: true, json: toJson(schema, c), revision };
}

function failed(e: unknown): Outcome {
  if (!(e instanceof ConnectError)) throw e;
  return { ok: false, code: Code[e.code] ?? String(e.code), message: e.rawMessage };
}

/** Sends one request; every server error becomes an Outcome (other exceptions propagate). */
export async function send(kv: KvClient, op: Op): Promise<Outcome> {
  const opts = { timeoutMs: CALL_TIMEOUT_MS };
  try {
    switch (op.kind) {
      case "range":
        return ok(RangeResponseSchema, await kv.range(op.req, opts));
      case "put":
        return ok(PutResponseSchema, await kv.put(op.req, opts));
      case "deleteRange":
        return ok(DeleteRangeResponseSchema, await kv.deleteRange(op.req, opts));
      case "txn":
        return ok(TxnResponseSchema, await kv.txn(op.req, opts));
      case "compact":
        return ok(CompactionResponseSchema, await kv.compact(op.req, opts));
    }
  } catch (e) {
    return failed(e);
  }
}

export function sameOutcome(x: Outcome, y: Outcome): boolean {
  if (x.ok && y.ok) return isDeepStrictEqual(x.json, y.json);
  if (!x.ok && !y.ok) return x.code === y.code && x.message === y.message;
  return false;
}

const BYTES_FIELDS = new Set(["key", "rangeEnd", "value"]);

/** Bytes as a readable string: printable ASCII kept, anything else as \xNN. */
export function escapeBytes(x: Uint8Array): string {
  if (x.length > 64) return `${escapeBytes(x.subarray(0, 24))}…(${x.length} bytes)`;
  let s = "";
  for (const c of x) {
    s +=
      c >= 0x20 && c < 0x7f && c !== 0x5c
        ? String.fromCharCode(c)
        : `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return s;
}

/** Proto JSON with the bytes fields (key, rangeEnd, value) decoded from base64 for reading. */
export function readable(json: JsonValue): JsonValue {
  if (Array.isArray(json)) return json.map(readable);
  if (json !== null && typeof json === "object") {
    const out: { [k: string]: JsonValue } = {};
    for (const [k, v] of Object.entries(json)) {
      out[k] =
        BYTES_FIELDS.has(k) && typeof v === "string"
          ? escapeBytes(Buffer.from(v, "base64"))
          : readable(v);
    }
    return out;
  }
  return json;
}

export function describeOutcome(o: Outcome): string {
  if (!o.ok) return `error ${o.code}: ${JSON.stringify(o.message)}`;
  return JSON.stringify(readable(o.json), null, 2);
}

export function describeOp(op: Op): string {
  return `${op.kind} ${JSON.stringify(readable(requestJson(op)), null, 2)}`;
}

/** A short label for coverage statistics. */
export function outcomeLabel(op: Op, o: Outcome): string {
  if (!o.ok) return `${op.kind} ✗ ${o.code} ${o.message}`;
  if (op.kind === "txn") {
    const succeeded = (o.json as { succeeded?: boolean }).succeeded === true;
    return `txn ✓ ${succeeded ? "then" : "else"}`;
  }
  return `${op.kind} ✓`;
}

export interface Servers {
  etcd: KvClient;
  conclave: KvClient;
}

export interface Mismatch {
  step: number;
  op: Op;
  etcd: Outcome;
  conclave: Outcome;
}

export interface RunResult {
  mismatch?: Mismatch;
  /** Every request sent, in order (up to and including the mismatch). */
  ops: Op[];
  stats: Map<string, number>;
  state: GenState;
}

/** Generates `steps` requests from `seed` and sends each to both; stops at the first mismatch. */
export async function runSeed(
  servers: Servers,
  seed: number,
  steps: number,
  bigWeight = 1,
): Promise<RunResult> {
  const state: GenState = { rev: 1n, compactRev: -1n };
  const gen = new Generator(new Rng(seed), state, bigWeight);
  const ops: Op[] = [];
  const stats = new Map<string, number>();
  for (let step = 0; step < steps; step++) {
    const op = gen.next();
    ops.push(op);
    const res = await replayOne(servers, op, state);
    const label = outcomeLabel(op, res.etcd);
    stats.set(label, (stats.get(label) ?? 0) + 1);
    if (res.mismatch) return { mismatch: { step, op, ...res }, ops, stats, state };
  }
  return { ops, stats, state };
}

/** Sends one op to both servers (etcd first), updates the generator state from etcd's answer. */
export async function replayOne(
  servers: Servers,
  op: Op,
  state: GenState,
): Promise<{ etcd: Outcome; conclave: Outcome; mismatch: boolean }> {
  const etcd = await send(servers.etcd, op);
  const conclave = await send(servers.conclave, op);
  if (etcd.ok) {
    if (etcd.revision > state.rev) state.rev = etcd.revision;
    if (op.kind === "compact") state.compactRev = op.req.revision;
  }
  return { etcd, conclave, mismatch: !sameOutcome(etcd, conclave) };
}

/** Full ranges ("\0".."\0") at every revision from the compaction point to now, plus the current one. */
export function historyOps(state: GenState): Op[] {
  const all = () => create(RangeRequestSchema, { key: b("\x00"), rangeEnd: b("\x00") });
  const ops: Op[] = [];
  for (let rev = state.compactRev > 1n ? state.compactRev : 1n; rev <= state.rev; rev++) {
    const req = all();
    req.revision = rev;
    ops.push({ kind: "range", req });
  }
  ops.push({ kind: "range", req: all() });
  return ops;
}

function clip(s: string): string {
  return s.length > 4000
    ? `${s.slice(0, 200)}…(${s.length} characters; full text in the file below)`
    : s;
}

export function formatMismatch(
  seed: number,
  m: Mismatch,
  steps: number,
  reproFile?: string,
): string {
  return [
    `Conclave and etcd 3.4.23 disagree (seed ${seed}, step ${m.step} of ${steps}; rerun with DIFF_SEED=${seed})`,
    `request (key/rangeEnd/value as text, other bytes as \\xNN): ${describeOp(m.op)}`,
    `request (proto JSON): ${clip(JSON.stringify(requestJson(m.op)))}`,
    `etcd:     ${describeOutcome(m.etcd)}`,
    `conclave: ${describeOutcome(m.conclave)}`,
    ...(reproFile ? [`all requests of this run so far (proto JSON): ${reproFile}`] : []),
  ].join("\n");
}
