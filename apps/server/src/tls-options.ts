import { readFileSync } from "node:fs";
import { createSecureContext, type TlsOptions } from "node:tls";
import { opensslCiphersOf } from "./cipher-suites.js";

/** The client TLS flags, as etcd names them. */
export interface ClientTlsFiles {
  /** `--cert-file`: the PEM certificate, followed by any intermediates. */
  certFile: string;
  /** `--key-file`: its unencrypted PEM private key. */
  keyFile: string;
  /** `--trusted-ca-file`: PEM CA certificates that client certificates must chain to. */
  trustedCaFile?: string;
  /** `--client-cert-auth`: require a verified client certificate. */
  clientCertAuth?: boolean;
  /**
   * `--client-crl-file`: certificate revocation lists, PEM or one DER CRL
   * (Go's x509.ParseCRL, which etcd uses, takes either); a client
   * certificate they revoke fails its handshake.
   */
  crlFile?: string;
  /**
   * `--cipher-suites`: Go's names of the TLS 1.2 suites to offer, checked
   * by `cipherSuitesError` (cipher-suites.ts). Default: Node's.
   */
  cipherSuites?: readonly string[];
}

/** Certificate files that cannot be read or do not make a usable TLS configuration. */
export class TlsConfigError extends Error {
  override name = "TlsConfigError";
}

/**
 * Reads the certificate files of `https://` listen URLs into TLS server
 * options, as etcd's client transport configures them:
 *
 * - TLS 1.2 at least;
 * - a client certificate is required, and must verify, when either
 *   `--client-cert-auth` or `--trusted-ca-file` is given (etcd requires one
 *   for either); without `--trusted-ca-file` it verifies against Node's
 *   public CAs, as Go's server falls back to the system roots;
 * - with `--client-crl-file`, OpenSSL checks every client certificate
 *   against the CRLs of its issuers. Stricter than etcd, which looks a
 *   certificate's serial up in whatever CRL it was given: here the file
 *   must hold a CRL from each CA that issues client certificates (with
 *   intermediates, from each CA of the chain), or their certificates are
 *   refused as unverifiable;
 * - with `--cipher-suites`, TLS 1.2 offers those suites only; TLS 1.3 keeps
 *   its defaults, as in etcd (Go's TLS 1.3 suites cannot be configured).
 *
 * The files are read once (call again to reload). The result is checked by
 * building a secure context, so a key that does not match its certificate or
 * a file that is no PEM fails here, naming the flag, rather than at the first
 * handshake.
 *
 * @throws TlsConfigError
 */
export function loadClientTlsOptions(files: ClientTlsFiles): TlsOptions {
  const read = (flag: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new TlsConfigError(`cannot read ${flag} ${path}: ${(error as Error).message}`);
    }
  };
  const cert = read("--cert-file", files.certFile);
  const key = read("--key-file", files.keyFile);
  const ca =
    files.trustedCaFile === undefined ? undefined : read("--trusted-ca-file", files.trustedCaFile);
  const crl =
    files.crlFile === undefined ? undefined : crlAsPem(read("--client-crl-file", files.crlFile));
  const requireClientCert = files.clientCertAuth === true || ca !== undefined;
  const ciphers =
    files.cipherSuites === undefined ? undefined : opensslCiphersOf(files.cipherSuites).ciphers;
  const options: TlsOptions = {
    cert,
    key,
    minVersion: "TLSv1.2",
    ...(ca !== undefined && { ca }),
    ...(crl != null && { crl }),
    ...(ciphers !== undefined && { ciphers }),
    ...(requireClientCert && { requestCert: true, rejectUnauthorized: true }),
  };
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new TlsConfigError(
      `cannot use --cert-file ${files.certFile} with --key-file ${files.keyFile}: ${(error as Error).message}`,
    );
  }
  if (ca !== undefined) {
    try {
      createSecureContext({ ca });
    } catch (error) {
      throw new TlsConfigError(
        `cannot use --trusted-ca-file ${files.trustedCaFile}: ${(error as Error).message}`,
      );
    }
    if (!ca.includes("-----BEGIN CERTIFICATE-----")) {
      throw new TlsConfigError(
        `cannot use --trusted-ca-file ${files.trustedCaFile}: no PEM certificate in it`,
      );
    }
  }
  if (crl !== undefined) {
    if (crl === null) {
      throw new TlsConfigError(
        `cannot use --client-crl-file ${files.crlFile}: no PEM or DER CRL in it`,
      );
    }
    try {
      createSecureContext({ crl });
    } catch (error) {
      throw new TlsConfigError(
        `cannot use --client-crl-file ${files.crlFile}: ${(error as Error).message}`,
      );
    }
  }
  if (ciphers !== undefined) {
    try {
      createSecureContext({ ciphers });
    } catch (error) {
      throw new TlsConfigError(`cannot use --cipher-suites: ${(error as Error).message}`);
    }
  }
  return options;
}

/**
 * A CRL file's contents as PEM, which is all Node's TLS takes: PEM as it is;
 * a DER CRL (an ASN.1 SEQUENCE, as `openssl crl -outform DER` and etcd's own
 * test fixtures write them) wrapped in PEM; anything else null.
 */
export function crlAsPem(file: Buffer): Buffer | null {
  if (file.includes("-----BEGIN X509 CRL-----")) return file;
  if (file[0] !== 0x30) return null;
  const body = file.toString("base64").replace(/.{1,64}/g, "$&\n");
  return Buffer.from(`-----BEGIN X509 CRL-----\n${body}-----END X509 CRL-----\n`);
}
