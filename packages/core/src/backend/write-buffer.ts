import { compareBytes } from "../kv/compare-bytes.js";
import { bytesToKeyString } from "../mvcc/key-string.js";
import type { BackendEntry, BackendOp } from "./backend.js";

/** A key's value in a buffer: its bytes, or undefined where a write deleted it. */
interface Buffered {
  key: Uint8Array;
  /** `key` as {@link bytesToKeyString} makes it: the entry's name in its bucket's map. */
  name: string;
  value: Uint8Array | undefined;
}

/** One bucket's buffered writes. */
interface BufferedBucket {
  byName: Map<string, Buffered>;
  /**
   * The entries in key order, kept as writes come: most buckets are written
   * in key order (a revision's records come after the last revision's), so
   * an entry is appended; one that is not drops the order until a range
   * needs it again.
   */
  sorted: Buffered[] | undefined;
}

/**
 * Writes acknowledged (their log record is on disk) but not yet in the
 * store's own file, which reads must see — etcd's `txWriteBuffer`, read
 * before bbolt. One generation gathers new writes; older generations are
 * being written to the store; a generation is dropped once the store has
 * it durably. Keys are bucket → key (as a binary string) → latest value.
 */
export class WriteBuffer {
  /** The sequence number of the last commit in this generation (0: none). */
  lastSeq = 0;
  /** Bytes of keys and values this generation took (overwritten ones too): what it may add to the store's file. */
  bytes = 0;
  private readonly buckets = new Map<string, BufferedBucket>();
  private entryCount = 0;

  get size(): number {
    return this.entryCount;
  }

  /**
   * Takes the writes of one commit, later ones over earlier ones.
   *
   * Why the key order is kept here rather than made by the range that needs
   * it: a range over a generation sorted all of the generation's entries
   * after every commit, and a generation gathers up to 100 ms of writes.
   * Watch creation reads history this way (through `collect`), so with Go
   * clientv3's lock, which opens a watch per acquisition, each one sorted
   * some hundreds of entries into a new array that the generation then kept
   * (BENCHMARKS.md, "A generation's key order kept as it is written").
   */
  add(ops: readonly BackendOp[], seq: number): void {
    for (const op of ops) {
      let bucket = this.buckets.get(op.bucket);
      if (bucket === undefined) {
        bucket = { byName: new Map(), sorted: [] };
        this.buckets.set(op.bucket, bucket);
      }
      const k = bytesToKeyString(op.key);
      const entry: Buffered = { key: op.key, name: k, value: op.value };
      const prior = bucket.byName.get(k);
      bucket.byName.set(k, entry);
      this.bytes += op.key.length + (op.value?.length ?? 0);
      const sorted = bucket.sorted;
      if (prior !== undefined) {
        // The key is there: its place in the order stays.
        if (sorted !== undefined) sorted[firstAtOrAfter(sorted, op.key)] = entry;
        continue;
      }
      this.entryCount++;
      if (sorted === undefined) continue;
      const last = sorted[sorted.length - 1];
      if (last === undefined || compareBytes(last.key, op.key) < 0) sorted.push(entry);
      else bucket.sorted = undefined;
    }
    this.lastSeq = seq;
  }

  /**
   * The buffered value of a key (given as {@link bytesToKeyString} makes it):
   * `null` if not buffered, undefined if deleted.
   */
  get(bucket: string, key: string): Uint8Array | undefined | null {
    const b = this.buckets.get(bucket);
    if (b === undefined) return null;
    const hit = b.byName.get(key);
    return hit === undefined ? null : hit.value;
  }

  /** The buffered entries of `bucket` with `start <= key < end`, into `into` (later generations after). */
  collect(
    bucket: string,
    start: Uint8Array | undefined,
    end: Uint8Array | undefined,
    into: Map<string, Buffered>,
  ): void {
    const b = this.buckets.get(bucket);
    if (b === undefined) return;
    let entries = b.sorted;
    if (entries === undefined) {
      entries = [...b.byName.values()].sort((x, y) => compareBytes(x.key, y.key));
      b.sorted = entries;
    }
    const from = start === undefined ? 0 : firstAtOrAfter(entries, start);
    for (let i = from; i < entries.length; i++) {
      const e = entries[i] as Buffered;
      if (end !== undefined && compareBytes(e.key, end) >= 0) break;
      into.set(e.name, e);
    }
  }

