import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { getCiphers } from "node:tls";
import { cipherSuitesError, opensslCiphersOf } from "./cipher-suites.js";

describe("cipher suites", () => {
  it("refuses what etcd refuses, in etcd's words", () => {
    assert.equal(
      cipherSuitesError(["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "FOO"]),
      'unexpected TLS cipher suite "FOO"',
    );
    assert.match(
      cipherSuitesError(["TLS_RSA_WITH_AES_128_GCM_SHA256"]) ?? "",
      /^http2: TLSConfig.CipherSuites is missing an HTTP\/2-required AES_128_GCM_SHA256 cipher/,
    );
    assert.equal(cipherSuitesError(["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]), undefined);
  });

  it("maps every suite Node's OpenSSL has to a cipher it knows", () => {
    const known = new Set(getCiphers().map((c) => c.toUpperCase()));
    const names = [
      "TLS_RSA_WITH_AES_128_CBC_SHA",
      "TLS_RSA_WITH_AES_256_CBC_SHA",
      "TLS_RSA_WITH_AES_128_CBC_SHA256",
      "TLS_RSA_WITH_AES_128_GCM_SHA256",
      "TLS_RSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
      "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
      "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
      "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
      "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
      "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
      "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
      "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
      "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
      "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ];
    const { ciphers, unavailable } = opensslCiphersOf(names);
    assert.deepEqual(unavailable, []);
    const tls12 = ciphers.split(":").filter((c) => !c.startsWith("TLS_"));
    assert.equal(tls12.length, names.length);
    // An old and a new spelling of one suite name it once.
    assert.equal(
      opensslCiphersOf([
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
      ]).ciphers.split(":").length,
      4,
    );
    for (const c of tls12) assert.ok(known.has(c), c);
    assert.deepEqual(opensslCiphersOf(["TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"]).unavailable, [
      "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    ]);
  });
});
