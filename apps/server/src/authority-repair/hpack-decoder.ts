import { decodeHuffman } from "./hpack-huffman.js";

/**
 * Names of HPACK's static table (RFC 7541, Appendix A), indexes 1–61.
 */
const staticNames: readonly string[] = [
  ":authority",
  ":method",
  ":method",
  ":path",
  ":path",
  ":scheme",
  ":scheme",
  ":status",
  ":status",
  ":status",
  ":status",
  ":status",
  ":status",
  ":status",
  "accept-charset",
  "accept-encoding",
  "accept-language",
  "accept-ranges",
  "accept",
  "access-control-allow-origin",
  "age",
  "allow",
  "authorization",
  "cache-control",
  "content-disposition",
  "content-encoding",
  "content-language",
  "content-length",
  "content-location",
  "content-range",
  "content-type",
  "cookie",
  "date",
  "etag",
  "expect",
  "expires",
  "from",
  "host",
  "if-match",
  "if-modified-since",
  "if-none-match",
  "if-range",
  "if-unmodified-since",
  "last-modified",
  "link",
  "location",
  "max-forwards",
  "proxy-authenticate",
  "proxy-authorization",
  "range",
  "referer",
  "refresh",
  "retry-after",
  "server",
  "set-cookie",
  "strict-transport-security",
  "transfer-encoding",
  "user-agent",
  "vary",
  "via",
  "www-authenticate",
];

/**
 * Values of HPACK's static table where they are not empty (indexes 2–16),
 * for decoders whose fields are served as requests (the gRPC engine).
 */
const staticValues: Readonly<Record<number, string>> = {
  2: "GET",
  3: "POST",
  4: "/",
  5: "/index.html",
  6: "http",
  7: "https",
  8: "200",
  9: "204",
  10: "206",
  11: "304",
  12: "400",
  13: "404",
  14: "500",
  16: "gzip, deflate",
};

/** The size of the dynamic table before any size update: SETTINGS_HEADER_TABLE_SIZE's initial value. */
export const defaultHeaderTableSize = 4096;

/** How a field was represented (RFC 7541 §6). */
export type FieldRepresentation = "indexed" | "incremental" | "withoutIndexing" | "neverIndexed";

/** One field of a decoded header block, with where its representation lies in the block. */
export interface DecodedField {
  readonly representation: FieldRepresentation;
  readonly name: string;
  /** The value as bytes read as latin1 (header values are octets). */
  readonly value: string;
  /** For literals: the index the name came from, 0 for a literal name. */
  readonly nameIndex: number;
  /** Offset of the representation's first byte in the block. */
  readonly start: number;
  /** Offset just past its last byte. */
  readonly end: number;
}

/**
 * The receiving side of one connection's HPACK state: it decodes each header
 * block in order and keeps the dynamic table in step with the peer's
 * encoder, as RFC 7541 requires of a decoder that must understand later
 * blocks.
 */
export interface HpackDecoder {
  /** Decodes one complete header block. Throws on a malformed block. */
  decode(block: Uint8Array): DecodedField[];
}

/** Entry overhead counted by the table size (RFC 7541 §4.1). */
const entryOverhead = 32;

