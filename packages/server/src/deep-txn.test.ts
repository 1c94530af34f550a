import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary, fromJson, type JsonValue, toBinary } from "@bufbuild/protobuf";
import { errKeyNotFound } from "@conclave/core";
import {
  CompareSchema,
  RangeRequestSchema,
  type RequestOp,
  RequestOpSchema,
  type TxnRequest,
  TxnRequestSchema,
} from "@conclave/proto";
import { deepTxnBytes } from "@conclave/testkit";
import {
  cutDeepTxn,
  cutDeepTxnBinary,
  cutDeepTxnJson,
  cutDeepTxnJsonText,
  fromBinaryRequest,
  jsonNestsDeeper,
  txnNestsDeeper,
} from "./deep-txn.js";
import { errEmptyKey, errTooManyOps } from "./errors.js";
import { maxMessageDepth, maxTxnNesting, validateTxn } from "./validation.js";

const enc = new TextEncoder();
const readOptions = { recursionLimit: maxMessageDepth };

const putOp = (key: string): RequestOp =>
  create(RequestOpSchema, {
    request: { case: "requestPut", value: { key: enc.encode(key), value: enc.encode("v") } },
  });
const compare = (key: string) => create(CompareSchema, { key: enc.encode(key) });

/**
 * A txn `levels` deep built with loops: each level holds only the next, the
 * innermost `inner`; `at(level, txn)` may add to any level.
 */
function nested(
  levels: number,
  inner: RequestOp[] = [],
  at: (level: number, t: TxnRequest) => void = () => {},
): TxnRequest {
  let t = create(TxnRequestSchema, { success: inner });
  at(levels, t);
  for (let level = levels - 1; level >= 1; level--) {
    t = create(TxnRequestSchema, { success: [{ request: { case: "requestTxn", value: t } }] });
    at(level, t);
  }
  return t;
}

/** How many levels a txn nests (the outermost is 1), following each level's first op. */
function levelsOf(t: TxnRequest): number {
  let levels = 1;
  for (let cur = t; ; levels++) {
    const op = [...cur.success, ...cur.failure].find((o) => o.request.case === "requestTxn");
    if (op?.request.case !== "requestTxn") return levels;
    cur = op.request.value;
  }
}

const refusal = (t: TxnRequest, maxTxnOps: number): Error | undefined => {
  try {
    validateTxn(t, maxTxnOps);
    return undefined;
  } catch (e) {
    return e as Error;
  }
};

describe("txnNestsDeeper", () => {
  it("finds the first level past the bound, in success or failure ops", () => {
    const at512 = toBinary(TxnRequestSchema, nested(maxTxnNesting, [putOp("k")]));
    const at513 = toBinary(TxnRequestSchema, nested(maxTxnNesting + 1));
    assert.equal(txnNestsDeeper(at512, maxTxnNesting), false);
    assert.equal(txnNestsDeeper(at513, maxTxnNesting), true);
    const inFailure = nested(maxTxnNesting + 1, [], (level, t) => {
      if (level === 7) [t.success, t.failure] = [t.failure, t.success];
    });
    assert.equal(txnNestsDeeper(toBinary(TxnRequestSchema, inFailure), maxTxnNesting), true);
  });

  it("reads 100,000 levels without recursion", () => {
    assert.equal(txnNestsDeeper(deepTxnBytes(100_000), maxTxnNesting), true);
  });

  it("is false for bytes it cannot read, and for short ones without reading them", () => {
    const bytes = deepTxnBytes(600);
    assert.equal(txnNestsDeeper(bytes.subarray(0, bytes.length - 1), maxTxnNesting), false);
    assert.equal(txnNestsDeeper(Uint8Array.of(0x12, 0x05, 0x22), 1), false);
    assert.equal(txnNestsDeeper(new Uint8Array(4 * maxTxnNesting - 1), maxTxnNesting), false);
  });
});

describe("cutDeepTxnBinary", () => {
  it("leaves txns validation may run alone", () => {
    assert.equal(cutDeepTxnBinary(toBinary(TxnRequestSchema, nested(maxTxnNesting))), undefined);
    assert.equal(cutDeepTxnBinary(toBinary(TxnRequestSchema, nested(3, [putOp("k")]))), undefined);
  });

  for (const levels of [maxTxnNesting + 1, maxTxnNesting + 2, 600, 100_000]) {
    it(`cuts ${levels} levels: level ${maxTxnNesting + 1} emptied, which validation refuses`, () => {
      const cut = cutDeepTxnBinary(deepTxnBytes(levels));
      assert.ok(cut !== undefined);
      const t = fromBinary(TxnRequestSchema, cut, readOptions);
      assert.equal(levelsOf(t), maxTxnNesting + 1);
      assert.equal(refusal(t, 128), errTooManyOps);
      assert.equal(refusal(t, 1_000_000), errTooManyOps);
    });
  }

  it("keeps compares and ops as sent, drops unknown fields of txns and ops", () => {
    const t = nested(600, [putOp("deep")], (level, txn) => {
      if (level <= 2) {
        txn.compare.push(compare(`c${level}`));
        txn.failure.push(putOp(`f${level}`));
      }
    });
    const bytes = toBinary(TxnRequestSchema, t);
    // An unknown varint field and an unknown group 100,000 deep, both on the outermost txn.
    const group = new Uint8Array(200_000);
    group.fill(0x7b, 0, 100_000); // field 15, start group
    group.fill(0x7c, 100_000); // field 15, end group
    const withUnknown = Buffer.concat([Uint8Array.of(0xa8, 0x01, 0x07), group, bytes]);
    assert.throws(() => fromBinary(TxnRequestSchema, withUnknown, readOptions));
    const cut = cutDeepTxnBinary(withUnknown);
    assert.ok(cut !== undefined);
    const got = fromBinary(TxnRequestSchema, cut, readOptions);
    assert.deepEqual(got.compare, t.compare);
    assert.deepEqual(got.failure, t.failure);
    assert.equal(levelsOf(got), maxTxnNesting + 1);
  });
});

