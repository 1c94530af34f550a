import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  write,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { crc32 } from "node:zlib";

/**
 * The log's file: a 4 KiB header, then records. The header names the
 * sequence number of the first record after it; a record is
 * `[u32 length][u32 crc32][u32 seq high][u32 seq low][payload]`, all
 * little-endian, its CRC over the sequence number and the payload.
 */
const headerBytes = 4096;
const recordHeadBytes = 16;
const magic = 0x4c574343; // "CCWL"
const version = 1;

/**
 * Bytes the log's file is made with, written as zeros once, so that an
 * append overwrites blocks the file system has already allocated and its
 * sync has no metadata to write (on this machine an append and `fdatasync`
 * to a preallocated file took 0.15 ms, to a growing one 0.24 ms). Default
 * 4 MiB: the log only bridges a commit to the store's next synced
 * transaction, milliseconds later, and starts over at its head once past
 * its first quarter with everything in it stored (etcd's 64 MiB segments
 * keep raft's history, which this log does not). It doubles for a batch
 * that does not fit even then.
 */
export const defaultLogBytes = 4 * 1024 * 1024;

/**
 * Batches written at once (default 2): the next batch starts its write while
 * the one before syncs, and is acknowledged only after it. With one at a
 * time, a commit that arrived just after a write began waited for that
 * write's sync and then its own: Go clientv3's lock hand-over, where the
 * holder's Unlock lands while the last holder's next Lock is being written,
 * took 1.45–1.52 ms on average from the Unlock sent, 1.34–1.35 ms with two
 * (Put at c=100 and txn did not get slower; BENCHMARKS.md, "Lock hand-over:
 * log writes in flight, the engine's writes, warm-up").
 */
export const defaultWritesInFlight = 2;

export interface LogRecord {
  seq: number;
  payload: Uint8Array;
}

export interface WriteAheadLogOptions {
  /** The log's file; made (and filled with zeros) when missing. */
  path: string;
  /** Bytes the file is made with (default {@link defaultLogBytes}). */
  capacity?: number;
  /** Batches written at once (default {@link defaultWritesInFlight}). */
  writesInFlight?: number;
  /**
   * Told once per batch written, with how long its write and sync took in
   * seconds (etcd's `wal_fsync_duration`).
   */
  onSync?: (seconds: number) => void;
  /**
   * Told when a batch waits for room: the log holds only records its store
   * still needs, so the store should take them now ({@link WriteAheadLog.checkpoint}).
   */
  onFull?: () => void;
}

export interface WriteAheadLog {
  /**
   * The records found on disk when the log was opened, in order: every
   * record acknowledged before a crash, and possibly later ones whose batch
   * reached the disk unacknowledged. A torn or stale tail ends the list.
   */
  readonly recovered: readonly LogRecord[];
  /**
   * Appends `payload` as the record numbered `seq` (which must be one more
   * than the last), to be written with the others of this event-loop turn;
   * resolves once it is on disk. Each batch is one write with `O_DSYNC`;
   * up to `writesInFlight` are written at once, the next gathering
   * meanwhile, and each is acknowledged only after every batch before it
   * (a batch after a failed one fails too: the log ends at the first gap).
   */
  append(seq: number, payload: Uint8Array): Promise<void>;
  /**
   * Everything up to `seq` is in the store and durable there: the log may
   * start over at its head before `seq` + 1.
   */
  checkpoint(seq: number): void;
  /**
   * Starts the log over at `nextSeq` (nothing before it is needed any more),
   * durably, before anything is appended. For opening, after the recovered
   * records were applied.
   */
  reset(nextSeq: number): void;
  /** Whether a batch waits for room (see `onFull`). */
  readonly waiting: boolean;
  /** Waits for batches in flight and closes the file. */
  close(): Promise<void>;
}

