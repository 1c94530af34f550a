import * as assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { revokedSerials } from "./crl-check.js";
import { loadClientCrlCheck, loadClientTlsOptions, TlsConfigError } from "./tls-options.js";
import { createTestCerts, type TestCerts } from "./tls-test-certs.js";

describe("loadClientTlsOptions", () => {
  let certs: TestCerts;
  let garbage: string;
  before(() => {
    certs = createTestCerts([]);
    garbage = join(certs.dir, "garbage.pem");
    writeFileSync(garbage, "not a certificate\n");
  });
  after(() => certs.remove());

  const server = () => ({ certFile: certs.server.cert, keyFile: certs.server.key });

  it("reads the key and certificate; no client certificate is asked for by default", () => {
    const options = loadClientTlsOptions(server());
    assert.deepEqual(options.cert, certs.read(certs.server.cert));
    assert.deepEqual(options.key, certs.read(certs.server.key));
    assert.equal(options.minVersion, "TLSv1.2");
    assert.equal(options.requestCert, undefined);
    assert.equal(options.ca, undefined);
  });

  it("requires client certificates with --client-cert-auth or --trusted-ca-file, as etcd", () => {
    for (const flags of [
      { clientCertAuth: true },
      { trustedCaFile: certs.ca.cert },
      { clientCertAuth: true, trustedCaFile: certs.ca.cert },
    ]) {
      const options = loadClientTlsOptions({ ...server(), ...flags });
      assert.equal(options.requestCert, true, JSON.stringify(flags));
      assert.equal(options.rejectUnauthorized, true, JSON.stringify(flags));
      if (flags.trustedCaFile) assert.deepEqual(options.ca, certs.read(certs.ca.cert));
    }
  });

  it("adds --cipher-suites' TLS 1.2 suites", () => {
    const options = loadClientTlsOptions({
      ...server(),
      cipherSuites: ["TLS_RSA_WITH_RC4_128_SHA", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
    });
    // TLS 1.3 keeps Node's suites; RC4 is not to be had.
    assert.equal(
      options.ciphers,
      "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256",
    );
  });

  it("reads a CRL's revoked serial numbers, PEM or DER (etcd's own fixture revoke.crl is DER)", () => {
    const serialOf = (c: { cert: string }) =>
      new X509Certificate(certs.read(c.cert)).serialNumber.toLowerCase().replace(/^0+/, "");
    const pem = certs.read(certs.crl("two", [certs.server, certs.stranger]));
    const der = Buffer.from(pem.toString().replace(/-----[A-Z0-9 ]+-----|\s/g, ""), "base64");
    const want = new Set([serialOf(certs.server), serialOf(certs.stranger)]);
    assert.deepEqual(revokedSerials(pem), want);
    assert.deepEqual(revokedSerials(der), want);
    assert.deepEqual(revokedSerials(certs.read(certs.crl("none", []))), new Set());
    const derFile = join(certs.dir, "two.crl");
    writeFileSync(derFile, der);
    assert.equal(typeof loadClientCrlCheck(derFile), "function");
  });

  const crlFailures: { name: string; file: () => string; error: RegExp }[] = [
    {
      name: "a missing CRL file",
      file: () => "/nonexistent/crl.pem",
      error: /^cannot read --client-crl-file \/nonexistent\/crl\.pem/,
    },
    {
      name: "a CRL file that is no PEM CRL",
      file: () => certs.ca.cert,
      error: /^cannot use --client-crl-file .*ca\.crt: no PEM or DER CRL in it/,
    },
    {
      name: "a CRL file that is neither PEM nor DER",
      file: () => garbage,
      error: /^cannot use --client-crl-file .*garbage\.pem: no PEM or DER CRL in it/,
    },
  ];
  for (const c of crlFailures) {
    it(`refuses ${c.name}`, () => {
      assert.throws(
        () => loadClientCrlCheck(c.file()),
        (e: unknown) => e instanceof TlsConfigError && c.error.test(e.message),
      );
    });
  }

  const failures: {
    name: string;
    flags: () => Parameters<typeof loadClientTlsOptions>[0];
    error: RegExp;
  }[] = [
    {
      name: "a missing certificate file",
      flags: () => ({ ...server(), certFile: "/nonexistent/server.crt" }),
      error: /^cannot read --cert-file \/nonexistent\/server\.crt: ENOENT/,
    },
    {
      name: "a missing CA file",
      flags: () => ({ ...server(), trustedCaFile: "/nonexistent/ca.crt" }),
      error: /^cannot read --trusted-ca-file \/nonexistent\/ca\.crt/,
    },
    {
      name: "a key that does not belong to the certificate",
      flags: () => ({ ...server(), keyFile: certs.ca.key }),
      error: /^cannot use --cert-file .* with --key-file .*ca\.key: /,
    },
    {
      name: "a certificate file that is no PEM",
      flags: () => ({ ...server(), certFile: garbage }),
      error: /^cannot use --cert-file .*garbage\.pem/,
    },
    {
      name: "a CA file that is no PEM",
      flags: () => ({ ...server(), trustedCaFile: garbage }),
      error: /^cannot use --trusted-ca-file .*garbage\.pem/,
    },
  ];
  for (const c of failures) {
    it(`refuses ${c.name}`, () => {
      assert.throws(
        () => loadClientTlsOptions(c.flags()),
        (e: unknown) => e instanceof TlsConfigError && c.error.test(e.message),
      );
    });
  }
});
