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

function checkRequestOp(op: RequestOp, maxTxnOps: number): void {
  const r = op.request;
  switch (r.case) {
    case "requestRange":
      checkRangeRequest(r.value);
      return;
    case "requestPut":
      checkPutRequest(r.value);
      return;
    case "requestDeleteRange":
      checkDeleteRequest(r.value);
      return;
    case "requestTxn":
      checkTxnRequest(r.value, maxTxnOps);
      return;
    default:
      // An empty RequestOp: etcd answers "key not found" (InvalidArgument).
      throw errKeyNotFound;
  }
}

/**
 * etcd's checkTxnRequest: the largest of compare/success/failure counts must
 * not exceed maxTxnOps; nested txns get what remains of the budget.
 */
export function checkTxnRequest(r: TxnRequest, maxTxnOps: number): void {
  const opc = Math.max(r.compare.length, r.success.length, r.failure.length);
  if (opc > maxTxnOps) throw errTooManyOps;
  for (const c of r.compare) if (c.key.length === 0) throw errEmptyKey;
  for (const op of r.success) checkRequestOp(op, maxTxnOps - opc);
  for (const op of r.failure) checkRequestOp(op, maxTxnOps - opc);
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
