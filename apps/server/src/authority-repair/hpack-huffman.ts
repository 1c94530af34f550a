/**
 * Code lengths of HPACK's Huffman code (RFC 7541, Appendix B) for symbols
 * 0–255 and EOS (256). The code is canonical — codes of one length are
 * consecutive, in symbol order, and each length continues where the shorter
 * ones ended — so the lengths alone define it.
 */
const codeLengths: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
  28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5,
  6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6,
  7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23,
  23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22,
  22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22,
  23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27,
  27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25,
  24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

const eos = 256;
const maxCodeLength = 30;

/** The canonical code's decoding tables, made on first use (only repaired connections decode). */
interface CanonicalCode {
  /** Symbols ordered by code length, then by symbol. */
  readonly symbols: readonly number[];
  /** Per length: the first code of that length, or -1 if none. */
  readonly firstCode: readonly number[];
  /** Per length: the position in `symbols` of the first symbol of that length. */
  readonly firstIndex: readonly number[];
  /** Per length: how many codes have that length. */
  readonly count: readonly number[];
}

let canonical: CanonicalCode | undefined;

function canonicalCode(): CanonicalCode {
  if (canonical !== undefined) return canonical;
  const symbols = codeLengths.map((_, s) => s);
  symbols.sort((a, b) => (codeLengths[a] ?? 0) - (codeLengths[b] ?? 0) || a - b);
  const firstCode: number[] = new Array(maxCodeLength + 1).fill(-1);
  const firstIndex: number[] = new Array(maxCodeLength + 1).fill(0);
  const count: number[] = new Array(maxCodeLength + 1).fill(0);
  let code = 0;
  let length = 0;
  symbols.forEach((symbol, i) => {
    const l = codeLengths[symbol] ?? 0;
    if (i > 0) code = (code + 1) * 2 ** (l - length);
    if (count[l] === 0) {
      firstCode[l] = code;
      firstIndex[l] = i;
    }
    count[l] = (count[l] ?? 0) + 1;
    length = l;
  });
  canonical = { symbols, firstCode, firstIndex, count };
  return canonical;
}

/**
 * Decodes an HPACK Huffman-coded string literal. Throws on what RFC 7541
 * §5.2 calls a decoding error: padding longer than 7 bits or not all ones,
 * or the EOS symbol inside the string.
 */
export function decodeHuffman(bytes: Uint8Array): Buffer {
  const { symbols, firstCode, firstIndex, count } = canonicalCode();
  const out: number[] = [];
  let code = 0;
  let length = 0;
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      length++;
      const first = firstCode[length] ?? -1;
      const n = count[length] ?? 0;
      if (first >= 0 && code - first < n && code >= first) {
        const symbol = symbols[(firstIndex[length] ?? 0) + code - first] ?? eos;
        if (symbol === eos) throw new Error("hpack: EOS in a Huffman-coded string");
        out.push(symbol);
        code = 0;
        length = 0;
      } else if (length >= maxCodeLength) {
        throw new Error("hpack: invalid Huffman code");
      }
    }
  }
  // What is left is padding: at most 7 bits, all ones (a prefix of EOS).
  if (length > 7 || code !== 2 ** length - 1) {
    throw new Error("hpack: invalid Huffman padding");
  }
  return Buffer.from(out);
}
