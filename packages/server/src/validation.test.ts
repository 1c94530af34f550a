import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { errKeyNotFound, type RequestOp, type TxnRequest } from "@conclave/core";
import { errDuplicateKey, errEmptyKey, errTooManyOps } from "./errors.js";
import { maxTxnNesting, validateTxn } from "./validation.js";

const enc = new TextEncoder();
const none = new Uint8Array(0);
const put = (k: string): RequestOp => ({
  request: {
    case: "requestPut",
    value: {
      key: enc.encode(k),
      value: none,
      lease: 0n,
      prevKv: false,
      ignoreValue: false,
      ignoreLease: false,
    },
  },
});
const del = (k: string, end = ""): RequestOp => ({
  request: {
    case: "requestDeleteRange",
    value: {
      key: enc.encode(k),
      rangeEnd: end === "\0" ? new Uint8Array([0]) : enc.encode(end),
      prevKv: false,
    },
  },
});
const txn = (success: RequestOp[], failure: RequestOp[] = []): RequestOp => ({
  request: { case: "requestTxn", value: { compare: [], success, failure } },
});
const t = (success: RequestOp[], failure: RequestOp[] = []): TxnRequest => ({
  compare: [],
  success,
  failure,
});

/** A txn `levels` deep: each level holds only the next; the innermost holds `inner`. */
const nested = (levels: number, inner: RequestOp[] = []): TxnRequest => {
  let cur = t(inner);
  for (let i = 1; i < levels; i++) cur = t([{ request: { case: "requestTxn", value: cur } }]);
  return cur;
};

describe("validateTxn (etcd's checkTxnRequest + checkIntervals)", () => {
  const cases: Array<{ name: string; req: TxnRequest; err?: Error; max?: number }> = [
    { name: "distinct puts", req: t([put("a"), put("b")]) },
    { name: "same key twice", req: t([put("a"), put("a")]), err: errDuplicateKey },
    { name: "same key in then and else branches", req: t([put("a")], [put("a")]) },
    { name: "put inside delete range", req: t([del("a", "c"), put("b")]), err: errDuplicateKey },
    { name: "put at delete range end is fine", req: t([del("a", "c"), put("c")]) },
    { name: "put on deleted point", req: t([put("a"), del("a")]), err: errDuplicateKey },
    { name: "delete twice is fine", req: t([del("a"), del("a")]) },
    {
      name: "delete with range_end \\0 never conflicts (etcd quirk)",
      req: t([del("a", "\0"), put("b")]),
    },
    {
      name: "nested put vs outer delete",
      req: t([del("a", "z"), txn([put("m")])]),
      err: errDuplicateKey,
    },
    {
      name: "outer put vs nested delete",
      req: t([txn([del("m")]), put("m")]),
      err: errDuplicateKey,
    },
    { name: "nested then and else same key", req: t([txn([put("x")], [put("x")])]) },
    { name: "nested put vs outer put", req: t([txn([put("x")]), put("x")]), err: errDuplicateKey },
    {
      name: "two nested txns put one key",
      req: t([txn([put("x")]), txn([], [put("x")])]),
      err: errDuplicateKey,
    },
    {
      name: "sibling txn put before sibling delete passes (etcd order)",
      req: t([txn([put("x")]), txn([del("x")])]),
    },
    {
      name: "sibling txn delete before sibling put fails",
      req: t([txn([del("x")]), txn([put("x")])]),
      err: errDuplicateKey,
    },
    { name: "empty request op", req: t([{ request: { case: undefined } }]), err: errKeyNotFound },
    { name: "empty key in put", req: t([put("")]), err: errEmptyKey },
    { name: "too many ops", req: t([put("a"), put("b"), put("c")]), err: errTooManyOps, max: 2 },
    {
      name: "nested ops share the budget",
      req: t([txn([put("a"), put("b")])]),
      err: errTooManyOps,
      max: 2,
    },
    // Nesting: each level holding a txn spends one op of the budget. etcd
    // 3.4.23 (max-txn-ops 128) runs 128 levels ending in a put and 129
    // ending in an empty txn, and refuses one more with "too many operations".
    { name: "128 levels ending in a put", req: nested(128, [put("k")]) },
    { name: "129 levels ending in a put", req: nested(129, [put("k")]), err: errTooManyOps },
    { name: "129 levels ending in an empty txn", req: nested(129) },
    { name: "130 levels ending in an empty txn", req: nested(130), err: errTooManyOps },
    {
      name: "a bad op before a too-deep txn is reported first (etcd's order)",
      req: t([put(""), { request: { case: "requestTxn", value: nested(200) } }]),
      err: errEmptyKey,
    },
    {
      name: "a too-deep txn before a bad op is reported first",
      req: t([{ request: { case: "requestTxn", value: nested(200) } }, put("")]),
      err: errTooManyOps,
    },
    {
      name: "failure ops are checked after success ops",
      req: t([{ request: { case: "requestTxn", value: nested(200) } }], [put("")]),
      err: errTooManyOps,
    },
    {
      name: `${maxTxnNesting} levels with a huge --max-txn-ops`,
      req: nested(maxTxnNesting, [put("k")]),
      max: 1_000_000,
    },
    {
      name: `${maxTxnNesting + 1} levels are refused whatever --max-txn-ops says`,
      req: nested(maxTxnNesting + 1),
      err: errTooManyOps,
      max: 1_000_000,
    },
    {
      name: "a million levels: refused, no stack overflow",
      req: nested(1_000_000),
      err: errTooManyOps,
      max: 2 ** 31 - 1,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const run = () => validateTxn(c.req, c.max ?? 128);
      if (c.err === undefined) assert.doesNotThrow(run);
      else assert.throws(run, (e) => e === c.err);
    });
  }
});
