import { readFileSync } from "node:fs";
import {
  createJwtTokens,
  defaultJwtTtlMs,
  isJwtSignMethod,
  JwtKeyError,
  type JwtSignMethod,
  type JwtTokens,
  jwtSignMethods,
} from "@conclave/core";
import { parseGoDuration } from "./go-duration.js";

/** `--auth-token jwt,…`, parsed: what to sign with and how long tokens last. */
export interface JwtTokenConfig {
  type: "jwt";
  signMethod: JwtSignMethod;
  /** `pub-key`: a PEM public key or certificate. Ignored for HS methods. */
  publicKeyFile?: string;
  /** `priv-key`: a PEM private key, or the HMAC secret for HS methods. */
  privateKeyFile?: string;
  /** `ttl`: how long a token is valid after it is issued, in ms. Default 300 000 (5m). */
  ttlMs: number;
}

/** `--auth-token`: simple tokens (etcd's default) or JWTs. */
export type AuthTokenConfig = { type: "simple" } | JwtTokenConfig;

/** Why `--auth-token` cannot be used; the message starts with etcd's error where it has one. */
export class AuthTokenOptionError extends Error {
  override name = "AuthTokenOptionError";
}

/** etcd's ErrInvalidAuthOpts: every malformed option text, with what was wrong. */
const invalidOptions = (why: string) =>
  new AuthTokenOptionError(`auth: invalid auth options: ${why}`);

const jwtOptionNames = new Set(["sign-method", "pub-key", "priv-key", "ttl"]);

/**
 * Parses `--auth-token` as etcd's NewTokenProvider does: `<type>` then
 * comma-separated `name=value` pairs (a pair without exactly one `=`, or a
 * name given twice, is invalid). `simple` ignores its options; `jwt` needs
 * `sign-method` and takes `pub-key`, `priv-key` and `ttl` (a Go duration,
 * default 5m). Options etcd does not know are warned about, not refused.
 * Reads no file: {@link loadJwtTokens} does, at start.
 *
 * Unlike etcd, a `ttl` of zero or less is refused: such tokens are expired
 * before they are used.
 */
export function parseAuthTokenOption(text: string): {
  config: AuthTokenConfig;
  /** Option names the token type does not know (etcd: "unknown JWT options"). */
  unknownOptions: string[];
} {
  const [type = "", ...pairs] = text.split(",");
  const options = new Map<string, string>();
  for (const pair of pairs) {
    const parts = pair.split("=");
    if (parts.length !== 2) throw invalidOptions(`"${pair}" is not a name=value pair`);
    const [name = "", value = ""] = parts;
    if (options.has(name)) throw invalidOptions(`"${name}" is given twice`);
    options.set(name, value);
  }
  if (type === "simple") return { config: { type: "simple" }, unknownOptions: [...options.keys()] };
  if (type !== "jwt") throw invalidOptions(`unknown token type "${type}": use simple or jwt`);

  const ttlText = options.get("ttl") ?? "";
  let ttlMs = defaultJwtTtlMs;
  if (ttlText !== "") {
    const ms = parseGoDuration(ttlText);
    if (ms === undefined) throw invalidOptions(`ttl: invalid duration "${ttlText}"`);
    if (ms <= 0) throw invalidOptions(`ttl: must be positive, not "${ttlText}"`);
    ttlMs = ms;
  }
  const method = options.get("sign-method") ?? "";
  if (!isJwtSignMethod(method)) {
    throw invalidOptions(
      `auth: invalid auth signature method "${method}": use one of ${jwtSignMethods.join(", ")}`,
    );
  }
  const publicKeyFile = options.get("pub-key") ?? "";
  const privateKeyFile = options.get("priv-key") ?? "";
  return {
    config: {
      type: "jwt",
      signMethod: method,
      ...(publicKeyFile !== "" && { publicKeyFile }),
      ...(privateKeyFile !== "" && { privateKeyFile }),
      ttlMs,
    },
    unknownOptions: [...options.keys()].filter((name) => !jwtOptionNames.has(name)),
  };
}

/**
 * Reads the key files of `--auth-token jwt,…` and builds the token provider,
 * so a missing file or a bad key stops the server at start, as etcd's
 * NewTokenProvider does. Throws {@link AuthTokenOptionError}.
 */
export function loadJwtTokens(config: JwtTokenConfig): JwtTokens {
  const read = (option: string, file: string | undefined) => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      throw invalidOptions(`${option}: ${(err as Error).message}`);
    }
  };
  const publicKey = read("pub-key", config.publicKeyFile);
  const privateKey = read("priv-key", config.privateKeyFile);
  try {
    return createJwtTokens({
      signMethod: config.signMethod,
      ...(publicKey !== undefined && { publicKey }),
      ...(privateKey !== undefined && { privateKey }),
      ttlMs: config.ttlMs,
    });
  } catch (err) {
    if (err instanceof JwtKeyError) throw new AuthTokenOptionError(err.message);
    throw err;
  }
}
