import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { type Database, open, type RootDatabase } from "lmdb";
import type { Backend, BackendEntry, BackendOp } from "./backend.js";
import { bucketNames, localBucketNames } from "./backend.js";
import { lockDataDir } from "./data-dir-lock.js";

export interface LmdbBackendOptions {
  /** Directory holding the database files; created when missing. */
  dir: string;
  /**
   * Upper bound of the memory map. LMDB needs a maximum size up front; etcd's
   * default backend quota is 2 GiB, and we reserve more address space than that
   * so the quota, not the map, is the limit. Default 8 GiB.
   */
  mapSize?: number;
  /**
   * Whether a directory without a store is created (default true). False
   * refuses one instead: for tools that read an existing store (`conclave
   * migrate`), where an empty store made from a mistyped path would pass for
   * the real one.
   */
  create?: boolean;
}

/** One LMDB write transaction, for its commit duration. */
interface LmdbTxn {
  /** `performance.now()` when its callbacks began to run. */
  start: number;
  reported: boolean;
}

/**
 * The default backend: LMDB through `lmdb` (lmdb-js). LMDB is the B+tree,
 * copy-on-write, single-writer store that etcd's bbolt was ported from, so it
 * has the same crash-safety story: a commit is atomic, and after an fsync it
 * survives power loss with no recovery step.
 *
 * Durability: a commit's promise resolves only once LMDB has synced it
 * (`root.flushed` after the transaction). lmdb-js gathers every write issued
 * in one event-loop turn into one transaction committed on a worker thread, so
 * concurrent requests share one fsync (group commit) without any batching code
 * here, and the main thread never blocks on the disk.
 *
 * Pipelined: with `overlappingSync` on, LMDB commits a transaction and syncs
 * it afterwards, outside its writer lock, so the next batch gathers and
 * commits while the previous one syncs — rather than every write waiting for
 * the sync before it can even start. Nothing is acknowledged earlier: the
 * promise still waits for the sync. After a crash LMDB opens at the last
 * synced transaction (or the last committed one when only the process died,
 * whose pages the OS still has).
 */
