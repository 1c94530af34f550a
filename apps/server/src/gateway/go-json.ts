/**
 * `JSON.stringify`, escaped as Go's `encoding/json` escapes strings: `<`, `>`
 * and `&` as `\u003c`, `\u003e`, `\u0026`, and U+2028/U+2029 too. etcd's
 * gateway marshals through it, so a user name like `<a>` comes out as
 * `"\u003ca\u003e"`; clients comparing bodies byte for byte see the same.
 *
 * Replacing in the output is safe: these characters can only occur inside
 * JSON strings, where the escapes mean the same.
 */
export function stringifyGoJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, escapeChar);
}

function escapeChar(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}
