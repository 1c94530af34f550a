import { Buffer } from "node:buffer";
import { crc32 } from "node:zlib";
import { type Backend, type BackendOp, LocalBuckets } from "../backend/backend.js";
import { type IndexEntry, type KeyIndex, singleSlotLength } from "./key-index.js";

/**
 * The index checkpoint: the whole in-memory index (every key with its packed
 * revisions, and the lease of each leased key) written to the backend's
 * local `indexCheckpoint` bucket, so that a start loads it in bulk and then
 * replays only the records written after it, instead of decoding every
 * record of the `key` bucket (restore-index.ts). It is derived data: the
 * `key` bucket stays the truth, and a checkpoint that is missing, damaged or
 * does not match the store is ignored.
 *
 * Layout: a header entry (key `0x00`) and chunk entries (key `0x01` + chunk
 * number, u32 big-endian) of about {@link chunkBytes} each, holding whole keys:
 *
 *   header: format u32 | revision f64 | compaction revision f64 |
 *           keys u32 | chunks u32 | CRC-32 of each chunk u32…
 *   key:    varint key length | key | varint (revision count·2 + leased) |
 *           varint created | varint version |
 *           (varint main − previous main | varint sub·2+tombstone)… |
 *           lease i64 when leased
 *
 * Keys ascend (the tree's order), so loading needs no sort. Written in one
 * backend commit, after every write it covers is durable, so an entry set is
 * whole; see kv-store.ts for when.
 */
export interface IndexCheckpoint {
  /** Every record of main revision ≤ this is in it, none above. */
  rev: number;
  /** The store's compaction revision when it was taken (-1: never compacted). */
  compactRev: number;
  /** Ascending, distinct. */
  keys: string[];
  /**
   * `revisions[i]` belongs to `keys[i]`: packed as `KeyRevisions` says, or for a key of a single revision a slot of `singles` (see
   * {@link IndexEntry}).
   */
  revisions: IndexEntry[];
  /** The single-revision keys' numbers, {@link singleSlotLength} per slot. */
  singles: Float64Array;
  /** Keys attached to a lease, and that lease. */
  leased: Map<string, bigint>;
  /** Chunk entries it occupies (the next checkpoint deletes those it does not reuse). */
  chunks: number;
}

/** Bumped when the layout changes: a checkpoint of another format is ignored. */
const format = 0x43_58_30_31;
/** A chunk closes at the first key that brings it past this many bytes. */
const chunkBytes = 1 << 20;
const headerFixedBytes = 4 + 8 + 8 + 4 + 4;
const headerKey = new Uint8Array([0]);

function chunkKey(i: number): Uint8Array {
  const k = new Uint8Array(5);
  k[0] = 1;
  new DataView(k.buffer).setUint32(1, i);
  return k;
}

/** An output buffer that grows by doubling. */
class Writer {
  buf = Buffer.allocUnsafe(1 << 16);
  o = 0;
  ensure(n: number): void {
    if (this.o + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.o + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.o);
    this.buf = next;
  }
  /** An unsigned LEB128 varint of a non-negative safe integer (callers ensure 8 bytes). */
  varint(n: number): void {
    const b = this.buf;
    let o = this.o;
    while (n >= 0x80) {
      b[o++] = (n % 0x80) + 0x80;
      n = Math.floor(n / 0x80);
    }
    b[o++] = n;
    this.o = o;
  }
}

/**
 * Encodes `index` as of main revision `rev` into backend operations: the
 * header, the chunks, and deletes of chunks a previous checkpoint of
 * `previousChunks` entries used beyond them. `leaseOf` names each key's
 * lease (0: none). Synchronous: the index must not change meanwhile.
 */
export function encodeIndexCheckpoint(
  index: KeyIndex,
  leaseOf: ((k: string) => bigint) | undefined,
  rev: number,
  compactRev: number,
  previousChunks: number,
): { ops: BackendOp[]; chunks: number } {
  const w = new Writer();
  const bounds: number[] = [0];
  let keys = 0;
  index.forEach((k, e) => {
    const revisions = (e.length - 2) / 2;
    const lease = leaseOf === undefined || e[1] === 0 ? 0n : leaseOf(k);
    // Varints take at most 8 bytes for numbers below 2^53.
    w.ensure(k.length + 8 * (4 + e.length) + 8);
    w.varint(k.length);
    w.o += w.buf.write(k, w.o, "latin1");
    w.varint(revisions * 2 + (lease === 0n ? 0 : 1));
    w.varint(e[0] as number);
    w.varint(e[1] as number);
    let prev = 0;
    for (let i = 2; i < e.length; i += 2) {
      const main = e[i] as number;
      w.varint(main - prev);
      w.varint(e[i + 1] as number);
      prev = main;
    }
    if (lease !== 0n) {
      w.buf.writeBigInt64BE(lease, w.o);
      w.o += 8;
    }
    keys++;
    if (w.o - (bounds[bounds.length - 1] as number) >= chunkBytes) bounds.push(w.o);
  });
  if (w.o > (bounds[bounds.length - 1] as number)) bounds.push(w.o);
  const chunks = bounds.length - 1;
  const header = Buffer.alloc(headerFixedBytes + 4 * chunks);
  header.writeUInt32BE(format, 0);
  header.writeDoubleBE(rev, 4);
  header.writeDoubleBE(compactRev, 12);
  header.writeUInt32BE(keys, 20);
  header.writeUInt32BE(chunks, 24);
  const bucket = LocalBuckets.indexCheckpoint;
  const ops: BackendOp[] = [];
  for (let i = 0; i < chunks; i++) {
    const value = w.buf.subarray(bounds[i], bounds[i + 1]);
    header.writeUInt32BE(crc32(value), headerFixedBytes + 4 * i);
    ops.push({ bucket, key: chunkKey(i), value });
  }
  for (let i = chunks; i < previousChunks; i++) {
    ops.push({ bucket, key: chunkKey(i), value: undefined });
  }
  ops.push({ bucket, key: headerKey, value: header });
  return { ops, chunks };
}