export function createLmdbBackend(options: LmdbBackendOptions): Backend {
  const dir = options.dir;
  const pointer = join(dir, currentFileName);
  if (options.create === false && !existsSync(join(dir, readCurrentFile(pointer)))) {
    throw new Error(`no Conclave store in ${dir}`);
  }
  mkdirSync(dir, { recursive: true });
  const lock = lockDataDir(dir);
  /** The data file in use: named by the pointer file once a defrag replaced the first one. */
  let file = readCurrentFile(pointer);
  const openRoot = (name: string): RootDatabase =>
    open({
      path: join(dir, name),
      mapSize: options.mapSize ?? 8 * 1024 ** 3,
      maxDbs: 16,
      overlappingSync: true,
      noSync: false,
      encoding: "binary",
      keyEncoding: "binary",
      cache: false,
    });
  let root = openRoot(file);
  let dbs = new Map<string, Database<Buffer, Buffer>>();
  const db = (name: string) => {
    let d = dbs.get(name);
    if (d === undefined) {
      d = root.openDB<Buffer, Buffer>({ name, encoding: "binary", keyEncoding: "binary" });
      dbs.set(name, d);
    }
    return d;
  };
  for (const name of [...bucketNames, ...localBucketNames]) db(name);
  const asBuffer = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  let lastCommit: Promise<unknown> = Promise.resolve();
  /**
   * The data file's size as last measured; -1 once a commit or a defrag may
   * have changed it. The quota check asks on every write: one stat per
   * commit rather than one per request (a stat cost a put ~15 µs).
   */
  let knownSize = -1;
  const forgetSize = () => {
    knownSize = -1;
  };
  /** While a defrag copies, commits wait here (reads go on). */
  let held: Promise<void> | undefined;

  const commitListeners = new Set<(seconds: number) => void>();
  /**
   * The LMDB transaction whose callbacks run now. lmdb-js runs every
   * callback of one batched transaction in one synchronous go on this
   * thread, then commits and syncs on its worker: the first callback of a
   * go starts the record, a microtask after the go ends it.
   */
  let running: LmdbTxn | undefined;
  const currentTxn = (): LmdbTxn => {
    if (running === undefined) {
      const txn: LmdbTxn = { start: performance.now(), reported: false };
      running = txn;
      queueMicrotask(() => {
        running = undefined;
      });
      return txn;
    }
    return running;
  };
  /** Reports a durable transaction once, however many commits it carried. */
  const reportDurable = (txn: LmdbTxn | undefined) => {
    if (txn === undefined || txn.reported) return;
    txn.reported = true;
    const seconds = (performance.now() - txn.start) / 1000;
    for (const l of commitListeners) l(seconds);
  };

  /** Writes `ops` in lmdb-js's transaction of this event turn; `began` learns which one. */
  const writeOps = (ops: readonly BackendOp[], began?: (txn: LmdbTxn) => void) =>
    root.transaction(() => {
      began?.(currentTxn());
      for (const op of ops) {
        const d = db(op.bucket);
        if (op.value === undefined) d.removeSync(asBuffer(op.key));
        else d.putSync(asBuffer(op.key), asBuffer(op.value));
      }
    });

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
      // for this event turn; the promise resolves once it is committed and
      // synced to disk (`flushed`). During a defrag the commit
      // waits for the new file, in order behind the others.
      let txn: LmdbTxn | undefined;
      const began = (t: LmdbTxn) => {
        txn = t;
      };
      const write = () => writeOps(ops, began).then(() => root.flushed);
      const done = held === undefined ? write() : held.then(write);
      lastCommit = done;
      done.then(forgetSize, forgetSize);
      return done.then(() => reportDurable(txn));
    },
    onCommitDuration(listener) {
      commitListeners.add(listener);
      return () => commitListeners.delete(listener);
    },
    sizeBytes() {
      if (knownSize >= 0) return knownSize;
      try {
        knownSize = statSync(join(dir, file)).size;
      } catch {
        return 0;
      }
      return knownSize;
    },
    sizeInUseBytes() {
      const stat = root.getStats() as {
        pageSize?: number;
        lastPageNumber?: number;
      };
      const pages = stat.lastPageNumber ?? 0;
      return pages * (stat.pageSize ?? 4096);
    },
    async snapshotTo(target) {
      await lastCommit.catch(() => undefined);
      // A compacting copy: LMDB writes only live pages, in one read transaction.
      await root.backup(target, true);
    },
    async defragment() {
      if (held !== undefined) return held;
      let release = () => {};
      held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const old = root;
      const oldFile = file;
      const next = nextFileName(oldFile);
      try {
        await lastCommit.catch(() => undefined);
        rmSync(join(dir, next), { force: true });
        rmSync(join(dir, `${next}-lock`), { force: true });
        // Only live pages are copied; reads go on from the old file meanwhile.
        await old.backup(join(dir, next), true);
        fsyncFile(join(dir, next));
        const fresh = openRoot(next);
        // The switch is durable before any write reaches the new file: a crash
        // from here on reopens the copy, which holds every acknowledged write.
        writeCurrentFile(pointer, next);
        root = fresh;
        dbs = new Map();
        for (const name of [...bucketNames, ...localBucketNames]) db(name);
        file = next;
      } finally {
        forgetSize();
        const done = held;
        held = undefined;
        release();
        await done;
      }
      if (file !== oldFile) {
        await old.close();
        rmSync(join(dir, oldFile), { force: true });
        rmSync(join(dir, `${oldFile}-lock`), { force: true });
      }
    },
    async close() {
      await lastCommit.catch(() => undefined);
      await root.close();
      lock.release();
    },
  };
}

/**
 * Names the data file in use. Absent until the first defrag, so a data dir
 * from before defrag existed opens as it was (`conclave.mdb`).
 */
const currentFileName = "CURRENT";
const firstFileName = "conclave.mdb";

function readCurrentFile(pointer: string): string {
  try {
    const name = readFileSync(pointer, "utf8").trim();
    if (/^conclave(-\d+)?\.mdb$/.test(name)) return name;
  } catch {
    // no pointer: the first file
  }
  return firstFileName;
}

/** conclave.mdb → conclave-1.mdb → conclave-2.mdb … */
function nextFileName(name: string): string {
  const n = /^conclave-(\d+)\.mdb$/.exec(name);
  return `conclave-${n === null ? 1 : Number(n[1]) + 1}.mdb`;
}

/** Replaces the pointer atomically and durably (write, fsync, rename, fsync the directory). */
function writeCurrentFile(pointer: string, name: string): void {
  const tmp = `${pointer}.tmp`;
  writeFileSync(tmp, `${name}\n`);
  fsyncFile(tmp);
  renameSync(tmp, pointer);
  fsyncFile(join(pointer, ".."));
}

function fsyncFile(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
