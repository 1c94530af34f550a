import {
  bboltMagic,
  bboltVersion,
  branchElementSize,
  bucketHeaderSize,
  bucketLeafFlag,
  fnv64a,
  leafElementSize,
  metaChecksumOffset,
  metaSize,
  noFreelist,
  PageFlags,
  pageHeaderSize,
} from "./page-format.js";

/** Random access to a bbolt file's bytes: a buffer, or positional reads of a file. */
export interface PageSource {
  /** File size in bytes. */
  readonly size: number;
  /** `length` bytes from `position` (fewer only at the end of the file). */
  read(position: number, length: number): Uint8Array;
}

/** One key of a bucket: a plain value, or (`bucket` set) a nested bucket. */
export interface BboltEntry {
  key: Uint8Array;
  /** The value; empty for a nested bucket. */
  value: Uint8Array;
  /** The nested bucket this key names, when it names one. */
  bucket: BboltBucket | undefined;
}

export interface BboltBucket {
  /** Every key in ascending order, values and nested buckets alike (bbolt's cursor). */
  entries(): Iterable<BboltEntry>;
  /** The value under `key`, or undefined (also for a nested bucket's name). */
  get(key: Uint8Array): Uint8Array | undefined;
  /** The nested bucket named `name`, or undefined. */
  bucket(name: Uint8Array | string): BboltBucket | undefined;
}

/** A bbolt file opened for reading at its current meta page. */
export interface BboltReader extends BboltBucket {
  readonly pageSize: number;
  /** The txid of the meta page in use. */
  readonly txid: bigint;
  /** Pages below the high-water mark. */
  readonly pages: number;
  /** Page id of the freelist, or undefined when not stored (NoFreelistSync). */
  readonly freelist: number | undefined;
}

interface Meta {
  pageSize: number;
  root: number;
  freelist: number | undefined;
  pages: number;
  txid: bigint;
}

/** The meta at `bytes` (a meta page), or undefined when its magic, version or checksum is wrong. */
function parseMeta(bytes: Uint8Array): Meta | undefined {
  if (bytes.length < pageHeaderSize + metaSize) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset + pageHeaderSize, metaSize);
  if (v.getUint32(0, true) !== bboltMagic || v.getUint32(4, true) !== bboltVersion)
    return undefined;
  const checksum = v.getBigUint64(metaChecksumOffset, true);
  const sum = fnv64a(bytes.subarray(pageHeaderSize, pageHeaderSize + metaChecksumOffset));
  if (checksum !== 0n && checksum !== sum) return undefined;
  const freelist = v.getBigUint64(32, true);
  return {
    pageSize: v.getUint32(8, true),
    root: Number(v.getBigUint64(16, true)),
    freelist: freelist === noFreelist ? undefined : Number(freelist),
    pages: Number(v.getBigUint64(40, true)),
    txid: v.getBigUint64(48, true),
  };
}

const encoder = new TextEncoder();

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/**
 * Opens a bbolt file: picks the valid meta page with the higher txid (as
 * bbolt does after a torn write of the other), then reads pages on demand, so
 * a file far larger than memory can be walked. Throws "invalid database"
 * when neither meta is valid. Values returned are copies the caller owns.
 */