/** Deletes of a checkpoint's entries, for a store that must not trust it any more. */
export function dropIndexCheckpointOps(chunks: number): BackendOp[] {
  const bucket = LocalBuckets.indexCheckpoint;
  const ops: BackendOp[] = [{ bucket, key: headerKey, value: undefined }];
  for (let i = 0; i < chunks; i++) ops.push({ bucket, key: chunkKey(i), value: undefined });
  return ops;
}

const latin1Slice = Buffer.prototype.latin1Slice as (
  this: Uint8Array,
  s: number,
  e: number,
) => string;

/**
 * Reads the stored checkpoint, or undefined when there is none or it is of
 * another format, incomplete or damaged (a chunk's checksum, the key count or
 * the key order disagree). Whether it fits the store (its revisions) is the
 * caller's to check.
 */
export function readIndexCheckpoint(backend: Backend): IndexCheckpoint | undefined {
  const bucket = LocalBuckets.indexCheckpoint;
  const raw = backend.get(bucket, headerKey);
  if (raw === undefined || raw.length < headerFixedBytes) return undefined;
  const h = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (h.readUInt32BE(0) !== format) return undefined;
  const chunks = h.readUInt32BE(24);
  if (raw.length !== headerFixedBytes + 4 * chunks) return undefined;
  const keyCount = h.readUInt32BE(20);
  const out: IndexCheckpoint = {
    rev: h.readDoubleBE(4),
    compactRev: h.readDoubleBE(12),
    keys: [],
    revisions: [],
    singles: new Float64Array(keyCount * singleSlotLength),
    leased: new Map(),
    chunks,
  };
  let last = "";
  for (let i = 0; i < chunks; i++) {
    const c = backend.get(bucket, chunkKey(i));
    if (c === undefined || crc32(c) !== h.readUInt32BE(headerFixedBytes + 4 * i)) {
      return undefined;
    }
    try {
      last = decodeChunk(c, out, last);
    } catch {
      // Out-of-range reads included: whatever is wrong inside, the scan is the fallback.
      return undefined;
    }
  }
  if (out.keys.length !== keyCount) return undefined;
  return out;
}

/**
 * Decodes one chunk's keys into `out`; `last` is the previous key, returns
 * the chunk's last. Throws on anything out of place.
 */
function decodeChunk(c: Uint8Array, out: IndexCheckpoint, last: string): string {
  const end = c.length;
  let o = 0;
  const varint = (): number => {
    let b = c[o++] as number;
    if (b < 0x80) return b;
    let v = b - 0x80;
    let m = 0x80;
    do {
      b = c[o++] as number;
      v += (b & 0x7f) * m;
      m *= 0x80;
    } while (b >= 0x80);
    return v;
  };
  const { keys, revisions, leased, singles } = out;
  while (o < end) {
    const keyLength = varint();
    const k = latin1Slice.call(c, o, o + keyLength);
    o += keyLength;
    if (keys.length > 0 && !(k > last)) throw new Error("index checkpoint: keys out of order");
    const n = varint();
    const count = n >>> 1;
    const created = varint();
    const version = varint();
    let e: IndexEntry;
    if (count === 1) {
      // No object: a slot of the single-revision table (most keys have one revision).
      e = keys.length;
      const s = e * singleSlotLength;
      if (s >= singles.length) throw new Error("index checkpoint: more keys than its header says");
      singles[s] = created;
      singles[s + 1] = version;
      singles[s + 2] = varint();
      singles[s + 3] = varint();
    } else {
      e = [created, version];
      let main = 0;
      for (let i = 0; i < count; i++) {
        main += varint();
        e.push(main, varint());
      }
      // push leaves growth slack; the index keeps an exact-size copy.
      e = e.slice();
    }
    if ((n & 1) === 1) {
      leased.set(k, new DataView(c.buffer, c.byteOffset + o, 8).getBigInt64(0));
      o += 8;
    }
    if (o > end || count === 0) throw new Error("index checkpoint: truncated key");
    keys.push(k);
    revisions.push(e);
    last = k;
  }
  return last;
}
