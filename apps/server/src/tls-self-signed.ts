import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { isIPv4, isIPv6 } from "node:net";
import { join } from "node:path";

/** A PEM certificate and its PEM private key. */
export interface SelfSignedCert {
  cert: string;
  key: string;
}

export interface SelfSignedCertOptions {
  /** Host names and IP addresses the certificate is for (its subjectAltName). */
  hosts: readonly string[];
  /** Default 365, as etcd's `--auto-tls`. */
  validDays?: number;
  /** Default `new Date()`. */
  now?: Date;
}

/**
 * Makes a self-signed server certificate like etcd's `--auto-tls`: subject
 * O=etcd, the hosts as IP or DNS subjectAltNames, server auth, a year from
 * now. The key is ECDSA P-256 (etcd uses P-521, which some TLS stacks do not
 * accept in certificates) and the certificate is signed with SHA-256.
 *
 * Node can sign but not build certificates, so the X.509 structure (RFC
 * 5280) is written here in DER: a few dozen lines instead of a dependency
 * or an `openssl` binary on the server.
 */
export function createSelfSignedCert(options: SelfSignedCertOptions): SelfSignedCert {
  const now = options.now ?? new Date();
  const notAfter = new Date(now.getTime() + (options.validDays ?? 365) * 86_400_000);
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const name = seq(set(seq(oid("2.5.4.10"), utf8("etcd"))));
  const signatureAlgorithm = seq(oid("1.2.840.10045.4.3.2")); // ecdsa-with-SHA256
  const altNames = options.hosts.map(
    (host) =>
      isIPv4(host) || isIPv6(host)
        ? tlv(0x87, ipBytes(host)) // iPAddress [7]
        : tlv(0x82, Buffer.from(host, "ascii")), // dNSName [2]
  );
  const extensions = [
    // keyUsage (critical): digitalSignature.
    seq(oid("2.5.29.15"), bool(true), octets(tlv(0x03, Buffer.from([0x07, 0x80])))),
    // extKeyUsage: serverAuth.
    seq(oid("2.5.29.37"), octets(seq(oid("1.3.6.1.5.5.7.3.1")))),
    // basicConstraints (critical): not a CA.
    seq(oid("2.5.29.19"), bool(true), octets(seq())),
    ...(altNames.length > 0 ? [seq(oid("2.5.29.17"), octets(seq(...altNames)))] : []),
  ];
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f || 1; // positive, no leading zero byte
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))), // version v3
    integer(serial),
    signatureAlgorithm,
    name,
    seq(time(now), time(notAfter)),
    name,
    publicKey.export({ type: "spki", format: "der" }),
    tlv(0xa3, seq(...extensions)),
  );
  const signature = sign("sha256", tbs, privateKey);
  const der = seq(tbs, signatureAlgorithm, tlv(0x03, Buffer.from([0]), signature));
  const base64 = der.toString("base64").replace(/.{64}/g, "$&\n");
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${base64}${base64.endsWith("\n") ? "" : "\n"}-----END CERTIFICATE-----\n`,
    key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

/**
 * etcd's `--auto-tls` files: `cert.pem` and `key.pem` in `dir` (etcd uses
 * `<data-dir>/fixtures/client`), made by `createSelfSignedCert` for the hosts
 * of the listen URLs the first time and reused afterwards, so clients that
 * pinned the certificate keep working across restarts.
 */
export function ensureSelfSignedCertFiles(
  dir: string,
  hosts: readonly string[],
): { certFile: string; keyFile: string; created: boolean } {
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  if (existsSync(certFile) && existsSync(keyFile)) return { certFile, keyFile, created: false };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { cert, key } = createSelfSignedCert({ hosts });
  writeFileSync(keyFile, key, { mode: 0o600 });
  writeFileSync(certFile, cert);
  return { certFile, keyFile, created: true };
}

// DER (X.690) encoding of the few ASN.1 types a certificate needs.

function tlv(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  let length: number[];
  if (body.length < 0x80) {
    length = [body.length];
  } else {
    const bytes: number[] = [];
    for (let n = body.length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
    length = [0x80 | bytes.length, ...bytes];
  }
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
}

const seq = (...items: Buffer[]) => tlv(0x30, ...items);
const set = (...items: Buffer[]) => tlv(0x31, ...items);
const octets = (content: Buffer) => tlv(0x04, content);
const utf8 = (text: string) => tlv(0x0c, Buffer.from(text, "utf8"));
const bool = (value: boolean) => tlv(0x01, Buffer.from([value ? 0xff : 0]));

/** A non-negative INTEGER from big-endian bytes. */
function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  const pad = (trimmed[0] ?? 0) & 0x80 ? Buffer.from([0]) : Buffer.alloc(0);
  return tlv(0x02, pad, trimmed);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map(Number);
  const out = [40 * (arcs[0] ?? 0) + (arcs[1] ?? 0)];
  for (const arc of arcs.slice(2)) {
    const bytes = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) {
      bytes.unshift(0x80 | (n & 0x7f));
    }
    out.push(...bytes);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime through 2049, GeneralizedTime after, as RFC 5280 requires. */
function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return date.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(digits.slice(2), "ascii"))
    : tlv(0x18, Buffer.from(digits, "ascii"));
}

/** The 4 or 16 bytes of an IP address. */
function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split(".").map(Number));
  const [head = "", tail] = ip.split("::");
  const groups = (part: string) => (part === "" ? [] : part.split(":"));
  let words = groups(head);
  if (tail !== undefined) {
    const rest = groups(tail);
    // An embedded IPv4 tail (::ffff:1.2.3.4) counts as two words.
    const size = (ws: string[]) => ws.reduce((n, w) => n + (w.includes(".") ? 2 : 1), 0);
    words = [...words, ...Array(8 - size(words) - size(rest)).fill("0"), ...rest];
  }
  const out: number[] = [];
  for (const word of words) {
    if (word.includes(".")) out.push(...word.split(".").map(Number));
    else out.push(Number.parseInt(word, 16) >> 8, Number.parseInt(word, 16) & 0xff);
  }
  return Buffer.from(out);
}