export function openBbolt(source: PageSource): BboltReader {
  const first = source.read(0, 4096);
  const meta0 = parseMeta(first);
  // Meta 1 sits one page in; the page size comes from meta 0, or is guessed when it is torn.
  const sizes =
    meta0 !== undefined ? [meta0.pageSize] : [4096, 8192, 16384, 32768, 65536, 1024, 2048];
  let meta1: Meta | undefined;
  for (const s of sizes) {
    meta1 = parseMeta(source.read(s, pageHeaderSize + metaSize));
    if (meta1 !== undefined && meta1.pageSize === s) break;
    meta1 = undefined;
  }
  const chosen =
    meta0 === undefined ? meta1 : meta1 === undefined || meta0.txid > meta1.txid ? meta0 : meta1;
  if (chosen === undefined) throw new Error("bbolt: invalid database (no valid meta page)");
  const meta: Meta = chosen;
  const { pageSize } = meta;

  /** The whole page `pgid`, overflow included. */
  function page(pgid: number): Uint8Array {
    if (pgid < 2 || pgid >= meta.pages) {
      throw new Error(`bbolt: page ${pgid} is out of bounds (${meta.pages} pages)`);
    }
    const head = source.read(pgid * pageSize, pageHeaderSize);
    const hv = new DataView(head.buffer, head.byteOffset, pageHeaderSize);
    const id = Number(hv.getBigUint64(0, true));
    if (id !== pgid) throw new Error(`bbolt: page ${pgid} says it is page ${id}`);
    const overflow = hv.getUint32(12, true);
    return source.read(pgid * pageSize, (overflow + 1) * pageSize);
  }

  /** Elements of a leaf page image (a page, or an inline bucket's page). */
  function* leafEntries(p: Uint8Array): Generator<BboltEntry> {
    const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const count = v.getUint16(10, true);
    for (let i = 0; i < count; i++) {
      const at = pageHeaderSize + i * leafElementSize;
      const flags = v.getUint32(at, true);
      const pos = at + v.getUint32(at + 4, true);
      const ksize = v.getUint32(at + 8, true);
      const vsize = v.getUint32(at + 12, true);
      const key = p.slice(pos, pos + ksize);
      const value = p.slice(pos + ksize, pos + ksize + vsize);
      if ((flags & bucketLeafFlag) !== 0) {
        yield { key, value: new Uint8Array(0), bucket: bucketAt(value) };
      } else {
        yield { key, value, bucket: undefined };
      }
    }
  }

  /** Children of a branch page: first key and page id. */
  function branchChildren(p: Uint8Array): Array<{ key: Uint8Array; pgid: number }> {
    const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const count = v.getUint16(10, true);
    const out: Array<{ key: Uint8Array; pgid: number }> = [];
    for (let i = 0; i < count; i++) {
      const at = pageHeaderSize + i * branchElementSize;
      const pos = at + v.getUint32(at, true);
      const ksize = v.getUint32(at + 4, true);
      out.push({ key: p.subarray(pos, pos + ksize), pgid: Number(v.getBigUint64(at + 8, true)) });
    }
    return out;
  }

  const flagsOf = (p: Uint8Array) => new DataView(p.buffer, p.byteOffset).getUint16(8, true);

  function* walk(pgid: number): Generator<BboltEntry> {
    const p = page(pgid);
    const flags = flagsOf(p);
    if ((flags & PageFlags.leaf) !== 0) {
      yield* leafEntries(p);
    } else if ((flags & PageFlags.branch) !== 0) {
      for (const c of branchChildren(p)) yield* walk(c.pgid);
    } else {
      throw new Error(`bbolt: page ${pgid} is neither a branch nor a leaf (flags ${flags})`);
    }
  }

  /** The leaf page that holds `key` if present, descending from `pgid`. */
  function findLeaf(pgid: number, key: Uint8Array): Uint8Array {
    let p = page(pgid);
    while ((flagsOf(p) & PageFlags.branch) !== 0) {
      const children = branchChildren(p);
      let chosen = children[0];
      for (const c of children) {
        if (compareBytes(c.key, key) <= 0) chosen = c;
        else break;
      }
      if (chosen === undefined) return new Uint8Array(pageHeaderSize);
      p = page(chosen.pgid);
    }
    return p;
  }

  function makeBucket(
    entries: () => Iterable<BboltEntry>,
    leafFor: (key: Uint8Array) => Uint8Array,
  ): BboltBucket {
    const lookup = (key: Uint8Array) => {
      for (const e of leafEntries(leafFor(key))) {
        if (compareBytes(e.key, key) === 0) return e;
      }
      return undefined;
    };
    return {
      entries,
      get: (key) => {
        const e = lookup(key);
        return e === undefined || e.bucket !== undefined ? undefined : e.value;
      },
      bucket: (name) => lookup(typeof name === "string" ? encoder.encode(name) : name)?.bucket,
    };
  }

  /** A nested bucket from its value in the parent: header, and an inline page when root is 0. */
  function bucketAt(value: Uint8Array): BboltBucket {
    const root = Number(
      new DataView(value.buffer, value.byteOffset, bucketHeaderSize).getBigUint64(0, true),
    );
    if (root === 0) {
      const inline = value.subarray(bucketHeaderSize);
      return makeBucket(
        () => leafEntries(inline),
        () => inline,
      );
    }
    return makeBucket(
      () => walk(root),
      (key) => findLeaf(root, key),
    );
  }

  const rootBucket = makeBucket(
    () => walk(meta.root),
    (key) => findLeaf(meta.root, key),
  );
  return {
    ...rootBucket,
    pageSize,
    txid: meta.txid,
    pages: meta.pages,
    freelist: meta.freelist,
  };
}
