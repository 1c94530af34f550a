import { BTree } from "../mvcc/btree.js";
import { bytesToKeyString, keyStringToBytes } from "../mvcc/key-string.js";
import type { Backend, BackendEntry, BackendOp } from "./backend.js";

/**
 * A backend that keeps everything in memory. Not durable: for tests and for
 * `--data-dir=:memory:`-style throwaway servers. Commits resolve on the next
 * microtask, in call order, like a real backend's.
 */
export function createMemoryBackend(): Backend {
  const buckets = new Map<string, BTree<string, Uint8Array>>();
  let bytes = 0;
  let closed = false;
  const bucket = (name: string) => {
    let b = buckets.get(name);
    if (b === undefined) {
      b = new BTree<string, Uint8Array>();
      buckets.set(name, b);
    }
    return b;
  };
  return {
    kind: "memory",
    get(name, key) {
      return buckets.get(name)?.get(bytesToKeyString(key));
    },
    *range(name, start, end): Iterable<BackendEntry> {
      const b = buckets.get(name);
      if (b === undefined) return;
      const endKey = end === undefined ? undefined : bytesToKeyString(end);
      const startKey = start === undefined ? b.minKey() : bytesToKeyString(start);
      if (startKey === undefined) return;
      for (const [k, value] of b.entries(startKey)) {
        if (endKey !== undefined && k >= endKey) return;
        yield { key: keyStringToBytes(k), value };
      }
    },
    async commit(ops: readonly BackendOp[]) {
      if (closed) throw new Error("backend closed");
      for (const op of ops) {
        const b = bucket(op.bucket);
        const k = bytesToKeyString(op.key);
        const old = b.get(k);
        if (old !== undefined) bytes -= old.length + k.length;
        if (op.value === undefined) {
          b.delete(k);
        } else {
          b.set(k, op.value);
          bytes += op.value.length + k.length;
        }
      }
    },
    sizeBytes: () => bytes,
    sizeInUseBytes: () => bytes,
    async close() {
      closed = true;
    },
  };
}
