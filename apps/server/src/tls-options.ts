import { readFileSync } from "node:fs";
import { createSecureContext, type TLSSocket, type TlsOptions } from "node:tls";
import { opensslCiphersOf } from "./cipher-suites.js";
import { CrlError, createCrlCheck } from "./crl-check.js";

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
 * - `--client-crl-file` is not handed to OpenSSL but checked after the
 *   handshake, as etcd does ({@link loadClientCrlCheck});
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
  const requireClientCert = files.clientCertAuth === true || ca !== undefined;
  const ciphers =
    files.cipherSuites === undefined ? undefined : opensslCiphersOf(files.cipherSuites).ciphers;
  const options: TlsOptions = {
    cert,
    key,
    minVersion: "TLSv1.2",
    ...(ca !== undefined && { ca }),
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
 * `--client-crl-file`: the check a TLS listener runs after each handshake
 * (etcd's checkCRL: a client certificate whose serial number the CRL lists
 * is refused; see createCrlCheck). PEM or one DER CRL, as Go's
 * x509.ParseCRL takes them; checked now, so a bad file fails at start naming
 * the flag.
 *
 * @throws TlsConfigError
 */
export function loadClientCrlCheck(path: string): (socket: TLSSocket) => string | undefined {
  try {
    return createCrlCheck(path);
  } catch (error) {
    const verb = error instanceof CrlError ? "use" : "read";
    throw new TlsConfigError(
      `cannot ${verb} --client-crl-file ${path}: ${(error as Error).message}`,
    );
  }
}