export function createHpackDecoder(): HpackDecoder {
  /** Newest first, as dynamic indexes count. */
  const table: { name: string; value: string }[] = [];
  let size = 0;
  let maxSize = defaultHeaderTableSize;

  const evictTo = (limit: number) => {
    while (size > limit) {
      const oldest = table.pop();
      if (oldest === undefined) break;
      size -= oldest.name.length + oldest.value.length + entryOverhead;
    }
  };
  const add = (name: string, value: string) => {
    const entrySize = name.length + value.length + entryOverhead;
    // An entry larger than the table empties it and is not added (§4.4).
    evictTo(maxSize - entrySize);
    if (entrySize <= maxSize) {
      table.unshift({ name, value });
      size += entrySize;
    }
  };
  const entry = (index: number): { name: string; value: string } => {
    if (index >= 1 && index <= staticNames.length) {
      return { name: staticNames[index - 1] ?? "", value: staticValues[index] ?? "" };
    }
    const dynamic = table[index - staticNames.length - 1];
    if (dynamic === undefined) throw new Error(`hpack: index ${index} out of range`);
    return dynamic;
  };

  return {
    decode(block) {
      const fields: DecodedField[] = [];
      let pos = 0;
      const integer = (prefixBits: number): number => {
        const first = block[pos++];
        if (first === undefined) throw new Error("hpack: truncated integer");
        const max = 2 ** prefixBits - 1;
        let value = first & max;
        if (value < max) return value;
        let factor = 1;
        for (;;) {
          const b = block[pos++];
          if (b === undefined) throw new Error("hpack: truncated integer");
          value += (b & 0x7f) * factor;
          factor *= 128;
          if ((b & 0x80) === 0) return value;
          if (factor > 2 ** 28) throw new Error("hpack: integer too large");
        }
      };
      const string = (): string => {
        const huffman = ((block[pos] ?? 0) & 0x80) !== 0;
        const length = integer(7);
        if (pos + length > block.length) throw new Error("hpack: truncated string");
        const raw = block.subarray(pos, pos + length);
        pos += length;
        return Buffer.from(huffman ? decodeHuffman(raw) : raw).toString("latin1");
      };

      while (pos < block.length) {
        const start = pos;
        const b = block[pos] ?? 0;
        if (b & 0x80) {
          const index = integer(7);
          if (index === 0) throw new Error("hpack: index 0");
          const { name, value } = entry(index);
          fields.push({
            representation: "indexed",
            name,
            value,
            nameIndex: index,
            start,
            end: pos,
          });
          continue;
        }
        if ((b & 0xe0) === 0x20) {
          const newSize = integer(5);
          // Above what SETTINGS_HEADER_TABLE_SIZE allows (we never raise it): RFC 7541 §6.3.
          if (newSize > defaultHeaderTableSize)
            throw new Error("hpack: table size above the limit");
          maxSize = newSize;
          evictTo(maxSize);
          continue;
        }
        const representation: FieldRepresentation =
          b & 0x40 ? "incremental" : b & 0x10 ? "neverIndexed" : "withoutIndexing";
        const nameIndex = integer(representation === "incremental" ? 6 : 4);
        const name = nameIndex === 0 ? string() : entry(nameIndex).name;
        const value = string();
        if (representation === "incremental") add(name, value);
        fields.push({ representation, name, value, nameIndex, start, end: pos });
      }
      return fields;
    },
  };
}

/**
 * Appends an HPACK integer (RFC 7541 §5.1) with a `prefixBits`-bit prefix
 * whose first byte also carries `flags`.
 */
export function encodeHpackInteger(
  out: number[],
  value: number,
  prefixBits: number,
  flags: number,
): void {
  const max = 2 ** prefixBits - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
}

/**
 * Encodes a literal field as `field` represented it (same kind, same name
 * index or literal name), with `value` as a plain (not Huffman-coded)
 * string.
 */
export function encodeLiteralField(field: DecodedField, value: string): Buffer {
  const bytes: number[] = [];
  const integer = (n: number, prefixBits: number, flags: number) =>
    encodeHpackInteger(bytes, n, prefixBits, flags);
  const string = (s: string) => {
    integer(s.length, 7, 0);
    for (let i = 0; i < s.length; i++) bytes.push(s.charCodeAt(i) & 0xff);
  };
  switch (field.representation) {
    case "incremental":
      integer(field.nameIndex, 6, 0x40);
      break;
    case "neverIndexed":
      integer(field.nameIndex, 4, 0x10);
      break;
    case "withoutIndexing":
      integer(field.nameIndex, 4, 0x00);
      break;
    case "indexed":
      throw new Error("an indexed field has no literal value to encode");
  }
  if (field.nameIndex === 0) string(field.name);
  string(value);
  return Buffer.from(bytes);
}
