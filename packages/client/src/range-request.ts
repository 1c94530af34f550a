import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  type DeleteRangeRequestSchema,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type RangeRequestSchema,
} from "@conclave/proto";
import { prefixEnd } from "@conclave/wire";
import { type BytesInput, toBytes } from "./to-bytes.js";

/**
 * Which keys an operation covers, starting at its key. At most one of these
 * may be set; none means the one key.
 */
export interface KeySpan {
  /** Every key that starts with the key (an empty key with prefix: every key). */
  prefix?: boolean;
  /** Every key from the key up to this one (exclusive). */
  rangeEnd?: BytesInput;
  /** Every key from the key on (etcd's `--from-key`, range_end "\0"). */
  fromKey?: boolean;
}

/** Options of a read (etcd's RangeRequest). */
export interface RangeOptions extends KeySpan {
  /** Most keys to return; 0 (default) returns all. `more` says whether keys were left out. */
  limit?: number | bigint;
  /** Read at this past revision; 0 (default) reads the latest. */
  revision?: number | bigint;
  /** Leave values out. */
  keysOnly?: boolean;
  /** Return only the count. */
  countOnly?: boolean;
  /** Order of the results. Default: ascending by key. */
  sort?: { target?: "key" | "version" | "create" | "mod" | "value"; order?: "ascend" | "descend" };
  /** Serve from the local member without a consensus round (Conclave has one member: same answer). */
  serializable?: boolean;
}

const sortTargets = {
  key: RangeRequest_SortTarget.KEY,
  version: RangeRequest_SortTarget.VERSION,
  create: RangeRequest_SortTarget.CREATE,
  mod: RangeRequest_SortTarget.MOD,
  value: RangeRequest_SortTarget.VALUE,
} as const;

/** The key and range_end fields for a key and a span, by etcd's conventions. */
export function toKeyRange(
  key: BytesInput,
  span: KeySpan = {},
): { key: Uint8Array; rangeEnd: Uint8Array } {
  const k = toBytes(key);
  const set = [span.prefix === true, span.rangeEnd !== undefined, span.fromKey === true];
  if (set.filter(Boolean).length > 1) {
    throw new TypeError("conclave: use only one of prefix, rangeEnd and fromKey");
  }
  if (span.prefix) {
    // etcd's WithPrefix: an empty key means every key, "\0" to "\0".
    if (k.length === 0) return { key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) };
    return { key: k, rangeEnd: prefixEnd(k) };
  }
  if (span.fromKey) {
    return { key: k.length === 0 ? new Uint8Array([0]) : k, rangeEnd: new Uint8Array([0]) };
  }
  return {
    key: k,
    rangeEnd: span.rangeEnd === undefined ? new Uint8Array(0) : toBytes(span.rangeEnd),
  };
}

export function toRangeRequest(
  key: BytesInput,
  options: RangeOptions = {},
): MessageInitShape<typeof RangeRequestSchema> {
  return {
    ...toKeyRange(key, options),
    limit: BigInt(options.limit ?? 0),
    revision: BigInt(options.revision ?? 0),
    keysOnly: options.keysOnly ?? false,
    countOnly: options.countOnly ?? false,
    serializable: options.serializable ?? false,
    ...(options.sort !== undefined && {
      sortTarget: sortTargets[options.sort.target ?? "key"],
      sortOrder:
        options.sort.order === "descend"
          ? RangeRequest_SortOrder.DESCEND
          : RangeRequest_SortOrder.ASCEND,
    }),
  };
}

/** Options of a delete (etcd's DeleteRangeRequest). */
export interface DeleteOptions extends KeySpan {
  /** Return the deleted key-values. */
  prevKv?: boolean;
}

export function toDeleteRequest(
  key: BytesInput,
  options: DeleteOptions = {},
): MessageInitShape<typeof DeleteRangeRequestSchema> {
  return { ...toKeyRange(key, options), prevKv: options.prevKv ?? false };
}
