import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RawRequestHeaders } from "./raw-request-headers.js";

/** What the direct paths built before: every header appended, pseudo-headers left out. */
function eager(raw: readonly string[]): Headers {
  const out = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!name.startsWith(":")) out.append(name, raw[i + 1] as string);
  }
  return out;
}

/** Runs `op` on both; both must return the same or throw the same. */
function same(raw: readonly string[], op: (h: Headers) => unknown): void {
  let want: unknown;
  let wantError: unknown;
  try {
    want = op(eager(raw));
  } catch (e) {
    wantError = e;
  }
  const lazy = new RawRequestHeaders(raw);
  assert.ok(lazy instanceof Headers);
  if (wantError !== undefined) {
    assert.throws(
      () => op(lazy),
      (e: unknown) => e instanceof TypeError && (wantError as Error).constructor === TypeError,
    );
    return;
  }
  assert.deepEqual(op(lazy), want);
}

const lists: Record<string, readonly string[]> = {
  "HTTP/2 with pseudo-headers": [
    ":method",
    "POST",
    ":path",
    "/etcdserverpb.KV/Range",
    "content-type",
    "application/grpc",
    "token",
    "abc.def",
    "te",
    "trailers",
  ],
  "HTTP/1.1 mixed case, repeats, padding": [
    "Host",
    "127.0.0.1:2379",
    "Authorization",
    "  Bearer xyz \t",
    "X-Multi",
    "one",
    "x-multi",
    "two",
    "Set-Cookie",
    "a=1",
    "set-cookie",
    "b=2",
    "Empty",
    "",
  ],
  none: [],
};

const ops: Record<string, (h: Headers) => unknown> = {
  "get token": (h) => h.get("token"),
  "get Authorization (other case)": (h) => h.get("AUTHORIZATION"),
  "get repeated": (h) => h.get("x-multi"),
  "get missing": (h) => h.get("grpc-timeout"),
  "get empty value": (h) => h.get("empty"),
  "get set-cookie": (h) => h.get("set-cookie"),
  "get a pseudo-header": (h) => h.get(":path"),
  "get an invalid name": (h) => h.get("bad name"),
  has: (h) => [h.has("token"), h.has("Host"), h.has(":method")],
  forEach: (h) => {
    const seen: string[][] = [];
    h.forEach((v, k) => {
      seen.push([k, v]);
    });
    return seen;
  },
  iterate: (h) => [...h],
  "entries, keys, values": (h) => [[...h.entries()], [...h.keys()], [...h.values()]],
  getSetCookie: (h) => h.getSetCookie(),
  "copied into new Headers": (h) => [...new Headers(h)],
  "set then get": (h) => {
    h.set("token", "replaced");
    return [h.get("token"), [...h]];
  },
  "append then get": (h) => {
    h.append("X-Multi", "three");
    return h.get("x-multi");
  },
  "delete then get": (h) => {
    h.delete("authorization");
    return [h.get("authorization"), [...h]];
  },
  "get, then get after a fill": (h) => {
    const before = h.get("x-multi");
    h.has("x");
    return [before, h.get("x-multi")];
  },
};

describe("RawRequestHeaders answers as Headers filled from the raw list", () => {
  for (const [listName, raw] of Object.entries(lists)) {
    for (const [opName, op] of Object.entries(ops)) {
      it(`${listName}: ${opName}`, () => same(raw, op));
    }
  }

  it("refuses a value Headers refuses when it is read or the list is filled", () => {
    const raw = ["token", "a\0b", "other", "ok"];
    assert.throws(() => eager(raw), TypeError);
    assert.throws(() => new RawRequestHeaders(raw).get("token"), TypeError);
    assert.throws(() => new RawRequestHeaders(raw).has("other"), TypeError);
    assert.throws(() => [...new RawRequestHeaders(raw)], TypeError);
    // Not before: a call that never reads it goes on (Node's parsers refuse such values first).
    assert.equal(new RawRequestHeaders(raw).get("other"), "ok");
  });

  it("does not append the raw list when only get() is used", () => {
    const h = new RawRequestHeaders(["Token", "t", "x", "y"]);
    assert.equal(h.get("token"), "t");
    // Headers' own storage is still empty: its inherited has() would say so.
    const inheritedHas = Object.getPrototypeOf(RawRequestHeaders.prototype).has as (
      this: Headers,
      name: string,
    ) => boolean;
    assert.equal(inheritedHas.call(h, "token"), false);
    assert.equal(h.has("token"), true);
    assert.equal(inheritedHas.call(h, "token"), true);
  });
});
