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
import { join, resolve } from "node:path";
import { type Database, open, type RootDatabase } from "lmdb";
import { compareBytes } from "../kv/compare-bytes.js";
import { bytesToKeyString } from "../mvcc/key-string.js";
import type { Backend, BackendEntry, BackendOp, CommitStage } from "./backend.js";
import { bucketNames, localBucketNames } from "./backend.js";
import { lockDataDir } from "./data-dir-lock.js";
import { decodeInt64, encodeInt64 } from "./int64-bytes.js";
import { type LogRecord, openWriteAheadLog } from "./write-ahead-log.js";
import { decodeOps, encodeOps, overlayRange, WriteBuffer } from "./write-buffer.js";

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
  /**
   * Where the write-ahead log lives (etcd's `--wal-dir`): a directory of its
   * own, locked as the data dir is. Default `dir`.
   */
  logDir?: string;
  /**
   * How long acknowledged writes gather before LMDB takes them in one
   * transaction, and after how many it takes them sooner (etcd's
   * `--backend-batch-interval` and `--backend-batch-limit`). Default 100 ms
   * and 10000.
   */
  batch?: LmdbBatchOptions;
}

/** When LMDB takes gathered writes: see {@link LmdbBackendOptions.batch}. Absent fields are the defaults. */
export interface LmdbBatchOptions {
  /** Longest wait, ms (default {@link defaultBatchIntervalMs}). */
  intervalMs?: number;
  /** Writes after which it takes them sooner (default {@link defaultBatchLimit}). */
  limit?: number;
}

/**
 * The default backend: LMDB through `lmdb` (lmdb-js), behind a write-ahead
 * log. LMDB is the B+tree, copy-on-write, single-writer store that etcd's
 * bbolt was ported from: a commit is atomic and, once synced, survives power
 * loss with no recovery step.
 *
 * Durability: a commit resolves once its record is on disk in the log
 * (write-ahead-log.ts), one write with `O_DSYNC`; commits of one event-loop
 * turn share it (group commit), and the next batch gathers while one is
 * written. The same writes go to LMDB in transactions of its own, as large
 * as what arrived meanwhile, each synced before the log may start over past
 * it — etcd's order: acknowledged after its WAL, bbolt committed in batches.
 * Until LMDB has a write, reads find it in a write buffer (write-buffer.ts,
 * etcd's txWriteBuffer). After a crash, opening replays the log's records
 * that LMDB lacks: LMDB stores with each transaction the sequence number of
 * the last record it holds, so only later ones are applied.
 *
 * Why: an LMDB commit waits for the disk twice (its pages' sync, then its
 * meta record), ~0.6 ms at p50 here even with nothing else to do, where an
 * append to a preallocated file with `O_DSYNC` takes ~0.15 ms; a lone Put's
 * answer waited for the whole commit. LMDB keeps syncing every transaction
 * (`overlappingSync`: the next one gathers while one syncs), so its file is
 * never left inconsistent by a power loss: the log only has to bring it
 * forward.
 */