interface Pending {
  seq: number;
  bytes: Buffer;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** A batch being written. */
interface Flight {
  batch: Pending[];
  began: number;
  /** The write returned (`error` null when it succeeded). */
  finished: boolean;
  error: unknown;
  seconds: number;
}

/**
 * The write-ahead log in front of the LMDB store (lmdb-backend.ts): a commit
 * is acknowledged once its record is here, one disk write, while the store
 * takes the same writes in larger, later transactions of its own — as etcd
 * acknowledges after its WAL and commits bbolt in batches.
 *
 * Opens `options.path` (making it when missing) and reads the records on it.
 */
export function openWriteAheadLog(options: WriteAheadLogOptions): WriteAheadLog {
  const { path, onSync, onFull } = options;
  const capacity = Math.max(options.capacity ?? defaultLogBytes, headerBytes * 2);
  const maxFlights = Math.max(1, options.writesInFlight ?? defaultWritesInFlight);
  if (!existsSync(path)) makeLogFile(path, capacity);
  // O_DSYNC: a write returns once its bytes are on disk — the write and its
  // sync in one system call, on one thread-pool thread.
  const fd = openSync(path, constants.O_RDWR | constants.O_DSYNC);
  let size = fstatSync(fd).size;
  const found = readLog(fd, size, path);
  const recovered = found.records;
  /** Where the next record goes. */
  let position = found.end;
  /** The sequence number the next record must have. */
  let expected = found.next;
  /** The highest sequence number that is in the store. */
  let stored = 0;
  let gathering: Pending[] = [];
  let scheduled = false;
  /** Batches written and not yet acknowledged, oldest first. */
  const flights: Flight[] = [];
  /** `close()` waiting for the flights to land. */
  let landed: (() => void) | undefined;
  let failure: unknown;
  let closed = false;
  let waiting = false;

  const writeHeader = (startSeq: number) => writeSync(fd, header(startSeq), 0, headerBytes, 0);

  const flush = () => {
    scheduled = false;
    if (flights.length >= maxFlights || gathering.length === 0) return;
    const batch = gathering;
    gathering = [];
    let bytes = 0;
    for (const p of batch) bytes += p.bytes.length;
    const firstSeq = (batch[0] as Pending).seq;
    // Start over at the head when everything before this batch is stored,
    // the log is past its first quarter and the batch fits there — or
    // must, because it fits nowhere else.
    const atHead = headerBytes + bytes;
    if (
      stored >= firstSeq - 1 &&
      position > headerBytes &&
      (position > capacity / 4 || position + bytes > size)
    ) {
      writeHeader(firstSeq);
      position = headerBytes;
    }
    if (position + bytes > size) {
      if (stored < firstSeq - 1) {
        // Full of records the store still needs: wait for its checkpoint.
        gathering = batch.concat(gathering);
        waiting = true;
        onFull?.();
        return;
      }
      // One batch larger than the file: grow it (the sync then writes metadata too).
      growFile(fd, Math.max(atHead, size * 2));
      size = fstatSync(fd).size;
    }
    waiting = false;
    const out =
      batch.length === 1
        ? (batch[0] as Pending).bytes
        : Buffer.concat(
            batch.map((p) => p.bytes),
            bytes,
          );
    const at = position;
    position += bytes;
    const flight: Flight = {
      batch,
      began: performance.now(),
      finished: false,
      error: null,
      seconds: 0,
    };
    flights.push(flight);
    write(fd, out, 0, out.length, at, (error) => {
      flight.finished = true;
      flight.error = error;
      flight.seconds = (performance.now() - flight.began) / 1000;
      land();
    });
    // Room for another: what gathers meanwhile goes out in the next turn.
    if (gathering.length > 0) schedule();
  };

  /** Acknowledges the finished flights at the front, in order. */
  const land = () => {
    while (flights.length > 0 && (flights[0] as Flight).finished) {
      const { batch, error, seconds } = flights.shift() as Flight;
      if (error !== null) failure ??= error;
      if (failure !== undefined) {
        for (const p of batch) p.reject(failure);
      } else {
        onSync?.(seconds);
        for (const p of batch) p.resolve();
      }
    }
    if (flights.length === 0) {
      const done = landed;
      landed = undefined;
      done?.();
    }
    if (gathering.length > 0) schedule();
  };

  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    // The next turn: every commit of this one goes in the same write.
    setImmediate(flush);
  };

