import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import * as https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { createSelfSignedCert, ensureSelfSignedCertFiles } from "./tls-self-signed.js";

const day = 86_400_000;

describe("createSelfSignedCert", () => {
  it("makes a certificate Node and openssl parse, for every host, signed by its own key", () => {
    const now = new Date("2026-03-04T05:06:07Z");
    const { cert, key } = createSelfSignedCert({
      hosts: ["127.0.0.1", "::1", "localhost", "10.1.2.3", "::ffff:192.0.2.1", "fd00::1:2"],
      now,
    });
    const x509 = new X509Certificate(cert);
    assert.equal(x509.subject, "O=etcd");
    assert.equal(x509.issuer, "O=etcd");
    assert.ok(x509.verify(x509.publicKey), "self-signed");
    assert.ok(x509.checkPrivateKey(createPrivateKey(key)));
    assert.equal(x509.ca, false);
    assert.deepEqual(x509.keyUsage, ["1.3.6.1.5.5.7.3.1"]);
    assert.equal(new Date(x509.validFrom).getTime(), now.getTime());
    assert.equal(new Date(x509.validTo).getTime(), now.getTime() + 365 * day);
    for (const ip of ["127.0.0.1", "::1", "10.1.2.3", "fd00::1:2"]) {
      assert.ok(x509.checkIP(ip), ip);
    }
    assert.equal(x509.checkIP("10.1.2.4"), undefined);
    assert.equal(x509.checkHost("localhost"), "localhost");
    assert.match(
      x509.subjectAltName ?? "",
      /IP Address:0:0:0:0:0:FFFF:C000:201|IP Address:::ffff:192\.0\.2\.1/i,
    );
    const text = execFileSync("openssl", ["x509", "-noout", "-text"], { input: cert }).toString();
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature/);
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
  });

  it("writes GeneralizedTime from 2050 on", () => {
    const { cert } = createSelfSignedCert({
      hosts: [],
      now: new Date("2049-12-01T00:00:00Z"),
      validDays: 3650,
    });
    const x509 = new X509Certificate(cert);
    assert.equal(new Date(x509.validFrom).toISOString(), "2049-12-01T00:00:00.000Z");
    assert.equal(new Date(x509.validTo).getUTCFullYear(), 2059);
  });

  it("serves TLS that a client trusting the certificate verifies", async () => {
    const { cert, key } = createSelfSignedCert({ hosts: ["127.0.0.1"] });
    const server = https.createServer({ cert, key }, (_req, res) => res.end("ok"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as { port: number };
      const body = await new Promise<string>((resolve, reject) => {
        https
          .get(`https://127.0.0.1:${port}/`, { ca: cert, agent: false }, (res) => {
            let text = "";
            res.on("data", (d: Buffer) => {
              text += d.toString();
            });
            res.on("end", () => resolve(text));
          })
          .on("error", reject);
      });
      assert.equal(body, "ok");
    } finally {
      server.close();
    }
  });
});

describe("ensureSelfSignedCertFiles", () => {
  it("creates cert.pem and key.pem (0600) once and reuses them", () => {
    const dir = mkdtempSync(join(tmpdir(), "conclave-autotls-"));
    try {
      const fixtures = join(dir, "fixtures", "client");
      const first = ensureSelfSignedCertFiles(fixtures, ["127.0.0.1"]);
      assert.equal(first.created, true);
      assert.equal(first.certFile, join(fixtures, "cert.pem"));
      assert.equal(statSync(first.keyFile).mode & 0o777, 0o600);
      const cert = readFileSync(first.certFile, "utf8");
      const again = ensureSelfSignedCertFiles(fixtures, ["127.0.0.1", "10.0.0.1"]);
      assert.equal(again.created, false);
      assert.equal(readFileSync(again.certFile, "utf8"), cert);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
