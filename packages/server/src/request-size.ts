import type { RequestOp, TxnRequest } from "@conclave/core";

/**
 * A cheap lower bound of a write request's encoded size: the bytes of its
 * keys, values and range ends. Only when this comes near the limit does the
 * caller pay for an exact encoding.
 */
export function estimateTxnBytes(r: TxnRequest): number {
  let n = 0;
  for (const c of r.compare) {
    n += c.key.length + c.rangeEnd.length;
    if (c.targetUnion.case === "value") n += c.targetUnion.value.length;
  }
  const ops = (list: RequestOp[]) => {
    for (const op of list) {
      const q = op.request;
      switch (q.case) {
        case "requestPut":
          n += q.value.key.length + q.value.value.length;
          break;
        case "requestRange":
        case "requestDeleteRange":
          n += q.value.key.length + q.value.rangeEnd.length;
          break;
        case "requestTxn":
          n += estimateTxnBytes(q.value);
          break;
      }
    }
  };
  ops(r.success);
  ops(r.failure);
  return n;
}

/** Slack under the limit within which the estimate is not trusted. */
export const estimateSlack = 4096;
