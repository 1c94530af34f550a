// What the deep-txn cut (packages/server deep-txn.ts) costs a normal KV/Txn:
//   node --import tsx apps/server/bench/deep-txn-check.ts
// The direct paths and the gateway only cut after their decoder refused a
// request (fromBinaryRequest: a try around fromBinary); Connect's router
// holds a KV/Txn body (deep-txn-body.ts) and scans it past 2 KiB.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { TxnRequestSchema } from "@conclave/proto";
import { fromBinaryRequest, maxMessageDepth } from "@conclave/server";
import { cutDeepTxnBody, cutDeepTxnUnaryBody } from "../src/deep-txn-body.js";

const enc = new TextEncoder();
const opts = { recursionLimit: maxMessageDepth };
const txn = (ops: number) =>
  toBinary(
    TxnRequestSchema,
    create(TxnRequestSchema, {
      compare: [{ key: enc.encode("lock/k"), target: 0, result: 0 }],
      success: Array.from({ length: ops }, (_, i) => ({
        request: {
          case: "requestPut" as const,
          value: { key: enc.encode(`lock/k${i}`), value: enc.encode("v") },
        },
      })),
      failure: [
        { request: { case: "requestRange" as const, value: { key: enc.encode("lock/k") } } },
      ],
    }),
  );

async function time(name: string, n: number, f: () => unknown): Promise<void> {
  for (let i = 0; i < n / 10; i++) await f();
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await f();
  console.log(`${name}: ${(Number(process.hrtime.bigint() - t) / n).toFixed(0)} ns/op`);
}

async function* once(b: Uint8Array) {
  yield b;
}
async function drain(it: AsyncIterable<Uint8Array>) {
  for await (const _ of it);
}

for (const [label, bytes] of [
  ["lock-style txn (a compare, a put, a range)", txn(1)],
  ["txn of 128 puts", txn(128)],
] as const) {
  console.log(`${label}, ${bytes.length} bytes`);
  const env = new Uint8Array(5 + bytes.length);
  new DataView(env.buffer).setUint32(1, bytes.length);
  env.set(bytes, 5);
  await time("  fromBinary", 200_000, () => fromBinary(TxnRequestSchema, bytes, opts));
  await time("  fromBinaryRequest", 200_000, () =>
    fromBinaryRequest(TxnRequestSchema, bytes, opts),
  );
  await time("  body as it comes (router)", 200_000, () => drain(once(env)));
  await time("  cutDeepTxnBody (router, gRPC)", 200_000, () =>
    drain(cutDeepTxnBody(once(env), { format: "binary", maxBytes: 2 << 20 })),
  );
  await time("  cutDeepTxnUnaryBody (router, Connect)", 200_000, async () =>
    drain((await cutDeepTxnUnaryBody(once(bytes), { format: "binary", maxBytes: 2 << 20 })).body),
  );
}
