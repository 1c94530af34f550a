import {
  bboltMagic,
  bboltVersion,
  branchElementSize,
  bucketHeaderSize,
  bucketLeafFlag,
  defaultPageSize,
  fnv64a,
  leafElementSize,
  metaChecksumOffset,
  PageFlags,
  pageHeaderSize,
} from "./page-format.js";

/** Where the writer puts its pages: `bytes` at byte `position` of the file. */
export interface BboltSink {
  write(bytes: Uint8Array, position: number): void;
}

export interface BboltWriterOptions {
  sink: BboltSink;
  /** Page size in bytes. Default 4096 (bbolt's on Linux/amd64); a power of two ≥ 1024. */
  pageSize?: number;
}

/** What {@link BboltWriter.finish} wrote. */
export interface BboltFileInfo {
  /** Pages in the file (the meta's high-water mark). */
  pages: number;
  /** File size in bytes: pages × page size. */
  size: number;
}

/**
 * Writes a bbolt file front to back in one pass, as `bbolt compact` would lay
 * it out: every page full (no free space kept for later inserts), no free
 * pages, so the file is as small as the format allows.
 *
 * Buckets nest: `beginBucket` opens a bucket inside the open one (the root
 * bucket at first), `put` adds a key to the open bucket, `endBucket` closes
 * it. Within a bucket, names of nested buckets and keys share one key space
 * and must arrive in strictly ascending bytewise order (bbolt's order); the
 * writer throws otherwise. A bucket that ends small (one leaf of at most a
 * quarter page, with no nested buckets) is stored inline in its parent's
 * leaf, as bbolt stores it; others get pages of their own.
 *
 * Pages are handed to the sink as soon as they are full, so memory holds one
 * leaf per open bucket plus one branch entry (first key, page id) per page
 * written. The two meta pages (0 and 1) and the freelist page (2) are
 * written by `finish`.
 */
export interface BboltWriter {
  beginBucket(name: Uint8Array): void;
  put(key: Uint8Array, value: Uint8Array): void;
  endBucket(): void;
  /** Closes the root bucket and writes the freelist and both meta pages. */
  finish(): BboltFileInfo;
}

interface Element {
  flags: number;
  key: Uint8Array;
  value: Uint8Array;
}