  return {
    recovered,
    get waiting() {
      return waiting;
    },
    append(seq, payload) {
      if (failure !== undefined) return Promise.reject(failure);
      if (closed) return Promise.reject(new Error("write-ahead log is closed"));
      if (seq !== expected) {
        return Promise.reject(new Error(`write-ahead log: record ${seq} after ${expected - 1}`));
      }
      expected = seq + 1;
      const bytes = Buffer.allocUnsafe(recordHeadBytes + payload.length);
      bytes.writeUInt32LE(payload.length, 0);
      writeSeq(bytes, 8, seq);
      bytes.set(payload, recordHeadBytes);
      bytes.writeUInt32LE(crc32(bytes.subarray(8)), 4);
      return new Promise<void>((resolve, reject) => {
        gathering.push({ seq, bytes, resolve, reject });
        schedule();
      });
    },
    checkpoint(seq) {
      if (seq <= stored) return;
      stored = seq;
      // A batch may be waiting for room.
      if (gathering.length > 0) schedule();
    },
    reset(nextSeq) {
      if (flights.length > 0 || gathering.length > 0) {
        throw new Error("write-ahead log: reset with records pending");
      }
      writeHeader(nextSeq);
      position = headerBytes;
      expected = nextSeq;
      stored = nextSeq - 1;
    },
    async close() {
      closed = true;
      if (flights.length > 0) {
        await new Promise<void>((resolve) => {
          landed = resolve;
        });
      }
      // Callers wait for their appends before closing; anything left never
      // got room (its store stopped taking checkpoints) and is not durable.
      const left = gathering;
      gathering = [];
      for (const p of left) p.reject(new Error("write-ahead log is closed"));
      closeSync(fd);
    },
  };
}

/** The log's header naming `startSeq` as the first record after it (see {@link readLog}). */
function header(startSeq: number): Buffer {
  const h = Buffer.alloc(headerBytes);
  h.writeUInt32LE(magic, 0);
  h.writeUInt32LE(version, 4);
  writeSeq(h, 8, startSeq);
  h.writeUInt32LE(crc32(h.subarray(0, 16)), 16);
  return h;
}

function writeSeq(b: Buffer, at: number, seq: number): void {
  b.writeUInt32LE(Math.floor(seq / 2 ** 32), at);
  b.writeUInt32LE(seq >>> 0, at + 4);
}

function readSeq(b: Buffer, at: number): number {
  return b.readUInt32LE(at) * 2 ** 32 + b.readUInt32LE(at + 4);
}

/** Makes the file at `path` of `capacity` zero bytes with an empty log (starting at 1), durably. */
function makeLogFile(path: string, capacity: number): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    growFile(fd, capacity);
    writeSync(fd, header(1), 0, headerBytes, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameDurably(tmp, path);
}

function renameDurably(from: string, to: string): void {
  renameSync(from, to);
  const dir = openSync(dirname(to), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/** Appends zeros to `fd` until it is `bytes` long, and syncs it. */
function growFile(fd: number, bytes: number): void {
  const chunk = Buffer.alloc(1024 * 1024);
  let at = fstatSync(fd).size;
  while (at < bytes) {
    const n = Math.min(chunk.length, bytes - at);
    writeSync(fd, chunk, 0, n, at);
    at += n;
  }
  fsyncSync(fd);
}

/**
 * The records of the log on `fd`: from the header's first sequence number,
 * each one's successor, until a record is torn (short, or its CRC fails) or
 * stale (a sequence number from before the log last started over).
 */
function readLog(
  fd: number,
  size: number,
  path: string,
): { records: LogRecord[]; end: number; next: number } {
  const h = Buffer.alloc(headerBytes);
  readSync(fd, h, 0, headerBytes, 0);
  if (h.readUInt32LE(0) !== magic || h.readUInt32LE(16) !== crc32(h.subarray(0, 16))) {
    // Only a crash in the middle of rewriting the header's first sector
    // could tear it, and sector writes are atomic: this is damage, and
    // acknowledged writes may be behind it. Refuse rather than guess.
    throw new Error(`${path}: not a Conclave write-ahead log (its header is damaged)`);
  }
  if (h.readUInt32LE(4) !== version) {
    throw new Error(`${path}: write-ahead log version ${h.readUInt32LE(4)}, not ${version}`);
  }
  const first = readSeq(h, 8);
  const records: LogRecord[] = [];
  let at = headerBytes;
  let next = first;
  const head = Buffer.alloc(recordHeadBytes);
  while (at + recordHeadBytes <= size) {
    readSync(fd, head, 0, recordHeadBytes, at);
    const length = head.readUInt32LE(0);
    if (readSeq(head, 8) !== next || at + recordHeadBytes + length > size) break;
    const body = Buffer.alloc(8 + length);
    head.copy(body, 0, 8, 16);
    readSync(fd, body, 8, length, at + recordHeadBytes);
    if (crc32(body) !== head.readUInt32LE(4)) break;
    records.push({ seq: next, payload: new Uint8Array(body.buffer, body.byteOffset + 8, length) });
    at += recordHeadBytes + length;
    next++;
  }
  return { records, end: at, next };
}
