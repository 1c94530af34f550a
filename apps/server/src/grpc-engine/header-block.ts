import { encodeHpackInteger } from "../authority-repair/hpack-decoder.js";

/**
 * HPACK header blocks for the gRPC engine's answers (RFC 7541).
 *
 * Why no dynamic table: an answer's headers are `:status 200`, a
 * content-type and trailers with a status and maybe a message, a few dozen
 * bytes; literals "without indexing" keep no state between blocks, so the
 * peer's SETTINGS_HEADER_TABLE_SIZE does not matter and nothing can fall out
 * of step. `:status 200` is the static table's entry 8, one byte.
 */

const status200 = 0x88;

function literalString(out: number[], bytes: Buffer): void {
  encodeHpackInteger(out, bytes.length, 7, 0);
  for (const b of bytes) out.push(b);
}

/**
 * A header block: `status` first if given (`:status`), then each header as a
 * literal without indexing with a literal name (lower-case, as HTTP/2
 * requires). Values are sent as their UTF-8 bytes, as Node sends them.
 */
export function encodeHeaderBlock(
  status: number | undefined,
  headers: Readonly<Record<string, string>>,
): Buffer {
  const out: number[] = [];
  if (status === 200) out.push(status200);
  else if (status !== undefined) {
    out.push(0x00);
    literalString(out, Buffer.from(":status", "latin1"));
    literalString(out, Buffer.from(String(status), "latin1"));
  }
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    out.push(0x00);
    literalString(out, Buffer.from(name.toLowerCase(), "latin1"));
    literalString(out, Buffer.from(value, "utf8"));
  }
  return Buffer.from(out);
}