interface BucketBuilder {
  name: Uint8Array;
  /** The leaf being filled. */
  leaf: Element[];
  /** Bytes the leaf takes as a page: header, element headers, keys and values. */
  leafBytes: number;
  /** Pages written for this bucket so far: first key and page id. */
  written: Array<{ key: Uint8Array; pgid: number }>;
  lastKey: Uint8Array | undefined;
  hasNested: boolean;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

const freelistPgid = 2;
const firstDataPgid = 3;

export function createBboltWriter(options: BboltWriterOptions): BboltWriter {
  const { sink } = options;
  const pageSize = options.pageSize ?? defaultPageSize;
  if (pageSize < 1024 || (pageSize & (pageSize - 1)) !== 0) {
    throw new Error(`bbolt: page size ${pageSize} is not a power of two ≥ 1024`);
  }
  let next = firstDataPgid;
  const newBucket = (name: Uint8Array): BucketBuilder => ({
    name,
    leaf: [],
    leafBytes: pageHeaderSize,
    written: [],
    lastKey: undefined,
    hasNested: false,
  });
  const stack: BucketBuilder[] = [newBucket(new Uint8Array(0))];
  let finished = false;

  const top = (): BucketBuilder => {
    const b = stack[stack.length - 1];
    if (b === undefined || finished) throw new Error("bbolt: writer is finished");
    return b;
  };

  /** Writes `bytes` (a page image, maybe spanning pages) at a new page id; returns it. */
  function writePages(image: Uint8Array): number {
    const pgid = next;
    const count = Math.ceil(image.length / pageSize);
    next += count;
    const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
    view.setBigUint64(0, BigInt(pgid), true);
    view.setUint32(12, count - 1, true);
    sink.write(image, pgid * pageSize);
    return pgid;
  }

  /** A leaf page image of `elements` (padded to whole pages unless `inline`). */
  function leafImage(elements: readonly Element[], bytes: number, inline: boolean): Uint8Array {
    const size = inline ? bytes : Math.ceil(bytes / pageSize) * pageSize;
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    view.setUint16(8, PageFlags.leaf, true);
    view.setUint16(10, elements.length, true);
    let data = pageHeaderSize + elements.length * leafElementSize;
    elements.forEach((e, i) => {
      const at = pageHeaderSize + i * leafElementSize;
      view.setUint32(at, e.flags, true);
      view.setUint32(at + 4, data - at, true);
      view.setUint32(at + 8, e.key.length, true);
      view.setUint32(at + 12, e.value.length, true);
      out.set(e.key, data);
      out.set(e.value, data + e.key.length);
      data += e.key.length + e.value.length;
    });
    return out;
  }

  function flushLeaf(b: BucketBuilder): void {
    const first = b.leaf[0];
    if (first === undefined) return;
    const pgid = writePages(leafImage(b.leaf, b.leafBytes, false));
    b.written.push({ key: first.key, pgid });
    b.leaf = [];
    b.leafBytes = pageHeaderSize;
  }

  function add(b: BucketBuilder, e: Element): void {
    if (b.lastKey !== undefined && compareBytes(b.lastKey, e.key) >= 0) {
      throw new Error("bbolt: keys must be added in strictly ascending order");
    }
    b.lastKey = e.key;
    const bytes = leafElementSize + e.key.length + e.value.length;
    if (b.leaf.length > 0 && b.leafBytes + bytes > pageSize) flushLeaf(b);
    b.leaf.push(e);
    b.leafBytes += bytes;
  }

  /** Writes branch levels over `children` until one page remains; returns the root page id. */
  function writeBranches(children: Array<{ key: Uint8Array; pgid: number }>): number {
    let level = children;
    while (level.length > 1) {
      const up: Array<{ key: Uint8Array; pgid: number }> = [];
      let group: Array<{ key: Uint8Array; pgid: number }> = [];
      let bytes = pageHeaderSize;
      const flush = () => {
        const first = group[0];
        if (first === undefined) return;
        up.push({ key: first.key, pgid: writePages(branchImage(group, bytes)) });
        group = [];
        bytes = pageHeaderSize;
      };
      for (const c of level) {
        const size = branchElementSize + c.key.length;
        if (group.length > 0 && bytes + size > pageSize) flush();
        group.push(c);
        bytes += size;
      }
      flush();
      level = up;
    }
    const root = level[0];
    if (root === undefined) throw new Error("bbolt: no pages to root");
    return root.pgid;
  }

  function branchImage(group: Array<{ key: Uint8Array; pgid: number }>, bytes: number): Uint8Array {
    const out = new Uint8Array(Math.ceil(bytes / pageSize) * pageSize);
    const view = new DataView(out.buffer);
    view.setUint16(8, PageFlags.branch, true);
    view.setUint16(10, group.length, true);
    let data = pageHeaderSize + group.length * branchElementSize;
    group.forEach((c, i) => {
      const at = pageHeaderSize + i * branchElementSize;
      view.setUint32(at, data - at, true);
      view.setUint32(at + 4, c.key.length, true);
      view.setBigUint64(at + 8, BigInt(c.pgid), true);
      out.set(c.key, data);
      data += c.key.length;
    });
    return out;
  }

  /** The bucket's value in its parent: header, plus its leaf when inline. */
  function closeBucket(b: BucketBuilder, mayInline: boolean): { root: number; value: Uint8Array } {
    if (mayInline && b.written.length === 0 && !b.hasNested && b.leafBytes <= pageSize / 4) {
      const value = new Uint8Array(bucketHeaderSize + b.leafBytes);
      value.set(leafImage(b.leaf, b.leafBytes, true), bucketHeaderSize);
      return { root: 0, value };
    }
    if (b.written.length === 0 || b.leaf.length > 0) flushLeaf(b);
    if (b.written.length === 0) {
      // An empty bucket of its own: one leaf page with no elements.
      b.written.push({
        key: new Uint8Array(0),
        pgid: writePages(leafImage([], pageHeaderSize, false)),
      });
    }
    const root = writeBranches(b.written);
    const value = new Uint8Array(bucketHeaderSize);
    new DataView(value.buffer).setBigUint64(0, BigInt(root), true);
    return { root, value };
  }

  function metaImage(pgid: number, root: number, txid: number): Uint8Array {
    const out = new Uint8Array(pageSize);
    const view = new DataView(out.buffer);
    view.setBigUint64(0, BigInt(pgid), true);
    view.setUint16(8, PageFlags.meta, true);
    const m = pageHeaderSize;
    view.setUint32(m, bboltMagic, true);
    view.setUint32(m + 4, bboltVersion, true);
    view.setUint32(m + 8, pageSize, true);
    view.setUint32(m + 12, 0, true);
    view.setBigUint64(m + 16, BigInt(root), true);
    view.setBigUint64(m + 24, 0n, true);
    view.setBigUint64(m + 32, BigInt(freelistPgid), true);
    view.setBigUint64(m + 40, BigInt(next), true);
    view.setBigUint64(m + 48, BigInt(txid), true);
    const sum = fnv64a(out.subarray(m, m + metaChecksumOffset));
    view.setBigUint64(m + metaChecksumOffset, sum, true);
    return out;
  }

  return {
    beginBucket(name) {
      const parent = top();
      if (parent.lastKey !== undefined && compareBytes(parent.lastKey, name) >= 0) {
        throw new Error("bbolt: keys must be added in strictly ascending order");
      }
      parent.hasNested = true;
      stack.push(newBucket(name.slice()));
    },
    put(key, value) {
      const b = top();
      if (stack.length === 1) throw new Error("bbolt: the root bucket holds only buckets");
      add(b, { flags: 0, key: key.slice(), value });
    },
    endBucket() {
      const b = top();
      if (stack.length === 1) throw new Error("bbolt: no bucket is open");
      stack.pop();
      const { value } = closeBucket(b, true);
      add(top(), { flags: bucketLeafFlag, key: b.name, value });
    },
    finish() {
      const rootBucket = top();
      if (stack.length !== 1) throw new Error("bbolt: a bucket is still open");
      const { root } = closeBucket(rootBucket, false);
      finished = true;
      const freelist = new Uint8Array(pageSize);
      const fv = new DataView(freelist.buffer);
      fv.setBigUint64(0, BigInt(freelistPgid), true);
      fv.setUint16(8, PageFlags.freelist, true);
      sink.write(freelist, freelistPgid * pageSize);
      // bbolt's init writes txid 0 to page 0 and 1 to page 1; the higher one is current.
      sink.write(metaImage(0, root, 0), 0);
      sink.write(metaImage(1, root, 1), pageSize);
      return { pages: next, size: next * pageSize };
    },
  };
}
