import { putRequest, rangeRequest, txnRequest } from "./requests.js";
import type { PutRequest, RangeRequest, TxnRequest } from "./types.js";

/** Test helpers: string keys over the request builders. */
const enc = new TextEncoder();
const dec = new TextDecoder();
export const b = (s: string): Uint8Array => enc.encode(s);
export const s = (u: Uint8Array): string => dec.decode(u);

export const rangeReq = (key: string, over: Partial<RangeRequest> = {}): RangeRequest =>
  rangeRequest(b(key), over);
export const putReq = (key: string, value: string, over: Partial<PutRequest> = {}): PutRequest =>
  putRequest(b(key), b(value), over);
export const txnReq = (over: Partial<TxnRequest> = {}): TxnRequest => txnRequest(over);
