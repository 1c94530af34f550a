/** A header name as Fetch's Headers accepts one (RFC 9110 token). */
const tokenName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What Headers strips from both ends of a value (HTTP whitespace). */
const edgeWhitespace = /^[\t\n\r ]+|[\t\n\r ]+$/g;
/** Where a {@link RawRequestHeaders} keeps its raw list until filled. */
const rawList = Symbol("raw request headers");

function normalizeValue(value: string): string {
  const c0 = value.charCodeAt(0);
  const cn = value.charCodeAt(value.length - 1);
  const edge = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
  return edge(c0) || edge(cn) ? value.replace(edgeWhitespace, "") : value;
}

/**
 * A request's headers as Fetch Headers (what Connect's HandlerContext and
 * interceptors are given), over Node's raw `[name, value, …]` list and
 * without HTTP/2 pseudo-headers, filled only when something other than
 * `get()` is asked of them.
 *
 * Why: every call reads one or two headers (the auth token: `token`,
 * `authorization`) and almost never anything else, while building Fetch
 * Headers validates and appends every header of the request — a few µs of
 * a unary call's ~60–100 on the direct paths. `get()` reads the raw list
 * as Headers would answer (names case-insensitive, values trimmed of HTTP
 * whitespace, repeats joined by ", "); every other method first appends
 * the whole list, then behaves as Headers does. A value Headers refuses
 * throws when it is first read or the list is filled, not when the call
 * starts (Node's parsers refuse such values before they get here).
 */
export class RawRequestHeaders extends Headers {
  [rawList]: readonly string[] | undefined;

  constructor(rawHeaders: readonly string[]) {
    super();
    this[rawList] = rawHeaders;
  }
}

/**
 * The overrides live on the prototype, defined below rather than as class
 * methods: Node's typings declare Headers' methods as properties, which a
 * subclass may not override with methods or reach through `super`.
 */
const base = Headers.prototype as unknown as Record<PropertyKey, (...args: unknown[]) => unknown>;
const own = RawRequestHeaders.prototype;

/** Appends the raw list, once, before any method but `get` runs. */
function fill(h: RawRequestHeaders): void {
  const raw = h[rawList];
  if (raw === undefined) return;
  h[rawList] = undefined;
  const append = base.append as (this: Headers, name: string, value: string) => void;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.charCodeAt(0) !== 0x3a) append.call(h, name, raw[i + 1] as string);
  }
}

function get(this: RawRequestHeaders, name: string): string | null {
  const raw = this[rawList];
  const inherited = base.get as (this: Headers, name: string) => string | null;
  if (raw === undefined || !tokenName.test(name)) {
    fill(this);
    return inherited.call(this, name);
  }
  const want = name.toLowerCase();
  let out: string | null = null;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i] as string;
    if (n.length !== want.length || (n !== want && n.toLowerCase() !== want)) continue;
    const value = raw[i + 1] as string;
    if (/[\0\r\n]/.test(value)) {
      // Let Headers refuse it with its own error.
      fill(this);
      return inherited.call(this, name);
    }
    const v = normalizeValue(value);
    out = out === null ? v : `${out}, ${v}`;
  }
  return out;
}

Object.defineProperty(own, "get", { value: get, writable: true, configurable: true });
const filling: PropertyKey[] = [
  "has",
  "append",
  "set",
  "delete",
  "getSetCookie",
  "forEach",
  "entries",
  "keys",
  "values",
  Symbol.iterator,
];
for (const key of filling) {
  const inherited = base[key] as (...args: unknown[]) => unknown;
  Object.defineProperty(own, key, {
    value: function (this: RawRequestHeaders, ...args: unknown[]) {
      fill(this);
      return inherited.apply(this, args);
    },
    writable: true,
    configurable: true,
  });
}
