import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A PEM certificate and its unencrypted PEM private key, as file paths. */
export interface CertFiles {
  cert: string;
  key: string;
}

/** Certificates for tests, in a temporary directory. */
export interface TestCerts {
  dir: string;
  /** The CA that signed `server` and every client in `clients`. */
  ca: CertFiles;
  /** CN "conclave-test-server", SANs 127.0.0.1, ::1 and localhost. */
  server: CertFiles;
  /** Client certificates by CN, signed by `ca`. */
  clients: Record<string, CertFiles>;
  /** Another CA, not trusted by anything. */
  otherCa: CertFiles;
  /** A client certificate with CN "root" signed by `otherCa`: same name, wrong issuer. */
  stranger: CertFiles;
  /**
   * Writes a CRL signed by `ca` that revokes `revoked` (none: an empty CRL)
   * and returns its path, as `openssl ca -revoke` and `-gencrl` make one.
   */
  crl(name: string, revoked: readonly CertFiles[]): string;
  /** The contents of a file, for `tls` options. */
  read(path: string): Buffer;
  /** Deletes the directory. */
  remove(): void;
}

/**
 * Generates a CA, a server certificate for the loopback addresses and client
 * certificates (CN = each name) with the `openssl` CLI, as an operator would.
 * ECDSA P-256 keys, valid for a week. A missing `openssl` throws: tests that
 * need certificates fail rather than skip.
 *
 * @param clientNames Default `["root", "alice"]`.
 */
export function createTestCerts(clientNames: readonly string[] = ["root", "alice"]): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "conclave-certs-"));
  try {
    const path = (name: string) => join(dir, name);
    const ca = createCa(dir, "ca", "conclave-test-ca");
    const server = issue(dir, ca, "server", "conclave-test-server", [
      "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost",
      "extendedKeyUsage=serverAuth,clientAuth",
    ]);
    const clients: Record<string, CertFiles> = {};
    for (const name of clientNames) {
      clients[name] = issue(dir, ca, `client-${name}`, name, ["extendedKeyUsage=clientAuth"]);
    }
    const otherCa = createCa(dir, "other-ca", "conclave-test-other-ca");
    const stranger = issue(dir, otherCa, "stranger", "root", ["extendedKeyUsage=clientAuth"]);
    rmSync(path("ext.cnf"), { force: true });
    return {
      dir,
      ca,
      server,
      clients,
      otherCa,
      stranger,
      crl: (name, revoked) => createCrl(dir, ca, name, revoked),
      read: (file) => readFileSync(file),
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

function openssl(args: string[]): void {
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === "ENOENT") {
      throw new Error("openssl is not installed (scripts/test.sh installs it); TLS tests need it");
    }
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

const keyArgs = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function createCa(dir: string, file: string, cn: string): CertFiles {
  const files = { cert: join(dir, `${file}.crt`), key: join(dir, `${file}.key`) };
  openssl([
    "req",
    "-x509",
    ...keyArgs,
    "-keyout",
    files.key,
    "-out",
    files.cert,
    "-days",
    "7",
    "-subj",
    `/CN=${cn}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return files;
}

function issue(
  dir: string,
  ca: CertFiles,
  file: string,
  cn: string,
  extensions: string[],
): CertFiles {
  const files = { cert: join(dir, `${file}.crt`), key: join(dir, `${file}.key`) };
  const csr = join(dir, `${file}.csr`);
  const ext = join(dir, "ext.cnf");
  openssl(["req", "-new", ...keyArgs, "-keyout", files.key, "-out", csr, "-subj", `/CN=${cn}`]);
  writeFileSync(
    ext,
    ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", ...extensions, ""].join(
      "\n",
    ),
  );
  openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.cert,
    "-CAkey",
    ca.key,
    "-set_serial",
    `0x${randomBytes(16)
      .toString("hex")
      .replace(/^[89a-f]/, "1")}`,
    "-out",
    files.cert,
    "-days",
    "7",
    "-extfile",
    ext,
  ]);
  rmSync(csr, { force: true });
  return files;
}

function createCrl(
  dir: string,
  ca: CertFiles,
  name: string,
  revoked: readonly CertFiles[],
): string {
  const db = mkdtempSync(join(dir, "crl-"));
  const config = join(db, "ca.cnf");
  writeFileSync(join(db, "index.txt"), "");
  writeFileSync(join(db, "crlnumber"), "01\n");
  writeFileSync(
    config,
    [
      "[ca]",
      "default_ca = test",
      "[test]",
      `database = ${join(db, "index.txt")}`,
      `crlnumber = ${join(db, "crlnumber")}`,
      "default_md = sha256",
      "default_crl_days = 7",
      "",
    ].join("\n"),
  );
  const signer = ["-config", config, "-keyfile", ca.key, "-cert", ca.cert];
  for (const files of revoked) openssl(["ca", ...signer, "-revoke", files.cert]);
  const out = join(dir, `${name}.crl.pem`);
  openssl(["ca", ...signer, "-gencrl", "-out", out]);
  rmSync(db, { recursive: true, force: true });
  return out;
}