describe("etcd's order survives the cut", () => {
  // etcd walks compares, then success ops, then failure ops, each nested txn
  // before the next op: what it meets before the too-deep level is answered first.
  const cases: Array<{ name: string; at: (level: number, t: TxnRequest) => void; err: Error }> = [
    {
      name: "an empty compare key at level 3",
      at: (level, t) => {
        if (level === 3) t.compare.push(compare(""));
      },
      err: errEmptyKey,
    },
    {
      name: "an empty RequestOp before the nested op at level 5",
      at: (level, t) => {
        if (level === 5) t.success.unshift(create(RequestOpSchema));
      },
      err: errKeyNotFound,
    },
    {
      name: "an empty key after the nested op at level 1",
      at: (level, t) => {
        if (level === 1) t.success.push(putOp(""));
      },
      err: errTooManyOps,
    },
    {
      name: "an empty range key at level 200, past the op budget",
      at: (level, t) => {
        if (level === 200) {
          t.success.unshift(
            create(RequestOpSchema, {
              request: { case: "requestRange", value: create(RangeRequestSchema) },
            }),
          );
        }
      },
      err: errTooManyOps,
    },
  ];
  for (const { name, at, err } of cases) {
    it(`${name}: ${err.message}`, () => {
      const bytes = toBinary(TxnRequestSchema, nested(700, [], at));
      assert.throws(() => fromBinary(TxnRequestSchema, bytes, readOptions));
      const t = fromBinaryRequest(TxnRequestSchema, bytes, readOptions);
      assert.equal(refusal(t, 128), err);
    });
  }
});

describe("fromBinaryRequest", () => {
  it("decodes what the decoder reads, and only cuts KV/Txn requests", () => {
    const bytes = toBinary(TxnRequestSchema, nested(5, [putOp("k")]));
    assert.deepEqual(
      fromBinaryRequest(TxnRequestSchema, bytes, readOptions),
      fromBinary(TxnRequestSchema, bytes, readOptions),
    );
    const deep = deepTxnBytes(100_000);
    assert.equal(levelsOf(fromBinaryRequest(TxnRequestSchema, deep, readOptions)), 513);
    assert.throws(() => fromBinaryRequest(RangeRequestSchema, Uint8Array.of(0x0a, 0x05)));
    assert.throws(() => fromBinaryRequest(TxnRequestSchema, deep.subarray(0, 9999), readOptions));
  });
});

describe("JSON", () => {
  /** nested(levels) as proto3 JSON, built with a loop. */
  const deepJson = (levels: number, name = "requestTxn"): JsonValue => {
    let t: JsonValue = {};
    for (let i = 1; i < levels; i++) t = { success: [{ [name]: t }] };
    return t;
  };

  for (const name of ["requestTxn", "request_txn"]) {
    it(`cuts ${name} 100,000 levels deep to ${maxTxnNesting + 1}`, () => {
      const json = deepJson(100_000, name);
      assert.equal(cutDeepTxnJson(json), true);
      const t = fromJson(TxnRequestSchema, json, { recursionLimit: maxMessageDepth });
      assert.equal(levelsOf(t), maxTxnNesting + 1);
      assert.equal(refusal(t, 128), errTooManyOps);
    });
  }

  it("leaves shallower txns alone", () => {
    assert.equal(cutDeepTxnJson(deepJson(maxTxnNesting)), false);
    assert.equal(cutDeepTxnJsonText(JSON.stringify(deepJson(maxTxnNesting))), undefined);
  });

  it("cuts the text of 100,000 levels (JSON.parse and stringify cope)", () => {
    const text = `${'{"success":[{"requestTxn":'.repeat(99_999)}{}${"}]}".repeat(99_999)}`;
    const cut = cutDeepTxnJsonText(text);
    assert.ok(cut !== undefined);
    const t = fromJson(TxnRequestSchema, JSON.parse(cut), { recursionLimit: maxMessageDepth });
    assert.equal(levelsOf(t), maxTxnNesting + 1);
    assert.deepEqual(cutDeepTxn(enc.encode(text), "json"), enc.encode(cut));
  });

  it("jsonNestsDeeper counts brackets outside strings", () => {
    assert.equal(jsonNestsDeeper('{"a":[{"b":"[[[[\\"[["}]}', 3), false);
    assert.equal(jsonNestsDeeper('{"a":[{"b":[]}]}', 3), true);
  });
});
