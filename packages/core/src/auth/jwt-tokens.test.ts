import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { decodeJwt, decodeProtectedHeader, importSPKI, jwtVerify, SignJWT } from "jose";
import { errVerifyOnly } from "../errors.js";
import { createJwtTokens, JwtKeyError, type JwtSignMethod } from "./jwt-tokens.js";

const pem = (s: string) => new TextEncoder().encode(s);

function keyPair(kind: "rsa" | "ec", detail: number | string) {
  const { privateKey, publicKey } =
    kind === "rsa"
      ? generateKeyPairSync("rsa", { modulusLength: detail as number })
      : generateKeyPairSync("ec", { namedCurve: detail as string });
  return {
    /** etcd's fixtures and `openssl genrsa`/`ecparam` write PKCS#1 / SEC 1. */
    privateKey: pem(
      privateKey.export({ type: kind === "rsa" ? "pkcs1" : "sec1", format: "pem" }) as string,
    ),
    privateKeyPkcs8: pem(privateKey.export({ type: "pkcs8", format: "pem" }) as string),
    publicKey: pem(publicKey.export({ type: "spki", format: "pem" }) as string),
  };
}

const rsa = keyPair("rsa", 2048);
const otherRsa = keyPair("rsa", 2048);
const p256 = keyPair("ec", "P-256");
const p384 = keyPair("ec", "P-384");
const p521 = keyPair("ec", "P-521");
const secret = pem("an HMAC secret, read as the file's bytes\n");

/** A certificate for `rsa`'s key, as etcd's e2e tests pass for pub-key (server.crt). */
function certificateOf(privateKey: Uint8Array): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "jwt-cert-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, "key.pem");
  execFileSync("sh", ["-c", 'cat > "$1"', "sh", keyFile], { input: privateKey });
  const certFile = join(dir, "cert.pem");
  execFileSync("openssl", [
    ...["req", "-x509", "-new", "-key", keyFile, "-out", certFile],
    ...["-days", "1", "-subj", "/CN=jwt-test"],
  ]);
  return readFileSync(certFile);
}

describe("JWT tokens: sign and verify", () => {
  const cases: Array<{
    method: JwtSignMethod;
    privateKey: Uint8Array;
    publicKey?: Uint8Array;
  }> = [
    { method: "RS256", privateKey: rsa.privateKey, publicKey: rsa.publicKey },
    { method: "RS384", privateKey: rsa.privateKeyPkcs8 },
    { method: "RS512", privateKey: rsa.privateKey },
    { method: "PS256", privateKey: rsa.privateKey, publicKey: rsa.publicKey },
    { method: "PS512", privateKey: rsa.privateKeyPkcs8 },
    { method: "ES256", privateKey: p256.privateKey, publicKey: p256.publicKey },
    { method: "ES384", privateKey: p384.privateKeyPkcs8 },
    { method: "ES512", privateKey: p521.privateKey },
    { method: "HS256", privateKey: secret },
    { method: "HS512", privateKey: secret, publicKey: rsa.publicKey }, // pub-key ignored
  ];
  for (const c of cases) {
    it(`${c.method}: etcd's claims and header; verified by itself`, async () => {
      const t0 = 1_700_000_000_400;
      const tokens = createJwtTokens({
        signMethod: c.method,
        privateKey: c.privateKey,
        ...(c.publicKey && { publicKey: c.publicKey }),
        ttlMs: 60_000,
        now: () => t0,
      });
      assert.equal(tokens.verifyOnly, false);
      const token = await tokens.assign("alice", 7);
      assert.deepEqual(decodeProtectedHeader(token), { alg: c.method, typ: "JWT" });
      // exp is unix seconds, truncated as Go's Unix(); keys in Go's (sorted) order.
      const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString());
      assert.deepEqual(Object.keys(payload), ["exp", "revision", "username"]);
      assert.deepEqual(decodeJwt(token), { exp: 1_700_000_060, revision: 7, username: "alice" });
      assert.deepEqual(await tokens.verify(token), { username: "alice", revision: 7 });
    });
  }

  it("a token of one server verifies on another that has only the public key", async () => {
    const issuer = createJwtTokens({ signMethod: "RS256", privateKey: rsa.privateKey });
    const verifier = createJwtTokens({ signMethod: "RS256", publicKey: rsa.publicKey });
    assert.equal(verifier.verifyOnly, true);
    const token = await issuer.assign("root", 3);
    assert.deepEqual(await verifier.verify(token), { username: "root", revision: 3 });
    // And with jose alone, as any third party would.
    const { payload } = await jwtVerify(
      token,
      await importSPKI(Buffer.from(rsa.publicKey).toString(), "RS256"),
    );
    assert.equal(payload.username, "root");
    // The verify-only server refuses to sign, with etcd's error.
    await assert.rejects(verifier.assign("root", 3), (e) => e === errVerifyOnly);
  });

  it("a certificate serves as pub-key (etcd's e2e tests pass server.crt)", async () => {
    const cert = certificateOf(rsa.privateKey);
    const both = createJwtTokens({
      signMethod: "RS256",
      privateKey: rsa.privateKey,
      publicKey: cert,
    });
    const verifier = createJwtTokens({ signMethod: "RS256", publicKey: cert });
    assert.deepEqual(await verifier.verify(await both.assign("u", 1)), {
      username: "u",
      revision: 1,
    });
  });
});

