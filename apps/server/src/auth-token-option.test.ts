import * as assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  type AuthTokenConfig,
  AuthTokenOptionError,
  loadJwtTokens,
  parseAuthTokenOption,
} from "./auth-token-option.js";

describe("parseAuthTokenOption", () => {
  const valid: Array<{ text: string; config: AuthTokenConfig; unknown?: string[] }> = [
    { text: "simple", config: { type: "simple" } },
    // etcd's simple provider ignores options.
    { text: "simple,ttl=1s", config: { type: "simple" }, unknown: ["ttl"] },
    {
      text: "jwt,pub-key=a.crt,priv-key=a.key,sign-method=RS256,ttl=1s",
      config: {
        type: "jwt",
        signMethod: "RS256",
        publicKeyFile: "a.crt",
        privateKeyFile: "a.key",
        ttlMs: 1000,
      },
    },
    // ttl defaults to 5m; an empty value is not given (etcd's map lookup).
    {
      text: "jwt,sign-method=ES256,pub-key=p.pem,ttl=",
      config: { type: "jwt", signMethod: "ES256", publicKeyFile: "p.pem", ttlMs: 300_000 },
    },
    {
      text: "jwt,sign-method=HS512,priv-key=s,ttl=1h30m,extra=1",
      config: { type: "jwt", signMethod: "HS512", privateKeyFile: "s", ttlMs: 5_400_000 },
      unknown: ["extra"],
    },
    { text: "jwt,sign-method=PS384", config: { type: "jwt", signMethod: "PS384", ttlMs: 300_000 } },
  ];
  for (const c of valid) {
    it(c.text, () => {
      assert.deepEqual(parseAuthTokenOption(c.text), {
        config: c.config,
        unknownOptions: c.unknown ?? [],
      });
    });
  }

  const invalid: Array<[string, RegExp]> = [
    ["jwt", /^auth: invalid auth options: auth: invalid auth signature method ""/],
    ["jwt,sign-method=none", /invalid auth signature method "none": use one of RS256, RS384/],
    ["jwt,sign-method=EdDSA", /invalid auth signature method "EdDSA"/],
    ["jwt,sign-method=rs256", /invalid auth signature method "rs256"/],
    ["jwt,sign-method=RS256,ttl=5", /^auth: invalid auth options: ttl: invalid duration "5"$/],
    ["jwt,sign-method=RS256,ttl=0s", /ttl: must be positive, not "0s"/],
    ["jwt,sign-method=RS256,ttl=-1m", /ttl: must be positive/],
    ["jwt,sign-method", /"sign-method" is not a name=value pair/],
    ["jwt,sign-method=RS256,", /"" is not a name=value pair/],
    ["jwt,priv-key=a=b,sign-method=RS256", /"priv-key=a=b" is not a name=value pair/],
    ["jwt,ttl=1s,ttl=2s,sign-method=RS256", /"ttl" is given twice/],
    ["", /unknown token type "": use simple or jwt/],
    ["magic,a=b", /unknown token type "magic"/],
  ];
  for (const [text, error] of invalid) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parseAuthTokenOption(text),
        (e: unknown) => e instanceof AuthTokenOptionError && error.test(e.message),
      );
    });
  }
});

describe("loadJwtTokens", () => {
  const dir = mkdtempSync(join(tmpdir(), "auth-token-option-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const privFile = join(dir, "ec.key");
  const pubFile = join(dir, "ec.pub");
  writeFileSync(privFile, privateKey.export({ type: "sec1", format: "pem" }));
  writeFileSync(pubFile, publicKey.export({ type: "spki", format: "pem" }));
  const base = { type: "jwt", signMethod: "ES256", ttlMs: 1000 } as const;

  it("reads both keys; pub-key alone is verify-only", () => {
    const both = loadJwtTokens({ ...base, privateKeyFile: privFile, publicKeyFile: pubFile });
    assert.equal(both.verifyOnly, false);
    assert.equal(loadJwtTokens({ ...base, publicKeyFile: pubFile }).verifyOnly, true);
  });

  it("a file it cannot read, or a key it cannot use, stops the start", () => {
    const refused = (config: Parameters<typeof loadJwtTokens>[0], error: RegExp) =>
      assert.throws(
        () => loadJwtTokens(config),
        (e: unknown) => e instanceof AuthTokenOptionError && error.test(e.message),
      );
    refused(
      { ...base, privateKeyFile: join(dir, "nope") },
      /^auth: invalid auth options: priv-key: ENOENT/,
    );
    refused(base, /^auth: missing key data$/);
    refused(
      { ...base, signMethod: "RS256", privateKeyFile: privFile },
      /not a valid RSA private key/,
    );
  });
});