  /** Each bucket's largest key written in this generation (deletes too). */
  maxKeys(): Array<[string, Uint8Array]> {
    const out: Array<[string, Uint8Array]> = [];
    for (const [bucket, b] of this.buckets) {
      let max = b.sorted?.at(-1)?.key;
      if (max === undefined) {
        for (const e of b.byName.values())
          if (max === undefined || compareBytes(e.key, max) > 0) max = e.key;
      }
      if (max !== undefined) out.push([bucket, max]);
    }
    return out;
  }

  /** Every buffered write as backend operations, for the store's transaction. */
  ops(): BackendOp[] {
    const out: BackendOp[] = [];
    for (const [bucket, b] of this.buckets) {
      for (const e of b.byName.values()) out.push({ bucket, key: e.key, value: e.value });
    }
    return out;
  }
}

/** The index of the first entry whose key is at or after `key` (entries in key order). */
function firstAtOrAfter(entries: readonly Buffered[], key: Uint8Array): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes((entries[mid] as Buffered).key, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * `stored` (the store's entries of a range, ascending) with the buffered
 * writes of `generations` (oldest first) laid over it: a buffered value
 * replaces the stored one, a buffered delete hides it, buffered new keys
 * appear in order.
 */
export function* overlayRange(
  generations: readonly WriteBuffer[],
  bucket: string,
  start: Uint8Array | undefined,
  end: Uint8Array | undefined,
  stored: Iterable<BackendEntry>,
): Iterable<BackendEntry> {
  const latest = new Map<string, Buffered>();
  for (const g of generations) g.collect(bucket, start, end, latest);
  if (latest.size === 0) {
    yield* stored;
    return;
  }
  const buffered = [...latest.values()].sort((a, b) => compareBytes(a.key, b.key));
  let i = 0;
  for (const entry of stored) {
    while (i < buffered.length && compareBytes((buffered[i] as Buffered).key, entry.key) < 0) {
      const b = buffered[i++] as Buffered;
      if (b.value !== undefined) yield { key: b.key, value: b.value };
    }
    if (i < buffered.length && compareBytes((buffered[i] as Buffered).key, entry.key) === 0) {
      const b = buffered[i++] as Buffered;
      if (b.value !== undefined) yield { key: b.key, value: b.value };
      continue;
    }
    yield entry;
  }
  for (; i < buffered.length; i++) {
    const b = buffered[i] as Buffered;
    if (b.value !== undefined) yield { key: b.key, value: b.value };
  }
}

/**
 * The writes of one commit as a log record's payload:
 * `[u32 count]` then per write `[u8 bucket length][bucket][u32 key length][key][u32 value length + 1, 0 for a delete][value]`.
 */
export function encodeOps(ops: readonly BackendOp[]): Uint8Array {
  let size = 4;
  for (const op of ops) {
    size += 1 + bucketBytes(op.bucket).length + 4 + op.key.length + 4 + (op.value?.length ?? 0);
  }
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt32LE(ops.length, 0);
  for (const op of ops) {
    const name = bucketBytes(op.bucket);
    at = out.writeUInt8(name.length, at);
    out.set(name, at);
    at += name.length;
    at = out.writeUInt32LE(op.key.length, at);
    out.set(op.key, at);
    at += op.key.length;
    if (op.value === undefined) {
      at = out.writeUInt32LE(0, at);
    } else {
      at = out.writeUInt32LE(op.value.length + 1, at);
      out.set(op.value, at);
      at += op.value.length;
    }
  }
  return out;
}

/** Bucket names in UTF-8, each encoded once: a store has a fixed handful, and every write names one. */
const encodedBucketNames = new Map<string, Buffer>();

function bucketBytes(bucket: string): Buffer {
  let name = encodedBucketNames.get(bucket);
  if (name === undefined) {
    name = Buffer.from(bucket, "utf8");
    encodedBucketNames.set(bucket, name);
  }
  return name;
}

/** The writes of a payload made by {@link encodeOps}. Throws on a malformed one. */
export function decodeOps(payload: Uint8Array): BackendOp[] {
  const b = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const count = b.readUInt32LE(0);
  let at = 4;
  const ops: BackendOp[] = [];
  const take = (n: number) => {
    if (at + n > b.length) throw new Error("write-ahead log: malformed record");
    const v = new Uint8Array(b.subarray(at, at + n));
    at += n;
    return v;
  };
  for (let i = 0; i < count; i++) {
    const nameLength = b.readUInt8(at);
    at += 1;
    const bucket = Buffer.from(take(nameLength)).toString("utf8");
    const keyLength = b.readUInt32LE(at);
    at += 4;
    const key = take(keyLength);
    const valueLength = b.readUInt32LE(at);
    at += 4;
    const value = valueLength === 0 ? undefined : take(valueLength - 1);
    ops.push({ bucket, key, value });
  }
  return ops;
}
