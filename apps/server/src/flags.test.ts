import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ConclaveConfig, FlagError, flagToEnv, parseFlags, usage } from "./flags.js";

const defaults: ConclaveConfig = {
  name: "default",
  dataDir: "default.conclave",
  listenClientUrls: ["http://127.0.0.1:2379"],
  advertiseClientUrls: ["http://127.0.0.1:2379"],
  initialCluster: {
    name: "default",
    members: new Map([["default", ["http://localhost:2380"]]]),
    token: "etcd-cluster",
  },
  clientCertAuth: false,
  maxConcurrentStreams: 2 ** 32 - 1,
  listenMetricsUrls: [],
  autoTls: false,
  grpcEngine: true,
  maxTxnOps: 128,
  maxRequestBytes: 1_572_864,
  logLevel: "info",
  authToken: { type: "simple" },
  authTokenTtl: 300,
  bcryptCost: 10,
  quotaBackendBytes: 0,
  help: false,
  version: false,
  warnings: [],
};

interface ValidCase {
  name: string;
  argv?: string[];
  env?: Record<string, string>;
  want: Partial<ConclaveConfig>;
}

const validCases: ValidCase[] = [
  { name: "defaults", want: {} },
  {
    name: "etcd's TLS and stream flags",
    argv: [
      "--client-crl-file=/etc/crl.pem",
      "--cipher-suites",
      "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
      "--max-concurrent-streams=8",
      "--listen-metrics-urls",
      "http://127.0.0.1:2381,http://localhost:2382",
    ],
    want: {
      clientCrlFile: "/etc/crl.pem",
      cipherSuites: [
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
      ],
      maxConcurrentStreams: 8,
      listenMetricsUrls: ["http://127.0.0.1:2381", "http://localhost:2382"],
    },
  },
  {
    name: "--max-concurrent-streams 0 is the default, as grpc-go reads it",
    env: { ETCD_MAX_CONCURRENT_STREAMS: "0" },
    want: {},
  },
  {
    name: "cipher suites Node's TLS lacks are left out with a warning",
    argv: ["--cipher-suites=TLS_RSA_WITH_RC4_128_SHA,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
    want: {
      cipherSuites: ["TLS_RSA_WITH_RC4_128_SHA", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
      warnings: [
        "--cipher-suites: TLS_RSA_WITH_RC4_128_SHA is not available in Node's TLS, left out",
      ],
    },
  },
  {
    name: "auth token type and TTL",
    argv: ["--auth-token", "simple", "--auth-token-ttl=5"],
    want: { authToken: { type: "simple" }, authTokenTtl: 5 },
  },
  {
    name: "--bcrypt-cost, as etcd's flag and ETCD_BCRYPT_COST",
    argv: ["--bcrypt-cost=12"],
    want: { bcryptCost: 12 },
  },
  {
    name: "a bcrypt cost bcrypt refuses: etcd's default, with a warning",
    env: { ETCD_BCRYPT_COST: "3" },
    want: {
      warnings: ["ETCD_BCRYPT_COST=3 is outside bcrypt's 4..31: using the default 10"],
    },
  },
  {
    name: "jwt tokens, etcd's option syntax",
    argv: ["--auth-token", "jwt,pub-key=k.pub,priv-key=k.pem,sign-method=RS256,ttl=1s"],
    want: {
      authToken: {
        type: "jwt",
        signMethod: "RS256",
        publicKeyFile: "k.pub",
        privateKeyFile: "k.pem",
        ttlMs: 1000,
      },
    },
  },
  {
    name: "jwt tokens from ETCD_AUTH_TOKEN, unknown options warned about as etcd",
    env: { ETCD_AUTH_TOKEN: "jwt,sign-method=HS256,priv-key=secret,colour=blue" },
    want: {
      authToken: { type: "jwt", signMethod: "HS256", privateKeyFile: "secret", ttlMs: 300_000 },
      warnings: ["ETCD_AUTH_TOKEN: unknown JWT options: colour"],
    },
  },
  {
    name: "--flag value",
    argv: ["--name", "n1", "--max-txn-ops", "256", "--log-level", "debug"],
    want: { name: "n1", dataDir: "n1.conclave", maxTxnOps: 256, logLevel: "debug" },
  },
  {
    name: "--flag=value",
    argv: ["--name=n1", "--data-dir=/var/lib/c", "--max-request-bytes=1048576"],
    want: { name: "n1", dataDir: "/var/lib/c", maxRequestBytes: 1_048_576 },
  },
  {
    name: "--wal-dir: the log in a directory of its own; empty, beside the data (etcd's default)",
    argv: ["--data-dir=/var/lib/c", "--wal-dir=/fast/wal"],
    want: { dataDir: "/var/lib/c", walDir: "/fast/wal" },
  },
  {
    name: "--wal-dir empty",
    argv: ["--wal-dir="],
    want: {},
  },
  {
    name: "etcd's backend batch flags: how long and how many writes gather for LMDB",
    argv: ["--backend-batch-interval=10ms", "--backend-batch-limit=500"],
    want: { backendBatch: { intervalMs: 10, limit: 500 } },
  },
  {
    name: "backend batch flags at 0: etcd's defaults",
    argv: ["--backend-batch-interval=0", "--backend-batch-limit=0"],
    want: {},
  },
  {
    name: "a single dash, as Go's flag package allows",
    argv: ["-name", "n1", "-log-level=warn"],
    want: { name: "n1", dataDir: "n1.conclave", logLevel: "warn" },
  },
  {
    name: "a value containing =",
    argv: ["--name=a=b"],
    want: { name: "a=b", dataDir: "a=b.conclave" },
  },
  {
    name: "the last occurrence wins",
    argv: ["--name", "a", "--name", "b"],
    want: { name: "b", dataDir: "b.conclave" },
  },
  {
    name: "several listen URLs, advertised by default",
    argv: ["--listen-client-urls", "http://127.0.0.1:2379, http://[::1]:22379/"],
    want: {
      listenClientUrls: ["http://127.0.0.1:2379", "http://[::1]:22379"],
      advertiseClientUrls: ["http://127.0.0.1:2379", "http://[::1]:22379"],
    },
  },
  {
    name: "localhost, port 0 and an explicit default port",
    argv: ["--listen-client-urls=http://localhost:0,http://127.0.0.1:80"],
    want: {
      listenClientUrls: ["http://localhost:0", "http://127.0.0.1:80"],
      advertiseClientUrls: ["http://localhost:0", "http://127.0.0.1:80"],
    },
  },
  {
    name: "advertise URLs may use names",
    argv: ["--advertise-client-urls", "http://etcd.example.com:2379"],
    want: { advertiseClientUrls: ["http://etcd.example.com:2379"] },
  },
  {
    name: "a wildcard listen address warns when nothing is advertised",
    argv: ["--listen-client-urls", "http://0.0.0.0:2379"],
    want: {
      listenClientUrls: ["http://0.0.0.0:2379"],
      advertiseClientUrls: ["http://0.0.0.0:2379"],
      warnings: [
        "advertising http://0.0.0.0:2379, which clients cannot dial: set --advertise-client-urls",
      ],
    },
  },
  {
    name: "log level is case-insensitive",
    argv: ["--log-level", "ERROR"],
    want: { logLevel: "error" },
  },
  {
    name: "environment variables",
    env: {
      ETCD_NAME: "envname",
      ETCD_LISTEN_CLIENT_URLS: "http://127.0.0.1:12379",
      ETCD_MAX_TXN_OPS: "64",
      ETCD_MAX_REQUEST_BYTES: "2048",
      ETCD_LOG_LEVEL: "warn",
      PATH: "/usr/bin",
    },
    want: {
      name: "envname",
      dataDir: "envname.conclave",
      listenClientUrls: ["http://127.0.0.1:12379"],
      advertiseClientUrls: ["http://127.0.0.1:12379"],
      maxTxnOps: 64,
      maxRequestBytes: 2048,
      logLevel: "warn",
    },
  },
  {
    name: "flags win over environment variables",
    argv: ["--name", "flagname"],
    env: { ETCD_NAME: "envname", ETCD_DATA_DIR: "/env/dir" },
    want: {
      name: "flagname",
      dataDir: "/env/dir",
      warnings: ["environment variable ETCD_NAME is shadowed by the flag --name"],
    },
  },
  {
    name: "empty and unknown environment variables",
    env: { ETCD_NAME: "", ETCD_BOGUS: "a=http://x:2380", ETCDCTL_API: "3" },
    want: { warnings: ["unrecognized environment variable ETCD_BOGUS, ignored"] },
  },
  {
    name: "etcd's flags without effect: accepted, each named in one warning",
    argv: [
      "--listen-peer-urls",
      "http://127.0.0.1:2380",
      "--snapshot-count=10000",
      "--pre-vote",
      "--enable-v2=false",
      "--logger",
      "zap",
      "--name",
      "n1",
    ],
    env: { ETCD_INITIAL_CLUSTER_STATE: "new", ETCD_LOG_OUTPUTS: "stderr" },
    want: {
      name: "n1",
      dataDir: "n1.conclave",
      initialCluster: {
        name: "n1",
        members: new Map([["n1", ["http://localhost:2380"]]]),
        token: "etcd-cluster",
      },
      warnings: [
        "--listen-peer-urls has no effect: Conclave has no peer traffic to secure",
        "--snapshot-count has no effect: Conclave has no Raft peers, or Raft WAL files and snapshots to tune",
        "--pre-vote has no effect: Conclave has no Raft peers, or Raft WAL files and snapshots to tune",
        "--enable-v2 has no effect: the v2 API is not served",
        "--logger has no effect: Conclave logs JSON lines to standard output (pino)",
        "ETCD_INITIAL_CLUSTER_STATE has no effect: there is no cluster to discover: every member serves alone or shares PostgreSQL",
        "ETCD_LOG_OUTPUTS has no effect: Conclave logs JSON lines to standard output (pino)",
      ],
    },
  },
  {
    name: "etcd's bootstrap flags: the IDs of a new data dir (etcd's e2e configNoTLS)",
    argv: [
      "--name",
      "test-0",
      "--initial-cluster",
      "test-0=http://localhost:20001",
      "--initial-advertise-peer-urls",
      "http://localhost:20001",
      "--initial-cluster-token",
      "new",
    ],
    want: {
      name: "test-0",
      dataDir: "test-0.conclave",
      initialCluster: {
        name: "test-0",
        members: new Map([["test-0", ["http://localhost:20001"]]]),
        token: "new",
      },
    },
  },
  {
    name: "--initial-cluster with three members, one named twice",
    env: {
      ETCD_NAME: "b",
      ETCD_INITIAL_CLUSTER: "a=http://a:2380,b=http://b:2380,b=http://b2:2380,c=http://c:2380",
    },
    want: {
      name: "b",
      dataDir: "b.conclave",
      initialCluster: {
        name: "b",
        members: new Map([
          ["a", ["http://a:2380"]],
          ["b", ["http://b:2380", "http://b2:2380"]],
          ["c", ["http://c:2380"]],
        ]),
        token: "etcd-cluster",
      },
    },
  },
  {
    name: "periodic auto-compaction: a duration, or a bare number of hours",
    argv: ["--auto-compaction-retention", "1h30m"],
    want: { autoCompaction: { mode: "periodic", retention: 90 * 60 * 1000, text: "1h30m" } },
  },
  {
    name: "periodic auto-compaction in hours",
    env: { ETCD_AUTO_COMPACTION_RETENTION: "2" },
    want: { autoCompaction: { mode: "periodic", retention: 2 * 60 * 60 * 1000, text: "2" } },
  },
  {
    name: "revision auto-compaction",
    argv: ["--auto-compaction-mode=revision", "--auto-compaction-retention=1000"],
    want: { autoCompaction: { mode: "revision", retention: 1000, text: "1000" } },
  },
  {
    name: "retention 0 turns auto-compaction off",
    argv: ["--auto-compaction-mode", "revision", "--auto-compaction-retention", "0"],
    want: {},
  },
  { name: "--debug logs at debug level", argv: ["--debug"], want: { logLevel: "debug" } },
  {
    name: "a backend quota; negative turns it off",
    argv: ["--quota-backend-bytes", "-1"],
    want: { quotaBackendBytes: -1 },
  },
  {
    name: "a quota above 8 GiB warns",
    env: { ETCD_QUOTA_BACKEND_BYTES: String(9 * 1024 ** 3) },
    want: {
      quotaBackendBytes: 9 * 1024 ** 3,
      warnings: ["--quota-backend-bytes=9663676416 exceeds 8 GiB, the most etcd suggests"],
    },
  },
  {
    name: "--log-level wins over --debug",
    argv: ["--debug", "--log-level", "warn"],
    want: { logLevel: "warn" },
  },
  {
    name: "a large --max-request-bytes warns",
    argv: ["--max-request-bytes", String(20 * 1024 * 1024)],
    want: {
      maxRequestBytes: 20 * 1024 * 1024,
      warnings: [
        "--max-request-bytes=20971520 exceeds 10 MiB: large requests may delay other requests",
      ],
    },
  },
  {
    name: "https listen URLs with a key and certificate, advertised as https",
    argv: [
      "--listen-client-urls",
      "https://127.0.0.1:2379",
      "--cert-file",
      "/etc/c/server.crt",
      "--key-file=/etc/c/server.key",
    ],
    want: {
      listenClientUrls: ["https://127.0.0.1:2379"],
      advertiseClientUrls: ["https://127.0.0.1:2379"],
      certFile: "/etc/c/server.crt",
      keyFile: "/etc/c/server.key",
    },
  },
  {
    name: "client-cert auth from the environment, as etcd's variables",
    env: {
      ETCD_LISTEN_CLIENT_URLS: "https://127.0.0.1:2379",
      ETCD_CERT_FILE: "s.crt",
      ETCD_KEY_FILE: "s.key",
      ETCD_TRUSTED_CA_FILE: "ca.crt",
      ETCD_CLIENT_CERT_AUTH: "true",
    },
    want: {
      listenClientUrls: ["https://127.0.0.1:2379"],
      advertiseClientUrls: ["https://127.0.0.1:2379"],
      certFile: "s.crt",
      keyFile: "s.key",
      trustedCaFile: "ca.crt",
      clientCertAuth: true,
    },
  },
  {
    name: "plain and TLS URLs side by side; the plain one warns, as etcd",
    argv: [
      "--listen-client-urls=http://127.0.0.1:2379,https://127.0.0.1:2380",
      "--advertise-client-urls=https://etcd.example.com:2380",
      "--cert-file=s.crt",
      "--key-file=s.key",
      "--client-cert-auth",
    ],
    want: {
      listenClientUrls: ["http://127.0.0.1:2379", "https://127.0.0.1:2380"],
      advertiseClientUrls: ["https://etcd.example.com:2380"],
      certFile: "s.crt",
      keyFile: "s.key",
      clientCertAuth: true,
      warnings: [
        "scheme is HTTP while key and cert files are present; ignoring key and cert files for client url http://127.0.0.1:2379",
        "scheme is HTTP while --client-cert-auth is enabled; ignoring client cert auth for client url http://127.0.0.1:2379",
      ],
    },
  },
  {
    name: "--auto-tls serves https:// without certificate files",
    argv: ["--listen-client-urls=https://127.0.0.1:2379", "--auto-tls"],
    want: {
      listenClientUrls: ["https://127.0.0.1:2379"],
      advertiseClientUrls: ["https://127.0.0.1:2379"],
      autoTls: true,
    },
  },
  {
    name: "--auto-tls with certificate files: etcd's warning, the files win",
    argv: ["--auto-tls", "--cert-file=s.crt", "--key-file=s.key"],
    env: { ETCD_AUTO_TLS: "1" },
    want: {
      certFile: "s.crt",
      keyFile: "s.key",
      autoTls: true,
      warnings: [
        "environment variable ETCD_AUTO_TLS is shadowed by the flag --auto-tls",
        "ignoring client auto TLS since certs given",
        "scheme is HTTP while key and cert files are present; ignoring key and cert files for client url http://127.0.0.1:2379",
      ],
    },
  },
  {
    name: "--client-cert-auth=false and empty TLS paths",
    argv: ["--client-cert-auth=false", "--cert-file=", "--key-file", ""],
    want: {},
  },
  { name: "--help", argv: ["--help"], want: { help: true } },
  { name: "-h", argv: ["-h"], want: { help: true } },
  { name: "--help=false", argv: ["--help=false"], want: {} },
  { name: "--version", argv: ["--version"], want: { version: true } },
  {
    name: "--help skips value validation",
    argv: ["--max-txn-ops", "zero", "--help"],
    want: { help: true },
  },
  {
    name: "-- ends the flags",
    argv: ["--name", "x", "--"],
    want: { name: "x", dataDir: "x.conclave" },
  },
];

interface ErrorCase {
  name: string;
  argv?: string[];
  env?: Record<string, string>;
  error: RegExp;
}

const errorCases: ErrorCase[] = [
  {
    name: "an unknown cipher suite, in etcd's words",
    argv: ["--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,FOO"],
    error: /: unexpected TLS cipher suite "FOO"$/,
  },
  {
    name: "cipher suites without one HTTP/2 requires, in etcd's words",
    argv: ["--cipher-suites", "TLS_RSA_WITH_AES_128_GCM_SHA256"],
    error: /http2: TLSConfig.CipherSuites is missing an HTTP\/2-required AES_128_GCM_SHA256 cipher/,
  },
  {
    name: "--max-concurrent-streams beyond 32 bits",
    argv: ["--max-concurrent-streams", "4294967296"],
    error: /invalid value "4294967296" for --max-concurrent-streams/,
  },
  {
    name: "an https metrics URL without certificates",
    argv: ["--listen-metrics-urls", "https://127.0.0.1:2381"],
    error: /must be provided for metrics url https:\/\/127\.0\.0\.1:2381 with HTTPS scheme/,
  },
  {
    name: "jwt tokens without a sign method",
    argv: ["--auth-token", "jwt,priv-key=k.pem"],
    error:
      /^invalid value "jwt,priv-key=k.pem" for --auth-token: auth: invalid auth options: auth: invalid auth signature method ""/,
  },
  {
    name: "an unknown token type",
    argv: ["--auth-token=magic"],
    error: /auth: invalid auth options: unknown token type "magic"/,
  },
  { name: "a zero token TTL", argv: ["--auth-token-ttl", "0"], error: /--auth-token-ttl/ },
  {
    name: "unknown flag, with the closest name",
    argv: ["--datadir", "x"],
    error: /^unknown flag: --datadir \(did you mean --data-dir\?\)$/,
  },
  {
    name: "a misspelt etcd flag",
    argv: ["--listen-client-url", "x"],
    error: /did you mean --listen-client-urls\?/,
  },
  {
    name: "a flag without effect still needs its value",
    argv: ["--snapshot-count"],
    error: /flag needs an argument: --snapshot-count/,
  },
  {
    name: "an unknown auto-compaction mode",
    argv: ["--auto-compaction-mode", "weekly"],
    error: /must be "periodic" or "revision"/,
  },
  {
    name: "a periodic retention that is no duration",
    argv: ["--auto-compaction-retention", "1d"],
    error: /expected a duration/,
  },
  {
    name: "a revision retention that is no number",
    argv: ["--auto-compaction-mode", "revision", "--auto-compaction-retention", "1h"],
    error: /not a whole number/,
  },
  { name: "unknown flag with =", argv: ["--bogus=1"], error: /^unknown flag: --bogus/ },
  { name: "positional argument", argv: ["serve"], error: /'serve' is not a valid flag/ },
  { name: "argument after --", argv: ["--", "x"], error: /'x' is not a valid flag/ },
  { name: "missing value at the end", argv: ["--name"], error: /flag needs an argument: --name/ },
  {
    name: "a flag where a value belongs",
    argv: ["--name", "--data-dir", "x"],
    error: /flag needs an argument: --name/,
  },
  { name: "empty name", argv: ["--name="], error: /--name must not be empty/ },
  { name: "empty data dir", argv: ["--data-dir="], error: /--data-dir must not be empty/ },
  {
    name: "a batch interval without a unit",
    argv: ["--backend-batch-interval=10"],
    error: /invalid value "10" for --backend-batch-interval: expected a duration such as 100ms/,
  },
  { name: "bad boolean", argv: ["--help=yes"], error: /invalid boolean value "yes" for --help/ },
  {
    name: "--name missing from --initial-cluster (etcd refuses it too)",
    argv: ["--initial-cluster", "other=http://localhost:2380"],
    error:
      /^couldn't find local name "default" in the initial cluster configuration \(--initial-cluster\)$/,
  },
  {
    name: "--initial-cluster not name=url",
    argv: ["--initial-cluster", "http://localhost:2380"],
    error:
      /invalid value "http:\/\/localhost:2380" for --initial-cluster: expected name=url,name=url/,
  },
  {
    name: "non-numeric max-txn-ops",
    argv: ["--max-txn-ops", "ten"],
    error: /invalid value "ten" for --max-txn-ops: not a whole number/,
  },
  {
    name: "negative max-txn-ops",
    argv: ["--max-txn-ops=-1"],
    error: /invalid value "-1" for --max-txn-ops: not a whole number/,
  },
  {
    name: "zero max-txn-ops",
    argv: ["--max-txn-ops", "0"],
    error: /invalid value "0" for --max-txn-ops: must be between 1 and/,
  },
  {
    name: "fractional max-request-bytes",
    argv: ["--max-request-bytes", "1.5"],
    error: /not a whole number/,
  },
  {
    name: "huge max-request-bytes",
    argv: ["--max-request-bytes", "99999999999"],
    error: /must be between 1 and/,
  },
  {
    name: "bad number in the environment names the variable",
    env: { ETCD_MAX_TXN_OPS: "x" },
    error: /invalid value "x" for ETCD_MAX_TXN_OPS/,
  },
  {
    name: "bad log level",
    argv: ["--log-level", "trace"],
    error: /invalid value "trace" for --log-level: must be one of debug, info, warn, error/,
  },
  {
    name: "https without a key and certificate",
    argv: ["--listen-client-urls", "http://127.0.0.1:2379,https://127.0.0.1:2380"],
    error:
      /^TLS key\/cert \(--cert-file, --key-file\) must be provided for client url https:\/\/127\.0\.0\.1:2380 with HTTPS scheme$/,
  },
  {
    name: "https with only a CA",
    argv: ["--listen-client-urls=https://127.0.0.1:2379", "--trusted-ca-file=ca.crt"],
    error: /TLS key\/cert \(--cert-file, --key-file\) must be provided/,
  },
  {
    name: "a certificate without its key",
    argv: ["--listen-client-urls=https://127.0.0.1:2379", "--cert-file=s.crt"],
    error: /--cert-file and --key-file must be given together/,
  },
  {
    name: "a key without its certificate, even on http",
    env: { ETCD_KEY_FILE: "s.key" },
    error: /--cert-file and --key-file must be given together/,
  },
  {
    name: "a bad boolean in the environment names the variable",
    env: { ETCD_CLIENT_CERT_AUTH: "yes" },
    error: /^invalid boolean value "yes" for ETCD_CLIENT_CERT_AUTH$/,
  },
  {
    name: "a value given to a boolean flag with a space is an argument",
    argv: ["--client-cert-auth", "true"],
    error: /'true' is not a valid flag/,
  },
  {
    name: "unix socket",
    argv: ["--listen-client-urls", "unix://localhost:2379"],
    error: /unix sockets are not supported/,
  },
  {
    name: "other scheme",
    argv: ["--listen-client-urls", "ftp://127.0.0.1:2379"],
    error: /unsupported scheme "ftp"/,
  },
  { name: "not a URL", argv: ["--listen-client-urls", "127.0.0.1:2379"], error: /invalid URL/ },
  {
    name: "no port",
    argv: ["--listen-client-urls", "http://127.0.0.1"],
    error: /explicit port/,
  },
  {
    name: "port out of range",
    argv: ["--listen-client-urls", "http://127.0.0.1:65536"],
    error: /invalid URL "http:\/\/127.0.0.1:65536"/,
  },
  {
    name: "a path",
    argv: ["--listen-client-urls", "http://127.0.0.1:2379/v3"],
    error: /must not contain a path/,
  },
  {
    name: "a query",
    argv: ["--listen-client-urls", "http://127.0.0.1:2379?x=1"],
    error: /must not contain a query/,
  },
  {
    name: "a host name to listen on",
    argv: ["--listen-client-urls", "http://etcd.example.com:2379"],
    error: /expected an IP address or "localhost" to listen on/,
  },
  {
    name: "an empty URL list entry",
    argv: ["--listen-client-urls", "http://127.0.0.1:2379,"],
    error: /empty URL in the list/,
  },
  { name: "an empty URL list", argv: ["--listen-client-urls="], error: /must not be empty/ },
  {
    name: "advertising port 0",
    argv: ["--advertise-client-urls", "http://127.0.0.1:0"],
    error: /cannot advertise port 0/,
  },
];

describe("parseFlags", () => {
  for (const c of validCases) {
    it(c.name, () => {
      // Without --initial-cluster, the bootstrap cluster is this member alone, by its name.
      const name = c.want.name ?? defaults.name;
      const initialCluster = {
        ...defaults.initialCluster,
        name,
        members: new Map([[name, ["http://localhost:2380"]]]),
      };
      assert.deepEqual(parseFlags(c.argv ?? [], c.env ?? {}), {
        ...defaults,
        initialCluster,
        ...c.want,
      });
    });
  }
  for (const c of errorCases) {
    it(`rejects: ${c.name}`, () => {
      assert.throws(
        () => parseFlags(c.argv ?? [], c.env ?? {}),
        (e: unknown) => e instanceof FlagError && c.error.test(e.message),
      );
    });
  }
});

describe("flagToEnv", () => {
  it("follows etcd's naming", () => {
    assert.equal(flagToEnv("listen-client-urls"), "ETCD_LISTEN_CLIENT_URLS");
    assert.equal(flagToEnv("name"), "ETCD_NAME");
  });
});

describe("usage", () => {
  it("lists every flag with its default", () => {
    const text = usage();
    for (const flag of [
      "--name",
      "--data-dir",
      "--listen-client-urls",
      "--advertise-client-urls",
      "--max-txn-ops",
      "--max-request-bytes",
      "--log-level",
      "--cert-file",
      "--key-file",
      "--trusted-ca-file",
      "--client-cert-auth",
      "--client-crl-file",
      "--cipher-suites",
      "--max-concurrent-streams",
      "--listen-metrics-urls",
      "--auto-tls",
      "--help",
      "--version",
    ]) {
      assert.ok(text.includes(flag), flag);
    }
    assert.ok(text.includes("http://127.0.0.1:2379"));
    assert.ok(text.includes("ETCD_LISTEN_CLIENT_URLS"));
    assert.ok(text.includes("ETCD_CLIENT_CERT_AUTH"));
  });
});