describe("JWT tokens: refused", () => {
  const t0 = 1_700_000_000_000;
  let clock = t0;
  const now = () => clock;
  const tokens = createJwtTokens({
    signMethod: "ES256",
    privateKey: p256.privateKey,
    ttlMs: 1000,
    now,
  });

  it("expiry as etcd: valid before exp (whole seconds), invalid from it on", async () => {
    clock = t0 + 300; // exp = floor(t0/1000 + 1.3) = t0/1000 + 1
    const token = await tokens.assign("alice", 1);
    assert.equal(decodeJwt(token).exp, t0 / 1000 + 1);
    clock = t0 + 999;
    assert.deepEqual(await tokens.verify(token), { username: "alice", revision: 1 });
    // Using it does not extend it (no keep-alive, unlike simple tokens).
    clock = t0 + 1000;
    assert.equal(await tokens.verify(token), undefined);
    clock = t0;
  });

  it("tampered, foreign, of another method, or without etcd's claims", async () => {
    const token = await tokens.assign("alice", 1);
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const forged = Buffer.from(JSON.stringify({ exp: 1e10, revision: 1, username: "root" }));
    const other = createJwtTokens({
      signMethod: "ES256",
      privateKey: keyPair("ec", "P-256").privateKey,
    });
    const hs = createJwtTokens({ signMethod: "HS256", privateKey: secret });
    const bad: Array<[string, string]> = [
      [
        "another payload under the signature",
        `${header}.${forged.toString("base64url")}.${signature}`,
      ],
      ["a flipped signature byte", `${header}.${payload}.${signature.slice(0, -2)}AA`],
      ["no signature", `${header}.${payload}.`],
      [
        "alg none",
        `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${payload}.`,
      ],
      ["another key", await other.assign("alice", 1)],
      ["another method", await hs.assign("alice", 1)],
      ["not a JWT", "abcdefghijklmnop.1"],
      ["empty", ""],
    ];
    for (const [what, t] of bad) assert.equal(await tokens.verify(t), undefined, what);
  });

  it("signed right but without etcd's claims: refused rather than guessed at", async () => {
    const key = createPrivateKey(Buffer.from(p256.privateKey));
    const claims: Array<Record<string, unknown>> = [
      { username: "alice" },
      { revision: 1 },
      { username: 5, revision: 1 },
      { username: "alice", revision: "1" },
      { username: "alice", revision: -1 },
      { username: "alice", revision: 1.5 },
    ];
    for (const c of claims) {
      const t = await new SignJWT(c).setProtectedHeader({ alg: "ES256", typ: "JWT" }).sign(key);
      assert.equal(await tokens.verify(t), undefined, JSON.stringify(c));
    }
    // Without exp it never expires, as in etcd (jose and etcd's library both take exp as optional).
    const forever = await new SignJWT({ revision: 2, username: "alice" })
      .setProtectedHeader({ alg: "ES256", typ: "JWT" })
      .sign(key);
    assert.deepEqual(await tokens.verify(forever), { username: "alice", revision: 2 });
  });
});

describe("JWT tokens: keys refused at start", () => {
  const cases: Array<{
    name: string;
    method: JwtSignMethod;
    privateKey?: Uint8Array;
    publicKey?: Uint8Array;
    error: RegExp;
  }> = [
    { name: "no key at all", method: "RS256", error: /^auth: missing key data$/ },
    { name: "HS without priv-key", method: "HS256", publicKey: secret, error: /missing key data/ },
    {
      name: "empty file",
      method: "ES256",
      privateKey: new Uint8Array(),
      error: /missing key data/,
    },
    {
      name: "keys that don't match",
      method: "RS256",
      privateKey: rsa.privateKey,
      publicKey: otherRsa.publicKey,
      error: /^auth: public and private keys don't match$/,
    },
    {
      name: "an EC key for RS256",
      method: "RS256",
      privateKey: p256.privateKey,
      error: /priv-key: key is not a valid RSA private key/,
    },
    {
      name: "an RSA public key for ES256",
      method: "ES256",
      publicKey: rsa.publicKey,
      error: /pub-key: key is not a valid ECDSA public key/,
    },
    {
      name: "a P-384 key for ES256",
      method: "ES256",
      privateKey: p384.privateKey,
      error: /ES256 needs an EC key on curve prime256v1, not secp384r1/,
    },
    {
      name: "an RSA key below 2048 bits",
      method: "PS256",
      privateKey: keyPair("rsa", 1024).privateKey,
      error: /PS256 needs an RSA key of at least 2048 bits, not 1024/,
    },
    {
      name: "not PEM",
      method: "RS256",
      privateKey: pem("hello"),
      error: /priv-key: invalid key: Key must be a PEM encoded PKCS1 or PKCS8 key/,
    },
    {
      name: "a private key as pub-key",
      method: "RS256",
      publicKey: rsa.privateKey,
      error: /pub-key: holds a private key/,
    },
    {
      name: "broken PEM",
      method: "RS256",
      privateKey: pem("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"),
      error: /priv-key: cannot read the key/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.throws(
        () =>
          createJwtTokens({
            signMethod: c.method,
            ...(c.privateKey && { privateKey: c.privateKey }),
            ...(c.publicKey && { publicKey: c.publicKey }),
          }),
        (e: unknown) => e instanceof JwtKeyError && c.error.test(e.message),
      );
    });
  }
});
