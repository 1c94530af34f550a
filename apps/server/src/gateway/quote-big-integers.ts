/**
 * Puts quotes around the integer literals of a JSON text that a JavaScript
 * number cannot hold exactly, so `JSON.parse` keeps their digits.
 *
 * Go decodes `{"ID":7346929464921311004}` into an int64 exactly, and etcd
 * users send lease IDs that way; `JSON.parse` would round it to
 * 7346929464921311232. The proto3 JSON mapping accepts every numeric field
 * as a string too, so the quoted form decodes to the same message, and
 * what is out of range still fails there.
 */
const numberLiteral = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;

export function quoteBigIntegers(text: string): string {
  // Fast path: no run of 16 digits, nothing to do.
  if (!/\d{16}/.test(text)) return text;
  let out = "";
  let copied = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip a string, with its escapes.
      i++;
      while (i < text.length) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
      i++;
      continue;
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      numberLiteral.lastIndex = i;
      const m = numberLiteral.exec(text);
      const token = m?.[0] ?? text[i] ?? "";
      if (m !== null && m[1] === undefined && m[2] === undefined) {
        if (!Number.isSafeInteger(Number(token))) {
          out += `${text.slice(copied, i)}"${token}"`;
          copied = i + token.length;
        }
      }
      i += Math.max(1, token.length);
      continue;
    }
    i++;
  }
  return out + text.slice(copied);
}