export function createLmdbBackend(options: LmdbBackendOptions): Backend {
  const dir = options.dir;
  const pointer = join(dir, currentFileName);
  if (options.create === false && !existsSync(join(dir, readCurrentFile(pointer)))) {
    throw new Error(`no Conclave store in ${dir}`);
  }
  mkdirSync(dir, { recursive: true });
  const lock = lockDataDir(dir);
  const batchIntervalMs = options.batch?.intervalMs ?? defaultBatchIntervalMs;
  const batchLimit = options.batch?.limit ?? defaultBatchLimit;
  const logDir = options.logDir ?? dir;
  let logLock: ReturnType<typeof lockDataDir> | undefined;
  if (resolve(logDir) !== resolve(dir)) {
    try {
      mkdirSync(logDir, { recursive: true });
      logLock = lockDataDir(logDir);
    } catch (error) {
      lock.release();
      throw error;
    }
  }
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
  for (const name of openedBuckets) db(name);
  const asBuffer = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

  const commitListeners = new Set<(seconds: number, stage: CommitStage) => void>();
  const report = (seconds: number, stage: CommitStage) => {
    for (const l of commitListeners) l(seconds, stage);
  };

  // Bring LMDB up to the log: apply the records it lacks, in one synced
  // transaction, then start the log over after them.
  const log = openWriteAheadLog({
    path: join(logDir, logFileName),
    onSync: (seconds) => report(seconds, "log"),
    // The log needs room that only LMDB taking its records gives.
    onFull: () => scheduleStore(true),
  });
  let lastSeq = decodeInt64(db(logBucket).get(logSeqKey)) ?? 0;
  const missing = log.recovered.filter((r) => r.seq > lastSeq);
  if (missing.length > 0) {
    const last = (missing.at(-1) as LogRecord).seq;
    root.transactionSync(() => {
      for (const r of missing) applyOps(decodeOps(r.payload));
      db(logBucket).putSync(logSeqKey, asBuffer(encodeInt64(last)));
    });
    lastSeq = last;
  }
  const lastLogged = log.recovered.at(-1)?.seq ?? 0;
  let nextSeq = Math.max(lastSeq, lastLogged) + 1;
  log.reset(nextSeq);

  function applyOps(ops: readonly BackendOp[]) {
    for (const op of ops) {
      const d = db(op.bucket);
      if (op.value === undefined) d.removeSync(asBuffer(op.key));
      else d.putSync(asBuffer(op.key), asBuffer(op.value));
    }
  }

  /**
   * Per bucket, a key LMDB holds nothing above: its largest key or more (a
   * delete leaves it where it was); null while the bucket is empty; absent
   * until first asked, then read from LMDB.
   */
  const storedMax = new Map<string, Uint8Array | null>();
  const maxStoredKey = (bucket: string): Uint8Array | null => {
    let max = storedMax.get(bucket);
    if (max === undefined) {
      max = null;
      for (const key of db(bucket).getKeys({ reverse: true, limit: 1 })) {
        max = new Uint8Array(key as Buffer);
      }
      storedMax.set(bucket, max);
    }
    return max;
  };
  /** Raises the buckets' bounds to what `generation` adds, as LMDB takes it. */
  const raiseStoredMax = (generation: WriteBuffer) => {
    for (const [bucket, key] of generation.maxKeys()) {
      const max = storedMax.get(bucket);
      if (max === undefined) continue; // read from LMDB when first asked
      if (max === null || compareBytes(key, max) > 0) storedMax.set(bucket, key);
    }
  };

  /** Acknowledged writes LMDB does not have yet: the gathering generation, then those being written (oldest first). */
  let gathering = new WriteBuffer();
  const writing: WriteBuffer[] = [];
  /** The last commit's acknowledgement. */
  let lastAck: Promise<unknown> = Promise.resolve();
  /** The LMDB transaction in flight, if any. */
  let storing: Promise<void> | undefined;
  let storeScheduled = false;
  let storeTimer: NodeJS.Timeout | undefined;
  /** When the last commit came, and when the gathering generation must be stored at the latest. */
  let lastCommitAt = 0;
  let gatherDeadline = 0;
  /** The first failure of the log or of LMDB: every later commit fails with it. */
  let failure: unknown;
  /**
   * The data file's size as last measured; -1 once a transaction or a
   * defrag may have changed it. The quota check asks on every write: one
   * stat per transaction rather than one per request (a stat cost a put ~15 µs).
   */
  let knownSize = -1;
  const forgetSize = () => {
    knownSize = -1;
  };
  /** While a defrag copies, LMDB takes no transactions (commits and reads go on). */
  let held: Promise<void> | undefined;

  /**
   * Writes the gathered generation to LMDB in one transaction, with the
   * sequence number of its last record, and once that is synced lets the
   * log start over past it. One transaction at a time; the next one starts
   * with what gathered meanwhile.
   */
  const store = () => {
    if (storeTimer !== undefined) clearTimeout(storeTimer);
    storeTimer = undefined;
    storeScheduled = false;
    if (storing !== undefined || held !== undefined || failure !== undefined) return;
    if (gathering.size === 0) return;
    const generation = gathering;
    gathering = new WriteBuffer();
    writing.push(generation);
    const began = performance.now();
    const ops = generation.ops();
    const seq = generation.lastSeq;
    storing = root
      .transaction(() => {
        applyOps(ops);
        db(logBucket).putSync(logSeqKey, asBuffer(encodeInt64(seq)));
      })
      .then(() => root.flushed)
      .then(
        () => {
          raiseStoredMax(generation);
          writing.shift();
          forgetSize();
          report((performance.now() - began) / 1000, "store");
          log.checkpoint(seq);
        },
        (error: unknown) => {
          // LMDB keeps what it had; the log still holds these writes.
          failure ??= error;
        },
      )
      .finally(() => {
        storing = undefined;
        if (gathering.size > 0) scheduleStore(log.waiting);
      });
  };
  const scheduleStore = (now = false) => {
    if (storing !== undefined) return;
    const full = now || gathering.size >= batchLimit || gathering.bytes >= storeBatchBytes;
    if (full && storeTimer !== undefined) {
      clearTimeout(storeTimer);
      storeTimer = undefined;
      storeScheduled = false;
    }
    if (storeScheduled) return;
    storeScheduled = true;
    if (full) {
      setImmediate(store);
      return;
    }
    gatherDeadline = performance.now() + batchIntervalMs;
    storeTimer = setTimeout(storeWhenQuiet, Math.min(quietMs, batchIntervalMs));
  };
  /**
   * Stores once commits paused for {@link quietMs} or the batch interval
   * ran out, whichever comes first: a burst's writes reach LMDB right
   * after it (so the file's size settles) without LMDB syncing beside
   * every write of a steady stream.
   */
  const storeWhenQuiet = () => {
    const now = performance.now();
    const quietFor = now - lastCommitAt;
    if (quietFor >= quietMs || now >= gatherDeadline) {
      store();
      return;
    }
    storeTimer = setTimeout(
      storeWhenQuiet,
      Math.max(1, Math.min(quietMs - quietFor, gatherDeadline - now)),
    );
  };
  /** Resolves once LMDB holds every write committed before the call. */
  const drain = async () => {
    await lastAck.catch(() => undefined);
    for (;;) {
      if (failure !== undefined) throw failure;
      if (held !== undefined) await held;
      else if (storing !== undefined) await storing;
      else if (gathering.size === 0) return;
      else store();
    }
  };

  return {
    kind: "lmdb",
    get(bucket, key) {
      if (gathering.size > 0 || writing.length > 0) {
        // Newest first: the gathering generation, then those being written.
        const k = bytesToKeyString(key);
        let hit = gathering.get(bucket, k);
        for (let i = writing.length - 1; hit === null && i >= 0; i--) {
          hit = (writing[i] as WriteBuffer).get(bucket, k);
        }
        if (hit !== null) return hit;
      }
      const v = db(bucket).get(asBuffer(key));
      return v === undefined ? undefined : new Uint8Array(v);
    },
    range(bucket, start, end): Iterable<BackendEntry> {
      if (gathering.size === 0 && writing.length === 0) return storedRange(bucket, start, end);
      // A range that starts past all LMDB holds needs no cursor: the history
      // of revisions just written, which a watch from a recent revision
      // reads (Go clientv3's lock opens one per acquisition).
      const max = maxStoredKey(bucket);
      const pastStored = max === null || (start !== undefined && compareBytes(start, max) > 0);
      const stored = pastStored ? [] : storedRange(bucket, start, end);
      // The buffered writes as they are now (a range is read synchronously).
      return overlayRange([...writing, gathering], bucket, start, end, stored);
    },
    commit(ops: readonly BackendOp[]) {
      if (failure !== undefined) return Promise.reject(failure);
      if (ops.length === 0) return lastAck.then(() => undefined);
      const seq = nextSeq++;
      gathering.add(ops, seq);
      const done = log.append(seq, encodeOps(ops));
      done.catch((error: unknown) => {
        failure ??= error;
      });
      lastAck = done;
      lastCommitAt = performance.now();
      scheduleStore();
      return done;
    },
    onCommitDuration(listener) {
      commitListeners.add(listener);
      return () => commitListeners.delete(listener);
    },
    sizeBytes() {
      // Writes LMDB does not have yet count as what they may add to its
      // file, so the quota sees a commit's size once it resolves.
      let pending = gathering.bytes;
      for (const g of writing) pending += g.bytes;
      if (knownSize < 0) {
        try {
          knownSize = statSync(join(dir, file)).size;
        } catch {
          return pending;
        }
      }
      return knownSize + pending;
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
      await drain();
      // A compacting copy: LMDB writes only live pages, in one read transaction.
      await root.backup(target, true);
    },
    async defragment() {
      if (held !== undefined) return held;
      // What was committed before the defrag goes into LMDB first, so the
      // copy has it (etcd commits its batch before it defragments).
      await drain();
      if (held !== undefined) return held;
      let release = () => {};
      held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const old = root;
      const oldFile = file;
      const next = nextFileName(oldFile);
      try {
        // Commits go on into the log and the write buffer meanwhile.
        if (storing !== undefined) await storing;
        if (failure !== undefined) throw failure;
        rmSync(join(dir, next), { force: true });
        rmSync(join(dir, `${next}-lock`), { force: true });
        // Only live pages are copied; reads go on from the old file meanwhile.
        await old.backup(join(dir, next), true);
        fsyncFile(join(dir, next));
        const fresh = openRoot(next);
        // The switch is durable before any write reaches the new file: a crash
        // from here on reopens the copy, which holds what LMDB had, and the
        // log the rest.
        writeCurrentFile(pointer, next);
        root = fresh;
        dbs = new Map();
        storedMax.clear();
        for (const name of openedBuckets) db(name);
        file = next;
      } finally {
        forgetSize();
        const done = held;
        held = undefined;
        release();
        scheduleStore();
        await done;
      }
      if (file !== oldFile) {
        await old.close();
        rmSync(join(dir, oldFile), { force: true });
        rmSync(join(dir, `${oldFile}-lock`), { force: true });
      }
    },
    async close() {
      try {
        await drain();
      } catch {
        // What LMDB lacks is in the log, replayed at the next open.
      }
      await log.close();
      await root.close();
      logLock?.release();
      lock.release();
    },
  };

  function* storedRange(
    bucket: string,
    start: Uint8Array | undefined,
    end: Uint8Array | undefined,
  ): Iterable<BackendEntry> {
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
  }
}

/**
 * How long acknowledged writes gather before LMDB takes them in one
 * transaction, unless {@link defaultBatchLimit} writes or
 * {@link storeBatchBytes} gathered first: etcd's backend batch interval and
 * limit (100 ms, 10000), which `batch` overrides.
 * Why not at once: each LMDB transaction syncs its file, and a sync at the
 * same time as the log's write made that write (what a commit waits for)
 * slower; fewer, larger transactions also cost less CPU per write.
 */
export const defaultBatchIntervalMs = 100;
/** How long no commit must come before LMDB takes what gathered, within the batch interval. */
const quietMs = 5;
export const defaultBatchLimit = 10_000;
/** A quarter of the log's default size: the log starts over past a quarter once LMDB has what it holds. */
const storeBatchBytes = 1024 * 1024;

/** The write-ahead log's file in the data dir. */
export const logFileName = "conclave.wal";
/** LMDB's own record of the log: which record it holds last. Not a store bucket (hashes and copies skip it). */
const logBucket = "log";
const logSeqKey = Buffer.from("seq");
/** The named databases opened with each data file: the store's buckets, the local ones, the log's. */
const openedBuckets: readonly string[] = [...bucketNames, ...localBucketNames, logBucket];

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
