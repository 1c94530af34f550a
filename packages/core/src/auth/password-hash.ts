import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from "node:crypto";
import bcrypt from "bcryptjs";

/**
 * scrypt cost parameters. N = 2^14, r = 8 takes ~40 ms and 16 MiB per hash
 * on a current core — in the range of etcd's bcrypt at its default cost 10 —
 * and runs on libuv's thread pool, so hashing never blocks the event loop.
 */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

export const defaultScryptParams: ScryptParams = { N: 2 ** 14, r: 8, p: 1 };

const keyLength = 32;
const saltLength = 16;

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    maxmem: 256 * params.N * params.r + 1024 * 1024,
  };
  return new Promise((resolve, reject) =>
    scrypt(password, salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/**
 * A salted, slow hash of `password` as one self-describing string:
 * `scrypt$N$r$p$<salt base64>$<hash base64>`. Passwords are never stored.
 */
export async function hashPassword(
  password: string,
  params: ScryptParams = defaultScryptParams,
): Promise<string> {
  const salt = randomBytes(saltLength);
  const hash = await derive(password, salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

/** etcd's hashes: bcrypt (golang.org/x/crypto/bcrypt writes `$2a$<cost>$…`). */
const bcryptPrefix = /^\$2[aby]\$\d\d\$/;

/**
 * Whether `password` matches a hash from {@link hashPassword}, or a bcrypt
 * hash as etcd stores them (users restored from an etcd snapshot keep their
 * passwords); constant-time compare.
 */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  if (bcryptPrefix.test(encoded)) return bcrypt.compare(password, encoded);
  const parts = encoded.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const salt = Buffer.from(parts[4] ?? "", "base64");
  const expected = Buffer.from(parts[5] ?? "", "base64");
  if (expected.length !== keyLength || !Number.isInteger(N) || N < 2) return false;
  const actual = await derive(password, salt, { N, r, p });
  return timingSafeEqual(actual, expected);
}
