const varintLength = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4);

/**
 * The binary etcdserverpb.TxnRequest nested `levels` deep with an empty
 * innermost txn: TxnRequest.success (field 2) holds a RequestOp whose
 * request_txn (field 4) holds the next level. Written outside-in without
 * recursion, since protobuf-es's encoder overflows the stack long before the
 * depths the deep-txn tests send (100,000 levels).
 */
export function deepTxnBytes(levels: number): Uint8Array {
  const txnLength = [0]; // by level from the inside
  const opLength = [0];
  for (let i = 1; i < levels; i++) {
    const inner = txnLength[i - 1] as number;
    opLength[i] = 1 + varintLength(inner) + inner;
    txnLength[i] = 1 + varintLength(opLength[i] as number) + (opLength[i] as number);
  }
  const out = new Uint8Array(txnLength[levels - 1] as number);
  let at = 0;
  const varint = (n: number) => {
    let v = n;
    while (v >= 0x80) {
      out[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    out[at++] = v;
  };
  for (let i = levels - 1; i >= 1; i--) {
    out[at++] = 0x12;
    varint(opLength[i] as number);
    out[at++] = 0x22;
    varint(txnLength[i - 1] as number);
  }
  return out;
}
