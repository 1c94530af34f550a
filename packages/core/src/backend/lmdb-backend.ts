import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Database, open, type RootDatabase } from "lmdb";
import type { Backend, BackendEntry, BackendOp } from "./backend.js";
import { bucketNames } from "./backend.js";

export interface LmdbBackendOptions {
  /** Directory holding the database files; created when missing. */
  dir: string;
  /**
   * Upper bound of the memory map. LMDB needs a maximum size up front; etcd's
   * default backend quota is 2 GiB, and we reserve more address space than that
   * so the quota, not the map, is the limit. Default 8 GiB.
   */
  mapSize?: number;
}

/**
 * The default backend: LMDB through `lmdb` (lmdb-js). LMDB is the B+tree,
 * copy-on-write, single-writer store that etcd's bbolt was ported from, so it
 * has the same crash-safety story: a commit is atomic, and after an fsync it
 * survives power loss with no recovery step.
 *
 * Durability: `overlappingSync` is turned off so that a commit's promise
 * resolves only after LMDB has synced it. lmdb-js gathers every write issued
 * in one event-loop turn into one transaction committed on a worker thread, so
 * concurrent requests share one fsync (group commit) without any batching code
 * here, and the main thread never blocks on the disk.
 */
export function createLmdbBackend(options: LmdbBackendOptions): Backend {
  mkdirSync(options.dir, { recursive: true });
  const path = join(options.dir, "conclave.mdb");
  const root: RootDatabase = open({
    path,
    mapSize: options.mapSize ?? 8 * 1024 ** 3,
    maxDbs: 16,
    overlappingSync: false,
    noSync: false,
    encoding: "binary",
    keyEncoding: "binary",
    cache: false,
  });
  const dbs = new Map<string, Database<Buffer, Buffer>>();
  const db = (name: string) => {
    let d = dbs.get(name);
    if (d === undefined) {
      d = root.openDB<Buffer, Buffer>({ name, encoding: "binary", keyEncoding: "binary" });
      dbs.set(name, d);
    }
    return d;
  };
  for (const name of bucketNames) db(name);
  const asBuffer = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  let lastCommit: Promise<unknown> = Promise.resolve();

  return {
    kind: "lmdb",
    get(bucket, key) {
      const v = db(bucket).get(asBuffer(key));
      return v === undefined ? undefined : new Uint8Array(v);
    },
    *range(bucket, start, end): Iterable<BackendEntry> {
      const opts: { start?: Buffer; end?: Buffer } = {};
      if (start !== undefined) opts.start = asBuffer(start);
      if (end !== undefined) opts.end = asBuffer(end);
      // lmdb-js hands out fresh copies of binary keys and values already
      // (slices of its shared read buffer); plain views over them save a
      // second copy per entry, which a full scan (the index rebuild) feels.
      for (const { key, value } of db(bucket).getRange(opts)) {
        const k = key as Buffer;
        yield {
          key: new Uint8Array(k.buffer, k.byteOffset, k.byteLength),
          value: new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
        };
      }
    },
    commit(ops: readonly BackendOp[]) {
      if (ops.length === 0) return lastCommit.then(() => undefined);
      // The callback runs inside the batched write transaction lmdb-js opens
      // for this event turn; the promise resolves once it is committed and,
      // with overlappingSync off, synced to disk.
      const done = root.transaction(() => {
        for (const op of ops) {
          const d = db(op.bucket);
          if (op.value === undefined) d.removeSync(asBuffer(op.key));
          else d.putSync(asBuffer(op.key), asBuffer(op.value));
        }
      });
      lastCommit = done;
      return done.then(() => undefined);
    },
    sizeBytes() {
      try {
        return statSync(path).size;
      } catch {
        return 0;
      }
    },
    sizeInUseBytes() {
      const stat = root.getStats() as {
        pageSize?: number;
        lastPageNumber?: number;
      };
      const pages = stat.lastPageNumber ?? 0;
      return pages * (stat.pageSize ?? 4096);
    },
    async snapshotTo(file) {
      await lastCommit.catch(() => undefined);
      // A compacting copy: LMDB writes only live pages, in one read transaction.
      await root.backup(file, true);
    },
    async close() {
      await lastCommit.catch(() => undefined);
      await root.close();
    },
  };
}
