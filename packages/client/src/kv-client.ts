import type { KeyValue, ResponseOp } from "@conclave/proto";
import type { ConclaveServices } from "./conclave-services.js";
import {
  type DeleteOptions,
  type RangeOptions,
  toDeleteRequest,
  toRangeRequest,
} from "./range-request.js";
import type { BytesInput } from "./to-bytes.js";
import { type PutOptions, type TxnSpec, toPutRequest, toTxnRequest } from "./txn-request.js";

export interface RangeResult {
  /** The store revision the read saw. */
  revision: bigint;
  kvs: KeyValue[];
  /** Keys in the range (before `limit`). */
  count: bigint;
  /** Whether `limit` left keys out. */
  more: boolean;
}

export interface PutResult {
  /** The revision of the write. */
  revision: bigint;
  /** With `prevKv`: the key-value before the put, if the key existed. */
  prevKv?: KeyValue | undefined;
}

export interface DeleteResult {
  /** The revision of the delete (the current one when nothing was deleted). */
  revision: bigint;
  deleted: bigint;
  /** With `prevKv`: the deleted key-values. */
  prevKvs: KeyValue[];
}

export interface TxnResult {
  /** Whether every compare held (so `success` ran). */
  succeeded: boolean;
  /** The revision after the transaction (a new one only if it wrote). */
  revision: bigint;
  /** One answer per operation of the branch that ran, in order. */
  responses: ResponseOp[];
}

/**
 * Key-value operations with string or byte keys. Strings are UTF-8; results
 * are etcd's messages (keys and values as bytes — `toText` decodes them).
 */
export interface KvClient {
  /**
   * One key, or undefined when it does not exist.
   *
   * @example
   * ```ts
   * const mode = toText((await client.get("config/mode"))?.value);
   * ```
   */
  get(
    key: BytesInput,
    options?: Pick<RangeOptions, "revision" | "serializable">,
  ): Promise<KeyValue | undefined>;
  /**
   * A key or range (`prefix`, `rangeEnd`, `fromKey`) with etcd's read options.
   *
   * @example
   * ```ts
   * const { kvs, count } = await client.range("config/", { prefix: true, limit: 10 });
   * ```
   */
  range(key: BytesInput, options?: RangeOptions): Promise<RangeResult>;
  /**
   * Writes a key; `lease` attaches it to a lease, `prevKv` returns the old value.
   *
   * @example
   * ```ts
   * const { revision } = await client.put("config/mode", "fast", { lease });
   * ```
   */
  put(key: BytesInput, value: BytesInput, options?: PutOptions): Promise<PutResult>;
  /**
   * Deletes a key or range.
   *
   * @example
   * ```ts
   * const { deleted } = await client.delete("config/", { prefix: true });
   * ```
   */
  delete(key: BytesInput, options?: DeleteOptions): Promise<DeleteResult>;
  /**
   * An atomic compare-and-swap transaction.
   *
   * @example
   * ```ts
   * const { succeeded } = await client.txn({
   *   compare: [{ key: "config/mode", target: "value", op: "=", value: "fast" }],
   *   success: [{ put: { key: "config/mode", value: "safe" } }],
   * });
   * ```
   */
  txn(spec: TxnSpec): Promise<TxnResult>;
  /**
   * Drops history before `revision` (reads and watches below it fail or resync).
   *
   * @example
   * ```ts
   * await client.compact((await client.put("k", "v")).revision);
   * ```
   */
  compact(revision: bigint | number, options?: { physical?: boolean }): Promise<void>;
}

/**
 * The key-value half of {@link ConclaveClient}, over typed services.
 *
 * @example
 * ```ts
 * const kv = createKvClient(createConclaveServices(transport));
 * await kv.put("greeting", "hello");
 * ```
 */
export function createKvClient(services: ConclaveServices): KvClient {
  const kv = services.kv;
  const range = async (key: BytesInput, options?: RangeOptions): Promise<RangeResult> => {
    const r = await kv.range(toRangeRequest(key, options));
    return { revision: r.header?.revision ?? 0n, kvs: r.kvs, count: r.count, more: r.more };
  };
  return {
    async get(key, options = {}) {
      return (await range(key, options)).kvs[0];
    },
    range,
    async put(key, value, options = {}) {
      const r = await kv.put(toPutRequest(key, value, options));
      return { revision: r.header?.revision ?? 0n, prevKv: r.prevKv };
    },
    async delete(key, options = {}) {
      const r = await kv.deleteRange(toDeleteRequest(key, options));
      return { revision: r.header?.revision ?? 0n, deleted: r.deleted, prevKvs: r.prevKvs };
    },
    async txn(spec) {
      const r = await kv.txn(toTxnRequest(spec));
      return { succeeded: r.succeeded, revision: r.header?.revision ?? 0n, responses: r.responses };
    },
    async compact(revision, options = {}) {
      await kv.compact({ revision: BigInt(revision), physical: options.physical ?? false });
    },
  };
}
