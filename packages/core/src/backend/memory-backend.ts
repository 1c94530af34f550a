import { writeFile } from "node:fs/promises";
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
    // No disk, so no commit durations to report.
    onCommitDuration: () => () => {},
    sizeBytes: () => bytes,
    sizeInUseBytes: () => bytes,
    // Nothing to give back: deleted entries are already gone from the maps.
    defragment: async () => {},
    async snapshotTo(file) {
      // Length-prefixed (bucket, key, value) records, zero-padded to 512 bytes.
      const parts: Buffer[] = [];
      const field = (b: Uint8Array | string) => {
        const data = typeof b === "string" ? Buffer.from(b) : Buffer.from(b);
        const len = Buffer.alloc(4);
        len.writeUInt32BE(data.length);
        parts.push(len, data);
      };
      for (const [name, tree] of buckets) {
        for (const [k, v] of tree.entries()) {
          field(name);
          field(keyStringToBytes(k));
          field(v);
        }
      }
      const body = Buffer.concat(parts);
      const padded = Buffer.alloc(Math.ceil(body.length / 512) * 512 || 512);
      body.copy(padded);
      await writeFile(file, padded);
    },
    async close() {
      closed = true;
    },
  };
}
