import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { jwtVerify, SignJWT } from "jose";
import { defaultJwtTtlMs } from "../defaults.js";
import { errVerifyOnly } from "../errors.js";

/**
 * The sign methods etcd 3.4 takes for `--auth-token jwt,sign-method=…`: the
 * ones its JWT library registers and its key loader knows (RSA PKCS#1 v1.5,
 * RSA-PSS, ECDSA, HMAC). `none` and `EdDSA` are registered there too but
 * refused at start ("unsupported signing method"), as here.
 */
export const jwtSignMethods = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "HS256",
  "HS384",
  "HS512",
] as const;

export type JwtSignMethod = (typeof jwtSignMethods)[number];

export const isJwtSignMethod = (name: string): name is JwtSignMethod =>
  (jwtSignMethods as readonly string[]).includes(name);

/** The caller a verified JWT names: its `username` and `revision` claims. */
export interface JwtCaller {
  username: string;
  /** The auth revision the password was checked at; older than the store's: refused. */
  revision: number;
}

/**
 * etcd's JWT token provider (auth/jwt.go). A token is a JWS signed with the
 * configured method, claims `username`, `revision` (the auth revision when it
 * was issued) and `exp` (unix seconds). It carries everything needed to check
 * it, so nothing is kept: a restart keeps tokens valid, any server with the
 * public key (or the HMAC secret) accepts them, using one does not extend it,
 * and it cannot be revoked — a password change or a role change raises the
 * auth revision, after which the store refuses older tokens
 * ("revision of auth store is old") and clients authenticate again.
 */
export interface JwtTokens {
  readonly type: "jwt";
  readonly signMethod: JwtSignMethod;
  /**
   * Whether only a public key was given (`pub-key` without `priv-key`): the
   * server verifies tokens issued by another with the private key, and
   * Authenticate fails with errVerifyOnly (after checking the password, as
   * in etcd).
   */
  readonly verifyOnly: boolean;
  /** A signed token for `username` at auth revision `revision`, valid for the TTL. */
  assign(username: string, revision: number): Promise<string>;
  /**
   * The caller of a token whose signature (by this sign method only) and
   * expiry check out and whose claims are etcd's; undefined otherwise.
   */
  verify(token: string): Promise<JwtCaller | undefined>;
}

export interface JwtTokenOptions {
  signMethod: JwtSignMethod;
  /**
   * `priv-key`'s file content: a PEM private key (RSA as PKCS#1 or PKCS#8,
   * EC as SEC 1 or PKCS#8) for RS/PS/ES, the raw secret for HS.
   */
  privateKey?: Uint8Array;
  /**
   * `pub-key`'s file content: a PEM public key or X.509 certificate (etcd's
   * e2e tests pass a certificate). Ignored for HS methods, as in etcd.
   */
  publicKey?: Uint8Array;
  /** How long a token is valid, in ms. Default 300 000 (etcd's 5m). */
  ttlMs?: number;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
}

/**
 * A key that `--auth-token jwt,…` cannot use. The messages are etcd's where
 * it has one (`auth: missing key data`, `auth: public and private keys don't
 * match`, its JWT library's "key is not a valid RSA private key", …).
 */
export class JwtKeyError extends Error {
  override name = "JwtKeyError";
}

/** The key type and, for ES methods, the curve each family needs. */
const ecCurves: Partial<Record<JwtSignMethod, string>> = {
  ES256: "prime256v1",
  ES384: "secp384r1",
  ES512: "secp521r1",
};

/** jose refuses smaller RSA keys for RS and PS methods (etcd's library signs with any). */
const minRsaModulusBits = 2048;

interface Keys {
  /** Undefined: verify-only. */
  sign: KeyObject | Uint8Array | undefined;
  verify: KeyObject | Uint8Array;
}

/**
 * Builds the provider, parsing and checking the keys at once so that a bad
 * key stops the server at start (etcd's NewTokenProvider) rather than at the
 * first Authenticate. Throws {@link JwtKeyError}.
 */
