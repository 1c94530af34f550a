import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
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

/**
 * A maker of fresh temporary directories named `prefix…`, all removed once
 * the calling test file's tests are done. Call it at a file's top level.
 */
export function tempDirs(prefix: string): () => string {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}
