import {
  type DeleteRangeRequest,
  errKeyNotFound,
  type PutRequest,
  type RangeRequest,
  type RequestOp,
  type TxnRequest,
} from "@conclave/core";
import {
  errDuplicateKey,
  errEmptyKey,
  errLeaseProvided,
  errTooManyOps,
  errValueProvided,
} from "./errors.js";

/** Request checks etcd's gRPC layer makes before a request reaches the store. */

export function checkRangeRequest(r: RangeRequest): void {
  if (r.key.length === 0) throw errEmptyKey;
}

export function checkPutRequest(r: PutRequest): void {
  if (r.key.length === 0) throw errEmptyKey;
  if (r.ignoreValue && r.value.length !== 0) throw errValueProvided;
  if (r.ignoreLease && r.lease !== 0n) throw errLeaseProvided;
}

export function checkDeleteRequest(r: DeleteRangeRequest): void {
  if (r.key.length === 0) throw errEmptyKey;
}

/**
 * The deepest txn nesting Conclave evaluates. etcd's only bound is the op
 * budget below: each level holding a nested txn spends at least one op, so
 * with max-txn-ops 128 a txn nests at most 129 levels (128 when the
 * innermost holds an op) — checked against etcd 3.4.23. This cap only
 * matters with `--max-txn-ops` above 511, and keeps every recursive step
 * (decoding, the auth check, the applier, encoding the response) far from
 * the JS stack limit whatever the flag says. Beyond it: errTooManyOps.
 */
export const maxTxnNesting = 512;

/**
 * The message nesting the decoders must allow (protobuf-es `recursionLimit`,
 * default 100, i.e. 49 txn levels): a TxnRequest and a RequestOp per txn
 * level, then the innermost op's request; a TxnResponse adds a KeyValue
 * under its RangeResponse. Anything deeper is no txn Conclave would run: a
 * KV/Txn request the decoders refuse for its depth is cut to what this
 * validation reads (deep-txn.ts), which then refuses it as etcd does.
 */
export const maxMessageDepth = 2 * maxTxnNesting + 3;

/** One step of {@link checkTxnRequest}'s walk: a txn, or an op of one. */
type Pending =
  | { txn: TxnRequest; budget: number; depth: number }
  | { op: RequestOp; budget: number; depth: number };

/**
 * etcd's checkTxnRequest: the largest of compare/success/failure counts must
 * not exceed maxTxnOps; nested txns get what remains of the budget. Walks
 * the tree depth-first in etcd's order (compares, then success ops, then
 * failure ops, each nested txn before the next op), so the first error is
 * etcd's, with an explicit stack: no request shape can exhaust the JS stack.
 */
export function checkTxnRequest(r: TxnRequest, maxTxnOps: number): void {
  const stack: Pending[] = [{ txn: r, budget: maxTxnOps, depth: 1 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if ("txn" in item) {
      const { txn: t, budget, depth } = item;
      const opc = Math.max(t.compare.length, t.success.length, t.failure.length);
      if (opc > budget || depth > maxTxnNesting) throw errTooManyOps;
      for (const c of t.compare) if (c.key.length === 0) throw errEmptyKey;
      const ops = [...t.success, ...t.failure];
      for (let i = ops.length - 1; i >= 0; i--) {
        stack.push({ op: ops[i] as RequestOp, budget: budget - opc, depth });
      }
      continue;
    }
    const r = item.op.request;
    switch (r.case) {
      case "requestRange":
        checkRangeRequest(r.value);
        break;
      case "requestPut":
        checkPutRequest(r.value);
        break;
      case "requestDeleteRange":
        checkDeleteRequest(r.value);
        break;
      case "requestTxn":
        stack.push({ txn: r.value, budget: item.budget, depth: item.depth + 1 });
        break;
      default:
        // An empty RequestOp: etcd answers "key not found" (InvalidArgument).
        throw errKeyNotFound;
    }
  }
}

/** A half-open interval of keys as binary strings; `end` null is a single point. */
interface Interval {
  begin: string;
  /** Exclusive end, or null for the point `begin`. */
  end: string | null;
}

const latin1 = (u: Uint8Array) =>
  Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString("latin1");

/**
 * Does a delete interval contain point `k`? etcd builds intervals from the raw
 * range_end, so a delete with range_end "\0" is the empty interval [key, "\0")
 * and never conflicts — a quirk clients can observe, kept on purpose.
 */
function intersectsPoint(iv: Interval, k: string): boolean {
  if (iv.end === null) return iv.begin === k;
  return iv.begin <= k && k < iv.end;
}

/**
 * etcd's checkIntervals: within one txn branch, no key may be put twice, and
 * no put may fall inside a delete range of the same or an enclosing level;
 * a key put in both branches of a nested txn is fine (only one runs).
 * Returns the keys put at or below this level and the delete intervals.
 */
function checkIntervals(reqs: RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const op of reqs) {
    if (op.request.case !== "requestDeleteRange") continue;
    const d = op.request.value;
    dels.push({
      begin: latin1(d.key),
      end: d.rangeEnd.length !== 0 ? latin1(d.rangeEnd) : null,
    });
  }
  const inDels = (k: string) => dels.some((iv) => intersectsPoint(iv, k));
  const puts = new Set<string>();
  for (const op of reqs) {
    if (op.request.case !== "requestTxn") continue;
    const t = op.request.value;
    const thenSide = checkIntervals(t.success);
    const elseSide = checkIntervals(t.failure);
    for (const k of thenSide.puts) {
      if (puts.has(k) || inDels(k)) throw errDuplicateKey;
      puts.add(k);
    }
    for (const k of elseSide.puts) {
      if (puts.has(k) && !thenSide.puts.has(k)) throw errDuplicateKey;
      if (inDels(k)) throw errDuplicateKey;
      puts.add(k);
    }
    dels.push(...thenSide.dels, ...elseSide.dels);
  }
  for (const op of reqs) {
    if (op.request.case !== "requestPut") continue;
    const k = latin1(op.request.value.key);
    if (puts.has(k) || inDels(k)) throw errDuplicateKey;
    puts.add(k);
  }
  return { puts, dels };
}

/** Everything etcd's kvServer.Txn checks before applying, in its order. */
export function validateTxn(r: TxnRequest, maxTxnOps: number): void {
  checkTxnRequest(r, maxTxnOps);
  checkIntervals(r.success);
  checkIntervals(r.failure);
}
