import type { Compare, DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest } from "./types.js";

/**
 * Request builders with etcd's defaults (every field zero), for in-process
 * clients and tests: `rangeRequest(key, { rangeEnd, limit: 1n })`.
 */
const none = new Uint8Array(0);

export function rangeRequest(key: Uint8Array, over: Partial<RangeRequest> = {}): RangeRequest {
  return {
    key,
    rangeEnd: none,
    limit: 0n,
    revision: 0n,
    sortOrder: 0,
    sortTarget: 0,
    serializable: false,
    keysOnly: false,
    countOnly: false,
    minModRevision: 0n,
    maxModRevision: 0n,
    minCreateRevision: 0n,
    maxCreateRevision: 0n,
    ...over,
  };
}

export function putRequest(
  key: Uint8Array,
  value: Uint8Array,
  over: Partial<PutRequest> = {},
): PutRequest {
  return { key, value, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false, ...over };
}

export function deleteRangeRequest(
  key: Uint8Array,
  over: Partial<DeleteRangeRequest> = {},
): DeleteRangeRequest {
  return { key, rangeEnd: none, prevKv: false, ...over };
}

export function txnRequest(over: Partial<TxnRequest> = {}): TxnRequest {
  return { compare: [], success: [], failure: [], ...over };
}

/** A compare with etcd's defaults; pass result, target and targetUnion. */
export function compare(key: Uint8Array, over: Partial<Compare>): Compare {
  return { result: 0, target: 0, key, targetUnion: { case: undefined }, rangeEnd: none, ...over };
}

/** etcd's GetPrefixRangeEnd, shared with the client and dashboard. */
export { prefixEnd } from "@conclave/wire";

/**
 * A txn and every txn nested in its branches (both of them, whichever would
 * run), with an explicit stack: the walk the auth check and the quota cost
 * share, so no request shape can exhaust the JS stack.
 */
export function* nestedTxns(txn: TxnRequest): Generator<TxnRequest> {
  const stack: TxnRequest[] = [txn];
  for (let t = stack.pop(); t !== undefined; t = stack.pop()) {
    yield t;
    for (const op of [...t.success, ...t.failure]) {
      if (op.request.case === "requestTxn") stack.push(op.request.value);
    }
  }
}
