import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from "node:crypto";
import { hash as bcryptHash, verify as bcryptVerify } from "@node-rs/bcrypt";

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
 * etcd's `--bcrypt-cost` default (golang.org/x/crypto/bcrypt's DefaultCost),
 * and the range etcd accepts (bcrypt's MinCost..MaxCost).
 */
export const defaultBcryptCost = 10;
export const minBcryptCost = 4;
export const maxBcryptCost = 31;

/**
 * Between the scrypt hash and the bcrypt hash kept beside it; in neither
 * alphabet (base64, bcrypt's `./A-Za-z0-9$`).
 */
const etcdHashSeparator = "|";

/**
 * A salted, slow hash of `password` as one self-describing string:
 * `scrypt$N$r$p$<salt base64>$<hash base64>|<bcrypt>`. Passwords are never
 * stored.
 *
 * Why two hashes: logins verify the scrypt half, which runs on libuv's
 * thread pool. etcd stores bcrypt (`$2a$<cost>$…`), so the bcrypt half is
 * what a snapshot hands to etcd (`etcdPasswordHash`) — without it, users
 * moved to etcd could not log in. Both run on libuv's thread pool at once
 * (@node-rs/bcrypt, native, prebuilt per platform on npm: bcryptjs would hold
 * the event loop ~100 ms at cost 10), only when a password is set (user add,
 * password change), as etcd hashes then too.
 */
export async function hashPassword(
  password: string,
  params: ScryptParams = defaultScryptParams,
  bcryptCost: number = defaultBcryptCost,
): Promise<string> {
  const salt = randomBytes(saltLength);
  const [hash, etcdHash] = await Promise.all([
    derive(password, salt, params),
    etcdBcrypt(password, bcryptCost),
  ]);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString("base64")}$${hash.toString("base64")}${etcdHashSeparator}${etcdHash}`;
}

/**
 * The hash etcd can verify for a stored hash: the bcrypt half of ours, a
 * bcrypt hash restored from etcd as it is, else empty (a hash from before the
 * bcrypt half was kept: the user exists in etcd but cannot log in until its
 * password is set again).
 */
export function etcdPasswordHash(encoded: string): string {
  if (bcryptPrefix.test(encoded)) return encoded;
  const i = encoded.indexOf(etcdHashSeparator);
  return i < 0 ? "" : encoded.slice(i + 1);
}

/**
 * bcrypt as etcd writes it (`$2a$`, which golang.org/x/crypto/bcrypt
 * writes; the Rust implementation labels its output `$2y$`, the same
 * algorithm — Go reads either).
 */
async function etcdBcrypt(password: string, cost: number): Promise<string> {
  const hash = await bcryptHash(password, cost);
  return `$2a$${hash.slice(4)}`;
}

/** etcd's hashes: bcrypt (golang.org/x/crypto/bcrypt writes `$2a$<cost>$…`). */
const bcryptPrefix = /^\$2[aby]\$\d\d\$/;

/**
 * Whether `password` matches a hash from {@link hashPassword}, or a bcrypt
 * hash as etcd stores them (users restored from an etcd snapshot keep their
 * passwords); constant-time compare.
 */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  if (bcryptPrefix.test(encoded)) return bcryptVerify(password, encoded);
  const i = encoded.indexOf(etcdHashSeparator);
  const parts = (i < 0 ? encoded : encoded.slice(0, i)).split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const salt = Buffer.from(parts[4] ?? "", "base64");
  const expected = Buffer.from(parts[5] ?? "", "base64");
  if (expected.length !== keyLength || !Number.isInteger(N) || N < 2) return false;
  const actual = await derive(password, salt, { N, r, p });
  return timingSafeEqual(actual, expected);
}
