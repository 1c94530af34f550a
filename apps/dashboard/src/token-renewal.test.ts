import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { jwtExpiry, renewDelayMs } from "./token-renewal.js";

const b64url = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
const jwt = (claims: object) => `${b64url({ alg: "HS256" })}.${b64url(claims)}.sig`;

describe("renewDelayMs", () => {
  test("a JWT is renewed at 80% of the time left before exp", () => {
    const now = 1_000_000_000;
    assert.equal(renewDelayMs(jwt({ username: "a", exp: now / 1000 + 300 }), now), 240_000);
  });
  test("an expired or nearly expired JWT waits the minimum, not zero", () => {
    assert.equal(renewDelayMs(jwt({ exp: 1 }), 1_000_000_000), 1_000);
  });
  test("simple tokens (etcd's default, opaque) are renewed every 60 s", () => {
    assert.equal(renewDelayMs("kJqTfmwNzJbZvDcc.42", 0), 60_000);
    assert.equal(renewDelayMs("abc", 0, { simpleTokenRenewMs: 5_000 }), 5_000);
  });
  test("jwtExpiry ignores tokens that only look like JWTs", () => {
    assert.equal(jwtExpiry("a.b.c"), undefined);
    assert.equal(jwtExpiry(jwt({ exp: "soon" })), undefined);
    assert.equal(jwtExpiry(jwt({ exp: 1234 })), 1234);
  });
});
