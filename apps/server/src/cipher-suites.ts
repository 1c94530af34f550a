/**
 * etcd's `--cipher-suites` names (Go's crypto/tls names, which etcd 3.4
 * accepts, old CHACHA20 aliases included) → OpenSSL's names, which Node
 * takes. `null`: a suite Go knows that Node's OpenSSL 3 does not offer (RC4,
 * 3DES); `"tls1.3"`: a TLS 1.3 suite, which Go (so etcd) does not let a
 * configuration choose, so naming it changes nothing.
 */
const goCipherSuites: Readonly<Record<string, string | null>> = {
  TLS_RSA_WITH_RC4_128_SHA: null,
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: null,
  TLS_RSA_WITH_AES_128_CBC_SHA: "AES128-SHA",
  TLS_RSA_WITH_AES_256_CBC_SHA: "AES256-SHA",
  TLS_RSA_WITH_AES_128_CBC_SHA256: "AES128-SHA256",
  TLS_RSA_WITH_AES_128_GCM_SHA256: "AES128-GCM-SHA256",
  TLS_RSA_WITH_AES_256_GCM_SHA384: "AES256-GCM-SHA384",
  TLS_ECDHE_ECDSA_WITH_RC4_128_SHA: null,
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: "ECDHE-ECDSA-AES128-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: "ECDHE-ECDSA-AES256-SHA",
  TLS_ECDHE_RSA_WITH_RC4_128_SHA: null,
  TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: null,
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: "ECDHE-RSA-AES128-SHA",
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: "ECDHE-RSA-AES256-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: "ECDHE-ECDSA-AES128-SHA256",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: "ECDHE-RSA-AES128-SHA256",
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: "ECDHE-RSA-AES128-GCM-SHA256",
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "ECDHE-ECDSA-AES128-GCM-SHA256",
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: "ECDHE-RSA-AES256-GCM-SHA384",
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "ECDHE-ECDSA-AES256-GCM-SHA384",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: "ECDHE-RSA-CHACHA20-POLY1305",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: "ECDHE-ECDSA-CHACHA20-POLY1305",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-RSA-CHACHA20-POLY1305",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
  TLS_AES_128_GCM_SHA256: "tls1.3",
  TLS_AES_256_GCM_SHA384: "tls1.3",
  TLS_CHACHA20_POLY1305_SHA256: "tls1.3",
};

/**
 * One of these must be allowed for HTTP/2 (RFC 9113 §9.2.2); etcd's Go
 * server refuses to start without one.
 */
const http2Required = [
  "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
  "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
];

/**
 * Why etcd would refuse this `--cipher-suites` list, in etcd's words, or
 * undefined if it is fine: an unknown name, or no cipher HTTP/2 requires.
 */
export function cipherSuitesError(names: readonly string[]): string | undefined {
  const unknown = names.find((n) => !Object.hasOwn(goCipherSuites, n));
  if (unknown !== undefined) return `unexpected TLS cipher suite "${unknown}"`;
  if (!names.some((n) => http2Required.includes(n))) {
    return `http2: TLSConfig.CipherSuites is missing an HTTP/2-required AES_128_GCM_SHA256 cipher (need at least one of ${http2Required.join(" or ")})`;
  }
  return undefined;
}

/** Node's TLS 1.3 suites, left as they are: naming suites only restricts TLS 1.2, as in Go. */
const tls13Suites = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";

/**
 * Node's `ciphers` option for a checked `--cipher-suites` list
 * ({@link cipherSuitesError}): TLS 1.2 offers exactly the named suites, in
 * their order; TLS 1.3 keeps its defaults, as it does in etcd (Go does not
 * let TLS 1.3 suites be configured). `unavailable` lists the named suites
 * Node's OpenSSL cannot offer (RC4, 3DES), which are left out.
 */
export function opensslCiphersOf(names: readonly string[]): {
  ciphers: string;
  unavailable: string[];
} {
  const tls12: string[] = [];
  const unavailable: string[] = [];
  for (const name of names) {
    const openssl = goCipherSuites[name];
    if (openssl === null || openssl === undefined) unavailable.push(name);
    else if (openssl !== "tls1.3" && !tls12.includes(openssl)) tls12.push(openssl);
  }
  return { ciphers: [tls13Suites, ...tls12].join(":"), unavailable };
}
