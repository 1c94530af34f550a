import type { PutRequest, RangeRequest, TxnRequest } from "./types.js";

/** Test helpers: requests with etcd's defaults, keys from strings. */
const enc = new TextEncoder();
const dec = new TextDecoder();
export const b = (s: string): Uint8Array => enc.encode(s);
export const s = (u: Uint8Array): string => dec.decode(u);

export function rangeReq(key: string, over: Partial<RangeRequest> = {}): RangeRequest {
  return {
    key: b(key),
    rangeEnd: new Uint8Array(0),
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

export function putReq(key: string, value: string, over: Partial<PutRequest> = {}): PutRequest {
  return {
    key: b(key),
    value: b(value),
    lease: 0n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
    ...over,
  };
}

export function txnReq(over: Partial<TxnRequest> = {}): TxnRequest {
  return { compare: [], success: [], failure: [], ...over };
}
