import { readFileSync, statSync } from "node:fs";
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";

/** A CRL file that cannot be read or parsed. */
export class CrlError extends Error {
  override name = "CrlError";
}

interface Tlv {
  tag: number;
  /** Offset of the contents. */
  start: number;
  /** Offset just past the contents. */
  end: number;
}

/** One DER TLV at `at`; throws on a truncated or indefinite-length encoding. */
function readTlv(der: Uint8Array, at: number, limit: number): Tlv {
  if (at + 2 > limit) throw new CrlError("truncated DER");
  const tag = der[at] as number;
  let len = der[at + 1] as number;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new CrlError("bad DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (der[start + i] as number);
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new CrlError("truncated DER");
  return { tag, start, end };
}

/** The TLVs inside a constructed one. */
function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const t = readTlv(der, at, parent.end);
    out.push(t);
    at = t.end;
  }
  return out;
}

/**
 * A serial number as hex without leading zeros: the same number from a CRL
 * entry (DER INTEGER contents) and from Node's `serialNumber` compare equal,
 * as Go's big.Int bytes do in etcd's check.
 */
function normalSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+/, "") || "0";
}

const sequence = 0x30;
const integer = 0x02;
const utcTime = 0x17;
const generalizedTime = 0x18;

/** The revoked serial numbers of one DER CRL (RFC 5280 CertificateList). */
function serialsOfDer(der: Uint8Array, into: Set<string>): void {
  const list = readTlv(der, 0, der.length);
  if (list.tag !== sequence) throw new CrlError("not a CRL");
  const tbs = children(der, list)[0];
  if (tbs?.tag !== sequence) throw new CrlError("not a CRL");
  const fields = children(der, tbs);
  let i = fields[0]?.tag === integer ? 1 : 0; // version
  i += 2; // signature algorithm, issuer
  const thisUpdate = fields[i]?.tag;
  if (thisUpdate !== utcTime && thisUpdate !== generalizedTime) throw new CrlError("not a CRL");
  i++;
  const next = fields[i]?.tag;
  if (next === utcTime || next === generalizedTime) i++; // nextUpdate
  const revoked = fields[i];
  if (revoked?.tag !== sequence) return; // no revoked certificates
  for (const entry of children(der, revoked)) {
    const serial = children(der, entry)[0];
    if (serial?.tag !== integer) throw new CrlError("bad CRL entry");
    into.add(normalSerial(Buffer.from(der.subarray(serial.start, serial.end)).toString("hex")));
  }
}

/**
 * The serial numbers a CRL file revokes: PEM (any number of `X509 CRL`
 * blocks) or one DER CRL, as Go's x509.ParseCRL takes them in etcd.
 *
 * @throws CrlError when the file holds no CRL or a malformed one.
 */
export function revokedSerials(file: Buffer): Set<string> {
  const serials = new Set<string>();
  const text = file.toString("latin1");
  const pem = /-----BEGIN X509 CRL-----([^-]*)-----END X509 CRL-----/g;
  let found = false;
  for (const m of text.matchAll(pem)) {
    serialsOfDer(Buffer.from(m[1] ?? "", "base64"), serials);
    found = true;
  }
  if (!found) {
    if (file[0] !== sequence) throw new CrlError("no PEM or DER CRL in it");
    serialsOfDer(file, serials);
  }
  return serials;
}

/**
 * etcd's `--client-crl-file` check (transport.checkCRL): after the
 * handshake, a connection whose client sent a certificate with a serial
 * number the CRL lists is closed. Like etcd, only serial numbers count — not
 * the CRL's dates, issuer or signature — so an expired CRL still revokes
 * what it lists and lets every other certificate in (OpenSSL's own CRL check
 * refuses every certificate of an issuer whose CRL has expired or is
 * missing). The file is read again when it changes, so a new CRL applies to
 * new connections without a restart, as etcd reads it per connection.
 *
 * Returns the check: the reason to close the connection, or undefined.
 * @throws CrlError when the file cannot be read or parsed now.
 */
export function createCrlCheck(path: string): (socket: TLSSocket) => string | undefined {
  let stamp = "";
  let serials = new Set<string>();
  const load = () => {
    const st = statSync(path);
    const now = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (now === stamp) return;
    serials = revokedSerials(readFileSync(path));
    stamp = now;
  };
  load();
  return (socket) => {
    try {
      load();
    } catch (err) {
      // etcd refuses the connection when its CRL cannot be read.
      return `--client-crl-file ${path}: ${(err as Error).message}`;
    }
    if (serials.size === 0) return undefined;
    // The certificates the client sent, leaf first, as etcd checks each.
    const seen = new Set<DetailedPeerCertificate>();
    let cert = socket.getPeerCertificate(true) as DetailedPeerCertificate | undefined;
    while (cert?.serialNumber !== undefined && !seen.has(cert)) {
      seen.add(cert);
      const serial = normalSerial(cert.serialNumber);
      if (serials.has(serial)) return `transport: certificate serial ${serial} revoked`;
      cert = cert.issuerCertificate;
    }
    return undefined;
  };
}
