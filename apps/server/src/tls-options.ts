import { readFileSync } from "node:fs";
import { createSecureContext, type TlsOptions } from "node:tls";

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
 *   public CAs, as Go's server falls back to the system roots.
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
  const options: TlsOptions = {
    cert,
    key,
    minVersion: "TLSv1.2",
    ...(ca !== undefined && { ca }),
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
  return options;
}
