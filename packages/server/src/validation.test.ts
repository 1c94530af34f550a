import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { errKeyNotFound, type RequestOp, type TxnRequest } from "@conclave/core";
import { errDuplicateKey, errEmptyKey, errTooManyOps } from "./errors.js";
import { validateTxn } from "./validation.js";

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
  ];
  for (const c of cases) {
    it(c.name, () => {
      const run = () => validateTxn(c.req, c.max ?? 128);
      if (c.err === undefined) assert.doesNotThrow(run);
      else assert.throws(run, (e) => e === c.err);
    });
  }
});
