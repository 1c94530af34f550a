import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  type CompareSchema,
  type RequestOpSchema,
  type TxnRequestSchema,
} from "@conclave/proto";
import { type LeaseInput, leaseIdOf } from "./lease.js";
import {
  type DeleteOptions,
  type KeySpan,
  type RangeOptions,
  toDeleteRequest,
  toKeyRange,
  toRangeRequest,
} from "./range-request.js";
import { type BytesInput, toBytes } from "./to-bytes.js";

/** How a compare relates the key's current field to the given one. */
export type CompareOp = "=" | "!=" | "<" | ">";

/**
 * One condition of a transaction, on a key (or every key of a span: all must
 * hold). A key that does not exist has version, create and mod revision 0,
 * and never equals a value.
 */
export type Compare = KeySpan & { key: BytesInput; op: CompareOp } & (
    | { target: "value"; value: BytesInput }
    | { target: "version" | "createRevision" | "modRevision" | "lease"; value: bigint | number }
  );

/** Options of a put (etcd's PutRequest). */
export interface PutOptions {
  /** Attach the key to a lease: it is deleted when the lease ends. Default: none. */
  lease?: LeaseInput;
  /** Return the previous key-value. */
  prevKv?: boolean;
  /** Keep the current value (only update the lease); `value` must be empty. */
  ignoreValue?: boolean;
  /** Keep the current lease; `lease` must not be given. */
  ignoreLease?: boolean;
}

/** One operation of a transaction branch. */
export type TxnOp =
  | { get: RangeOptions & { key: BytesInput } }
  | { put: PutOptions & { key: BytesInput; value: BytesInput } }
  | { delete: DeleteOptions & { key: BytesInput } }
  | { txn: TxnSpec };

/** A transaction: if every compare holds, `success` runs, otherwise `failure`; atomically, in one revision. */
export interface TxnSpec {
  compare?: Compare[];
  success?: TxnOp[];
  failure?: TxnOp[];
}

const ops: Record<CompareOp, Compare_CompareResult> = {
  "=": Compare_CompareResult.EQUAL,
  "!=": Compare_CompareResult.NOT_EQUAL,
  "<": Compare_CompareResult.LESS,
  ">": Compare_CompareResult.GREATER,
};

function toCompare(c: Compare): MessageInitShape<typeof CompareSchema> {
  const base = { ...toKeyRange(c.key, c), result: ops[c.op] };
  switch (c.target) {
    case "value":
      return {
        ...base,
        target: Compare_CompareTarget.VALUE,
        targetUnion: { case: "value", value: toBytes(c.value) },
      };
    case "version":
      return {
        ...base,
        target: Compare_CompareTarget.VERSION,
        targetUnion: { case: "version", value: BigInt(c.value) },
      };
    case "createRevision":
      return {
        ...base,
        target: Compare_CompareTarget.CREATE,
        targetUnion: { case: "createRevision", value: BigInt(c.value) },
      };
    case "modRevision":
      return {
        ...base,
        target: Compare_CompareTarget.MOD,
        targetUnion: { case: "modRevision", value: BigInt(c.value) },
      };
    case "lease":
      return {
        ...base,
        target: Compare_CompareTarget.LEASE,
        targetUnion: { case: "lease", value: BigInt(c.value) },
      };
  }
}

export function toPutRequest(key: BytesInput, value: BytesInput, options: PutOptions = {}) {
  return {
    key: toBytes(key),
    value: toBytes(value),
    lease: leaseIdOf(options.lease),
    prevKv: options.prevKv ?? false,
    ignoreValue: options.ignoreValue ?? false,
    ignoreLease: options.ignoreLease ?? false,
  };
}

function toRequestOp(op: TxnOp): MessageInitShape<typeof RequestOpSchema> {
  if ("get" in op) {
    return { request: { case: "requestRange", value: toRangeRequest(op.get.key, op.get) } };
  }
  if ("put" in op) {
    return {
      request: { case: "requestPut", value: toPutRequest(op.put.key, op.put.value, op.put) },
    };
  }
  if ("delete" in op) {
    return {
      request: { case: "requestDeleteRange", value: toDeleteRequest(op.delete.key, op.delete) },
    };
  }
  return { request: { case: "requestTxn", value: toTxnRequest(op.txn) } };
}

/** etcd's TxnRequest for a transaction spec. */
export function toTxnRequest(spec: TxnSpec): MessageInitShape<typeof TxnRequestSchema> {
  return {
    compare: (spec.compare ?? []).map(toCompare),
    success: (spec.success ?? []).map(toRequestOp),
    failure: (spec.failure ?? []).map(toRequestOp),
  };
}
