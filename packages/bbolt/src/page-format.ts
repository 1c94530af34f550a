/**
 * bbolt's on-disk layout (go.etcd.io/bbolt page.go, db.go, bucket.go), as
 * the writer and the reader share it. Every integer is little-endian, as
 * bbolt writes its structs on amd64 and arm64; byte offsets are from the
 * start of a page.
 *
 * A file is a sequence of pages of one size. Pages 0 and 1 hold the two
 * meta copies (the valid one with the higher txid wins); the meta names the
 * freelist page and the root bucket's root page. A page's header is
 * `id u64 | flags u16 | count u16 | overflow u32`; a page with `overflow` n
 * spans n+1 consecutive pages (a large value, or a freelist of many ids).
 */

/** bbolt's magic number, first field of a meta page. */
export const bboltMagic = 0xed0cdaed;
/** The data file format version bbolt 1.3 reads and writes. */
export const bboltVersion = 2;
/** The page size written by default: the OS page size bbolt picks on Linux/amd64. */
export const defaultPageSize = 4096;

export const pageHeaderSize = 16;
export const branchElementSize = 16;
export const leafElementSize = 16;
/** A bucket's header in its parent's leaf value: `root pgid u64 | sequence u64`. */
export const bucketHeaderSize = 16;
/** The meta struct: magic, version, pageSize, flags, root bucket, freelist, pgid, txid, checksum. */
export const metaSize = 64;
/** Offset of the checksum inside the meta struct: FNV-1a-64 of the bytes before it. */
export const metaChecksumOffset = 56;
/** Freelist page id meaning "not stored" (bbolt's NoFreelistSync). */
export const noFreelist = 0xffff_ffff_ffff_ffffn;

export const PageFlags = {
  branch: 0x01,
  leaf: 0x02,
  meta: 0x04,
  freelist: 0x10,
} as const;

/** A leaf element flag: the value is a nested bucket (header, and an inline page when its root is 0). */
export const bucketLeafFlag = 0x01;

/** The FNV-1a 64-bit hash bbolt checksums meta pages with. */
export function fnv64a(bytes: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffff_ffff_ffff_ffffn;
  }
  return h;
}