export function createJwtTokens(options: JwtTokenOptions): JwtTokens {
  const { signMethod } = options;
  const ttlMs = options.ttlMs ?? defaultJwtTtlMs;
  const now = options.now ?? Date.now;
  const keys = loadKeys(signMethod, options.privateKey, options.publicKey);
  return {
    type: "jwt",
    signMethod,
    verifyOnly: keys.sign === undefined,
    async assign(username, revision) {
      if (keys.sign === undefined) throw errVerifyOnly;
      // etcd's claims, in the order Go marshals a map (sorted), with `exp`
      // truncated to whole seconds as its `time.Now().Add(ttl).Unix()`.
      const exp = Math.floor((now() + ttlMs) / 1000);
      return new SignJWT({ exp, revision, username })
        .setProtectedHeader({ alg: signMethod, typ: "JWT" })
        .sign(keys.sign);
    },
    async verify(token) {
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, keys.verify, {
          algorithms: [signMethod],
          currentDate: new Date(now()),
        }));
      } catch {
        return undefined; // bad signature, other method, expired, malformed
      }
      const { username, revision } = payload;
      if (typeof username !== "string") return undefined;
      if (typeof revision !== "number" || !Number.isSafeInteger(revision) || revision < 0) {
        return undefined;
      }
      return { username, revision };
    },
  };
}

/** etcd's jwtOptions.Key: the signing key (if any) and the key that verifies. */
function loadKeys(
  method: JwtSignMethod,
  privatePem: Uint8Array | undefined,
  publicPem: Uint8Array | undefined,
): Keys {
  const given = (b: Uint8Array | undefined) => (b !== undefined && b.length > 0 ? b : undefined);
  const privateBytes = given(privatePem);
  const publicBytes = given(publicPem);
  if (method.startsWith("HS")) {
    if (privateBytes === undefined) throw new JwtKeyError("auth: missing key data");
    // The file's bytes as they are, trailing newline included, as etcd reads them.
    return { sign: privateBytes, verify: privateBytes };
  }
  const family = method.startsWith("ES") ? "ECDSA" : "RSA";
  const priv = privateBytes && parseKey(method, family, "private", privateBytes);
  const pub = publicBytes && parseKey(method, family, "public", publicBytes);
  if (priv === undefined) {
    if (pub === undefined) throw new JwtKeyError("auth: missing key data");
    return { sign: undefined, verify: pub };
  }
  const derived = createPublicKey(priv);
  if (pub !== undefined && !spki(pub).equals(spki(derived))) {
    throw new JwtKeyError("auth: public and private keys don't match");
  }
  return { sign: priv, verify: derived };
}

const spki = (key: KeyObject) => key.export({ type: "spki", format: "der" });

function parseKey(
  method: JwtSignMethod,
  family: "RSA" | "ECDSA",
  kind: "private" | "public",
  pem: Uint8Array,
): KeyObject {
  const option = kind === "private" ? "priv-key" : "pub-key";
  const text = Buffer.from(pem).toString("latin1");
  if (!text.includes("-----BEGIN ")) {
    throw new JwtKeyError(`${option}: invalid key: Key must be a PEM encoded PKCS1 or PKCS8 key`);
  }
  // A public key is read from a public key or certificate, never from a
  // private key (etcd's parser would not find a public key in one).
  if (kind === "public" && /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)) {
    throw new JwtKeyError(`${option}: holds a private key, not a public key or certificate`);
  }
  let key: KeyObject;
  try {
    key = kind === "private" ? createPrivateKey(text) : createPublicKey(text);
  } catch (err) {
    throw new JwtKeyError(`${option}: cannot read the key: ${(err as Error).message}`);
  }
  const wrongType = `${option}: key is not a valid ${family} ${kind} key`;
  if (family === "RSA") {
    if (key.asymmetricKeyType !== "rsa") throw new JwtKeyError(wrongType);
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < minRsaModulusBits) {
      throw new JwtKeyError(
        `${option}: ${method} needs an RSA key of at least ${minRsaModulusBits} bits, not ${bits}`,
      );
    }
  } else {
    if (key.asymmetricKeyType !== "ec") throw new JwtKeyError(wrongType);
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve !== ecCurves[method]) {
      throw new JwtKeyError(
        `${option}: ${method} needs an EC key on curve ${ecCurves[method]}, not ${curve}`,
      );
    }
  }
  return key;
}
