import { isIP } from "node:net";
import {
  type AutoCompactionMode,
  defaultAuthTokenTtlSeconds,
  defaultBatchIntervalMs,
  defaultBatchLimit,
  defaultBcryptCost,
  defaultListenClientUrl,
  defaultMaxRequestBytes,
  defaultMaxTxnOps,
  defaultMemberName,
  grpcOverheadBytes,
  type LmdbBatchOptions,
  maxBcryptCost,
  maxSuggestedQuotaBackendBytes,
  minBcryptCost,
} from "@conclave/core";
import {
  defaultInitialAdvertisePeerUrls,
  defaultInitialClusterToken,
  type InitialCluster,
} from "@conclave/server";
import {
  type AuthTokenConfig,
  AuthTokenOptionError,
  parseAuthTokenOption,
} from "./auth-token-option.js";
import { cipherSuitesError, opensslCiphersOf } from "./cipher-suites.js";
import { closestName } from "./closest-name.js";
import { readConfigFile } from "./config-file.js";
import { etcdFlagsWithoutEffect } from "./etcd-flags-without-effect.js";
import { parseGoDuration } from "./go-duration.js";
import { defaultMaxConcurrentStreams } from "./http2-sessions.js";

/** What `--storage` (and `conclave migrate --to`) accepts: a `postgres://` or `postgresql://` URL. */
export const postgresUrlPattern = /^postgres(ql)?:\/\/./;

/** The log levels `--log-level` accepts, a subset of etcd's. */
export const logLevels = ["debug", "info", "warn", "error"] as const;

export type LogLevel = (typeof logLevels)[number];

/**
 * The server's configuration, from command-line flags and `ETCD_*`
 * environment variables, under etcd's names.
 */
export interface ConclaveConfig {
  /** `--name`: the member's human-readable name. Default "default". */
  name: string;
  /** `--data-dir`: where data is stored. Default `${name}.conclave`, relative to the working directory. */
  dataDir: string;
  /**
   * `--wal-dir`: where the embedded store's write-ahead log lives (e.g. a
   * faster disk of its own). Default the data dir.
   */
  walDir?: string;
  /**
   * `--backend-batch-interval` and `--backend-batch-limit`: how long, and
   * for how many writes, acknowledged writes gather before the embedded
   * store takes them in one transaction. Absent (or 0): etcd's 100 ms and
   * 10000.
   */
  backendBatch?: LmdbBatchOptions;
  /**
   * `--storage` (`ETCD_STORAGE`): a `postgres://` URL makes this process one
   * of N replicas over that database (docs/replicas.md); unset, the embedded
   * store in `dataDir`.
   */
  storage?: string;
  /**
   * `--listen-client-urls`: where to accept client traffic, as normalized
   * `http://host:port` or `https://host:port` origins. Default
   * `["http://127.0.0.1:2379"]`.
   */
  listenClientUrls: string[];
  /**
   * `--advertise-client-urls`: the client URLs to tell clients about.
   * Default: the listen URLs, https ones included. (etcd defaults to
   * `http://localhost:2379`.)
   */
  advertiseClientUrls: string[];
  /**
   * `--initial-cluster`, `--initial-advertise-peer-urls` (default
   * `http://localhost:2380`) and `--initial-cluster-token` (default
   * `etcd-cluster`), with `--name`: a new data dir gets the member and
   * cluster IDs etcd would derive from them (etcdIdsOf). Nothing else: there
   * are no peers.
   */
  initialCluster: InitialCluster;
  /**
   * `--cert-file`: the PEM certificate (chain) of `https://` listen URLs.
   * Given together with `keyFile` or not at all.
   */
  certFile?: string;
  /** `--key-file`: the PEM private key of `certFile`. */
  keyFile?: string;
  /**
   * `--trusted-ca-file`: the PEM CA certificates that client certificates
   * must chain to. As in etcd, giving it makes `https://` URLs require a
   * client certificate even without `clientCertAuth`.
   */
  trustedCaFile?: string;
  /**
   * `--client-cert-auth`: `https://` URLs refuse clients without a
   * certificate signed by `trustedCaFile` (or, without one, by a public CA).
   * With auth enabled, the certificate's CN is the user name. Default false.
   */
  clientCertAuth: boolean;
  /**
   * `--client-crl-file`: PEM CRLs; `https://` URLs refuse client
   * certificates they revoke.
   */
  clientCrlFile?: string;
  /**
   * `--cipher-suites`: the TLS 1.2 cipher suites `https://` URLs offer, by
   * Go's names as etcd takes them (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`),
   * checked as etcd checks them. Absent: Node's defaults.
   */
  cipherSuites?: string[];
  /**
   * `--max-concurrent-streams`: the most HTTP/2 streams one client
   * connection may have open, announced in SETTINGS (clients queue
   * beyond it; Node refuses streams past it). Default 2^32-1, as etcd; 0
   * means the default too, as grpc-go reads it.
   */
  maxConcurrentStreams: number;
  /**
   * `--listen-metrics-urls`: more URLs that serve only `/metrics` and
   * `/health` (`https://` ones with the client TLS settings), as etcd.
   * Default none.
   */
  listenMetricsUrls: string[];
  /**
   * `--auto-tls`: without `certFile`, `https://` URLs use a self-signed
   * certificate kept in `<data-dir>/fixtures/client` (made on first use).
   * Default false.
   */
  autoTls: boolean;
  /**
   * `--experimental-grpc-engine`: connections whose first request is gRPC
   * (etcd clients) are served by Conclave's own HTTP/2 frame loop
   * (grpc-engine/) rather than Node's HTTP/2 session. Default true.
   */
  grpcEngine: boolean;
  /** `--max-txn-ops`: the most operations one transaction may hold. Default 128. */
  maxTxnOps: number;
  /** `--max-request-bytes`: the largest client request, in bytes. Default 1 572 864 (1.5 MiB). */
  maxRequestBytes: number;
  /** `--log-level`. Default "info". */
  logLevel: LogLevel;
  /**
   * `--cors`: the origins browsers may call the API from, as normalized
   * `scheme://host[:port]` origins, or `["*"]` for any origin. Absent when
   * the flag was not given, which means any origin, as etcd's default (the
   * API has no cookies or other ambient credentials for CORS to protect).
   */
  cors?: string[];
  /**
   * `--auth-token`: the kind of token Authenticate hands out, as etcd's
   * flag: "simple" (the default: random, in memory, expiring when unused) or
   * `jwt,sign-method=…,pub-key=…,priv-key=…,ttl=…` (signed, stateless; the
   * key files are read at start, not here).
   */
  authToken: AuthTokenConfig;
  /** `--auth-token-ttl`: seconds a simple token stays valid without use. Default 300, as etcd. */
  authTokenTtl: number;
  /**
   * `--bcrypt-cost`: cost of the bcrypt hash kept beside each password's
   * scrypt hash, which snapshots hand to etcd. Default 10; outside 4..31 the
   * default, with a warning, as etcd's auth store does.
   */
  bcryptCost: number;
  /**
   * `--auto-compaction-mode` and `--auto-compaction-retention`: what history
   * to keep, as etcd 3.4 — `periodic` keeps `retention` ms, `revision` the
   * last `retention` revisions. Absent (the default, retention 0): history
   * is kept until a client compacts.
   */
  autoCompaction?: { mode: AutoCompactionMode; retention: number; text: string };
  /**
   * `--quota-backend-bytes`: past this size of the data file writes raise
   * the NOSPACE alarm and are refused. 0 (the default) means etcd's 2 GiB;
   * a negative value turns the quota off, as in etcd.
   */
  quotaBackendBytes: number;
  /** `--help` was given: print `usage()` and exit; other values are left at their defaults. */
  help: boolean;
  /** `--version` was given: print the version and exit; other values are left at their defaults. */
  version: boolean;
  /**
   * Things worth logging that are not errors, such as `ETCD_*` environment
   * variables that are not used.
   */
  warnings: string[];
}

/** A command line or environment that cannot be turned into a config. */
export class FlagError extends Error {
  override name = "FlagError";
}

interface FlagSpec {
  /** Boolean flags take no value (`--help`, `--help=false`). */
  boolean?: true;
  /** A boolean flag with an environment variable (`ETCD_CLIENT_CERT_AUTH=true`); other boolean flags have none. */
  env?: true;
  valueName?: string;
  description: string;
}

const flagSpecs = {
  name: {
    valueName: "name",
    description: `Human-readable name for this member. (default "${defaultMemberName}")`,
  },
  "data-dir": {
    valueName: "path",
    description: 'Path to the data directory. (default "<name>.conclave")',
  },
  "wal-dir": {
    valueName: "path",
    description:
      "Path to a dedicated directory for the write-ahead log (each acknowledged write waits for its write there). (default: the data directory)",
  },
  "backend-batch-interval": {
    valueName: "duration",
    description: `BackendBatchInterval is the maximum time before commit the backend transaction. (default ${defaultBatchIntervalMs}ms)`,
  },
  "backend-batch-limit": {
    valueName: "int",
    description: `BackendBatchLimit is the maximum operations before commit the backend transaction. (default ${defaultBatchLimit})`,
  },
  storage: {
    valueName: "url",
    description:
      'Where the data lives: the embedded store in --data-dir (default), or "postgres://user@host:port/db" to run as one of N stateless replicas that share that PostgreSQL database.',
  },
  "listen-client-urls": {
    valueName: "urls",
    description: `Comma-separated URLs to listen on for client traffic (gRPC, gRPC-Web, Connect and HTTP on each). (default "${defaultListenClientUrl}")`,
  },
  "advertise-client-urls": {
    valueName: "urls",
    description: "Comma-separated client URLs to advertise to clients. (default: the listen URLs)",
  },
  "initial-cluster": {
    valueName: "name=url,…",
    description:
      'The bootstrap cluster, as etcd takes it: only to derive etcd\'s member and cluster IDs for a new data dir. (default "<name>=<initial-advertise-peer-urls>")',
  },
  "initial-advertise-peer-urls": {
    valueName: "urls",
    description: `This member's peer URLs, for etcd's member ID of a new data dir (there is no peer traffic). (default "${defaultInitialAdvertisePeerUrls.join(",")}")`,
  },
  "initial-cluster-token": {
    valueName: "token",
    description: `The bootstrap cluster's token, for etcd's member and cluster IDs of a new data dir. (default "${defaultInitialClusterToken}")`,
  },
  "max-txn-ops": {
    valueName: "n",
    description: `Maximum number of operations permitted in a transaction. (default ${defaultMaxTxnOps})`,
  },
  "max-request-bytes": {
    valueName: "n",
    description: `Maximum client request size in bytes the server will accept. (default ${defaultMaxRequestBytes})`,
  },
  "log-level": {
    valueName: "level",
    description: `Log level: ${logLevels.join(", ")}. (default "info")`,
  },
  "cert-file": {
    valueName: "path",
    description: "Path to the client server TLS cert file, for https:// listen URLs.",
  },
  "key-file": {
    valueName: "path",
    description: "Path to the client server TLS key file.",
  },
  "trusted-ca-file": {
    valueName: "path",
    description:
      "Path to the client server TLS trusted CA cert file. As in etcd, https:// clients then need a certificate it signed.",
  },
  "client-crl-file": {
    valueName: "path",
    description:
      "Path to the client certificate revocation list file (PEM): https:// clients whose certificate it revokes are refused.",
  },
  "cipher-suites": {
    valueName: "list",
    description:
      "Comma-separated TLS 1.2 cipher suites for https:// URLs, by Go's names (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...). (default: Node's)",
  },
  "max-concurrent-streams": {
    valueName: "n",
    description: `Maximum concurrent HTTP/2 streams each client connection may open. (default ${defaultMaxConcurrentStreams})`,
  },
  "experimental-grpc-engine": {
    boolean: true,
    description:
      "Serve connections whose first request is gRPC (etcd clients) with Conclave's own HTTP/2 frame loop rather than Node's HTTP/2 session; =false turns it off. (default true)",
  },
  "listen-metrics-urls": {
    valueName: "urls",
    description: "Comma-separated URLs that serve only /metrics and /health. (default none)",
  },
  "client-cert-auth": {
    boolean: true,
    env: true,
    description:
      "Refuse https:// clients without a certificate signed by --trusted-ca-file; with auth enabled, the certificate's CN is the user name. (default false)",
  },
  "auth-token": {
    valueName: "type",
    description:
      'Auth token type: "simple", or "jwt,sign-method=RS256|…|HS512,pub-key=<file>,priv-key=<file>,ttl=<duration>" (ttl default 5m; pub-key alone verifies only). (default "simple")',
  },
  "bcrypt-cost": {
    valueName: "cost",
    description: `Cost of the bcrypt password hashes kept for etcd (snapshots); logins check an scrypt hash. (default ${defaultBcryptCost})`,
  },
  "auth-token-ttl": {
    valueName: "seconds",
    description: `Seconds a simple auth token stays valid without use. (default ${defaultAuthTokenTtlSeconds})`,
  },
  "auto-tls": {
    boolean: true,
    env: true,
    description:
      "Client TLS using a generated self-signed certificate (in <data-dir>/fixtures/client) when --cert-file is not given. (default false)",
  },
  "auto-compaction-mode": {
    valueName: "mode",
    description:
      'How --auto-compaction-retention is read: "periodic" (a duration such as 1h or 30m, or a bare number of hours) or "revision" (a number of revisions). (default "periodic")',
  },
  "auto-compaction-retention": {
    valueName: "retention",
    description:
      "How much history auto-compaction keeps, in the mode's unit; 0 turns it off. (default 0)",
  },
  "quota-backend-bytes": {
    valueName: "bytes",
    description:
      "Raise the NOSPACE alarm and refuse writes when the data file would pass this size; 0 is 2 GiB, negative turns it off. (default 0)",
  },
  "config-file": {
    valueName: "path",
    description:
      "etcd's YAML configuration file (the flags' names as keys). Flags and ETCD_* variables override what it sets.",
  },
  debug: {
    boolean: true,
    env: true,
    description: "Log at debug level, as --log-level debug. (default false)",
  },
  cors: {
    valueName: "origins",
    description:
      'Comma-separated origins browsers may call the API from (CORS); empty or "*" allows any. (default "*")',
  },
  help: { boolean: true, description: "Print this help and exit." },
  version: { boolean: true, description: "Print the version and exit." },
} satisfies Record<string, FlagSpec>;

type FlagName = keyof typeof flagSpecs;

/** Requests above this size are allowed, but etcd warns about them too. */
const largeRequestBytes = 10 * 1024 * 1024;

/**
 * Connect's read limit is a 32-bit number, and the server adds 512 KiB of
 * overhead to `--max-request-bytes` for it.
 */
const maxRequestBytesLimit = 2 ** 32 - 1 - grpcOverheadBytes;

/** The text printed for `--help`. */
export function usage(): string {
  const lines = [
    "Usage: conclave [flags]",
    "       conclave migrate --from <data-dir> --to <postgres-url>   (conclave migrate --help)",
    "       conclave snapshot restore <file> --data-dir <dir>   (from an etcd or Conclave snapshot)",
    "",
    "Conclave, an etcd v3 compatible coordination service.",
    "",
    "Flags (--flag value and --flag=value both work):",
  ];
  for (const [name, spec] of Object.entries(flagSpecs) as [FlagName, FlagSpec][]) {
    const head = spec.valueName === undefined ? `--${name}` : `--${name} <${spec.valueName}>`;
    lines.push(`  ${head}`, `      ${spec.description}`);
  }
  lines.push(
    "",
    "Every flag but --help and --version can also be set with an environment variable",
    'named after it, as in etcd: ETCD_ + the flag name upper-cased with "-" turned into',
    '"_" (ETCD_NAME, ETCD_LISTEN_CLIENT_URLS, ETCD_CLIENT_CERT_AUTH=true, ...), or in',
    "--config-file. Flags win over the environment, which wins over the file.",
    "",
    "etcd's other flags (peers, Raft, WAL, v2, proxy, logger, ...) are accepted and have",
    "no effect: each one given is named in a warning that says why.",
    "",
  );
  return lines.join("\n");
}

/** The environment variable of a flag: `listen-client-urls` → `ETCD_LISTEN_CLIENT_URLS`. */
export function flagToEnv(flag: string): string {
  return `ETCD_${flag.toUpperCase().replaceAll("-", "_")}`;
}

/**
 * Parses etcd-style command-line flags (`process.argv.slice(2)`) and
 * environment variables into a config.
 *
 * Flags are written `--flag value` or `--flag=value`; as with Go's flag
 * package, a single leading dash works too, and the last occurrence wins.
 * Unknown flags and positional arguments are errors. Environment variables
 * fill in flags not given on the command line; empty ones are ignored.
 *
 * @throws FlagError with a message that names the offending flag or variable.
 */
export function parseFlags(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): ConclaveConfig {
  const values = new Map<FlagName, { value: string; source: string }>();
  /** etcd flags given that have no effect here, by name: where they came from. */
  const ignored = new Map<string, string>();
  let help = false;
  let version = false;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--") {
      if (i + 1 < argv.length) throw new FlagError(`'${argv[i + 1]}' is not a valid flag`);
      break;
    }
    const match = /^--?([^=]+)(?:=(.*))?$/s.exec(arg);
    if (match === null || arg === "-") {
      throw new FlagError(`'${arg}' is not a valid flag (flags start with --)`);
    }
    const rawName = match[1] ?? "";
    const inlineValue = match[2];
    const name = rawName === "h" ? "help" : rawName;
    const withoutEffect = etcdFlagsWithoutEffect[name];
    if (withoutEffect !== undefined) {
      if (withoutEffect.boolean) {
        if (inlineValue !== undefined) parseBoolean(`--${name}`, inlineValue);
      } else if (inlineValue === undefined) {
        const next = argv[i + 1];
        if (next === undefined || (next.startsWith("-") && !/^-\d/.test(next))) {
          throw new FlagError(`flag needs an argument: --${name}`);
        }
        i++;
      }
      ignored.set(name, `--${name}`);
      continue;
    }
    if (!isFlagName(name)) throw unknownFlag(rawName);
    const spec: FlagSpec = flagSpecs[name];
    if (spec.boolean) {
      const on = inlineValue === undefined ? true : parseBoolean(`--${name}`, inlineValue);
      if (name === "help") help = on;
      else if (name === "version") version = on;
      else values.set(name, { value: String(on), source: `--${name}` });
      continue;
    }
    let value = inlineValue;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith("-") && !/^-\d/.test(next))) {
        throw new FlagError(`flag needs an argument: --${name}`);
      }
      value = next;
      i++;
    }
    values.set(name, { value, source: `--${name}` });
  }

  const warnings: string[] = [];
  const envNames = new Map<string, FlagName>();
  for (const [name, spec] of Object.entries(flagSpecs) as [FlagName, FlagSpec][]) {
    if (!spec.boolean || spec.env) envNames.set(flagToEnv(name), name);
  }
  for (const name of Object.keys(etcdFlagsWithoutEffect))
    envNames.set(flagToEnv(name), name as FlagName);
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith("ETCD_") || value === undefined || value === "") continue;
    const name = envNames.get(key);
    if (name === undefined) {
      warnings.push(`unrecognized environment variable ${key}, ignored`);
    } else if (Object.hasOwn(etcdFlagsWithoutEffect, name)) {
      if (!ignored.has(name)) ignored.set(name, key);
    } else if (values.has(name)) {
      warnings.push(`environment variable ${key} is shadowed by the flag --${name}`);
    } else {
      values.set(name, { value, source: key });
    }
  }

  if (help || version) {
    return { ...defaults(), help, version, warnings };
  }

  // The config file fills in what neither the flags nor the environment set.
  const configFile = values.get("config-file");
  if (configFile !== undefined && configFile.value !== "") {
    for (const { name, value } of readConfigFile(configFile.value)) {
      const source = `${name} in ${configFile.value}`;
      if (Object.hasOwn(etcdFlagsWithoutEffect, name)) {
        if (!ignored.has(name)) ignored.set(name, source);
      } else if (
        isFlagName(name) &&
        name !== "config-file" &&
        name !== "help" &&
        name !== "version"
      ) {
        if (!values.has(name)) values.set(name, { value, source });
      } else {
        const near = closestName(name, knownNames());
        warnings.push(
          `unknown setting ${name} in ${configFile.value}, ignored${near === undefined ? "" : ` (did you mean ${near}?)`}`,
        );
      }
    }
  }
  for (const [name, source] of ignored) {
    warnings.push(`${source} has no effect: ${etcdFlagsWithoutEffect[name]?.why}`);
  }

  const get = (name: FlagName) => values.get(name);
  const nameFlag = get("name");
  const name = nameFlag?.value ?? defaultMemberName;
  if (name === "") throw new FlagError("--name must not be empty");

  const dataDirFlag = get("data-dir");
  const dataDir = dataDirFlag?.value ?? `${name}.conclave`;
  if (dataDir === "") throw new FlagError("--data-dir must not be empty");
  // etcd's default is "" too: the log beside the data.
  const walDir = nonEmpty(get("wal-dir"));
  const backendBatch = parseBackendBatch(get("backend-batch-interval"), get("backend-batch-limit"));

  const storageFlag = get("storage");
  const storage = storageFlag?.value;
  if (storage !== undefined && !postgresUrlPattern.test(storage)) {
    throw new FlagError(
      `invalid value "${storage}" for ${storageFlag?.source}: must be a postgres:// URL`,
    );
  }

  const listenFlag = get("listen-client-urls");
  const listenClientUrls = listenFlag
    ? parseUrls(listenFlag.value, listenFlag.source, "listen")
    : [defaultListenClientUrl];
  const advertiseFlag = get("advertise-client-urls");
  const advertiseClientUrls = advertiseFlag
    ? parseUrls(advertiseFlag.value, advertiseFlag.source, "advertise")
    : [...listenClientUrls];
  if (advertiseFlag === undefined) {
    for (const u of listenClientUrls) {
      const host = new URL(u).hostname;
      if (host === "0.0.0.0" || host === "[::]") {
        warnings.push(`advertising ${u}, which clients cannot dial: set --advertise-client-urls`);
      }
    }
  }

  const initialCluster = parseInitialCluster(
    name,
    get("initial-cluster"),
    get("initial-advertise-peer-urls"),
    get("initial-cluster-token"),
    storage === undefined,
  );

  const certFile = nonEmpty(get("cert-file"));
  const keyFile = nonEmpty(get("key-file"));
  const trustedCaFile = nonEmpty(get("trusted-ca-file"));
  const clientCertAuthFlag = get("client-cert-auth");
  const clientCertAuth = clientCertAuthFlag
    ? parseBoolean(clientCertAuthFlag.source, clientCertAuthFlag.value)
    : false;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new FlagError("--cert-file and --key-file must be given together");
  }
  const grpcEngineFlag = get("experimental-grpc-engine");
  const grpcEngine = grpcEngineFlag
    ? parseBoolean(grpcEngineFlag.source, grpcEngineFlag.value)
    : true;
  const autoTlsFlag = get("auto-tls");
  const autoTls = autoTlsFlag ? parseBoolean(autoTlsFlag.source, autoTlsFlag.value) : false;
  if (autoTls && certFile !== undefined) {
    warnings.push("ignoring client auto TLS since certs given");
  }
  for (const u of listenClientUrls) {
    if (u.startsWith("https:")) {
      if (certFile === undefined && !autoTls) {
        // etcd's words.
        throw new FlagError(
          `TLS key/cert (--cert-file, --key-file) must be provided for client url ${u} with HTTPS scheme`,
        );
      }
      continue;
    }
    if (certFile !== undefined) {
      warnings.push(
        `scheme is HTTP while key and cert files are present; ignoring key and cert files for client url ${u}`,
      );
    }
    if (clientCertAuth) {
      warnings.push(
        `scheme is HTTP while --client-cert-auth is enabled; ignoring client cert auth for client url ${u}`,
      );
    }
  }

  const clientCrlFile = nonEmpty(get("client-crl-file"));
  const cipherSuitesFlag = get("cipher-suites");
  let cipherSuites: string[] | undefined;
  if (cipherSuitesFlag !== undefined && cipherSuitesFlag.value.trim() !== "") {
    cipherSuites = cipherSuitesFlag.value.split(",").map((n) => n.trim());
    const error = cipherSuitesError(cipherSuites);
    if (error !== undefined) {
      throw new FlagError(
        `invalid value "${cipherSuitesFlag.value}" for ${cipherSuitesFlag.source}: ${error}`,
      );
    }
    for (const name of opensslCiphersOf(cipherSuites).unavailable) {
      warnings.push(`${cipherSuitesFlag.source}: ${name} is not available in Node's TLS, left out`);
    }
  }

  const metricsFlag = get("listen-metrics-urls");
  const listenMetricsUrls =
    metricsFlag === undefined || metricsFlag.value.trim() === ""
      ? []
      : parseUrls(metricsFlag.value, metricsFlag.source, "listen");
  for (const u of listenMetricsUrls) {
    if (u.startsWith("https:") && certFile === undefined && !autoTls) {
      throw new FlagError(
        `TLS key/cert (--cert-file, --key-file) must be provided for metrics url ${u} with HTTPS scheme`,
      );
    }
  }

  const streamsFlag = get("max-concurrent-streams");
  const maxConcurrentStreams =
    (streamsFlag && parseInteger(streamsFlag.value, streamsFlag.source, 0, 2 ** 32 - 1)) ||
    defaultMaxConcurrentStreams;

  const maxTxnOpsFlag = get("max-txn-ops");
  const maxTxnOps = maxTxnOpsFlag
    ? parseInteger(maxTxnOpsFlag.value, maxTxnOpsFlag.source, 1, 2 ** 31 - 1)
    : defaultMaxTxnOps;
  const maxRequestBytesFlag = get("max-request-bytes");
  const maxRequestBytes = maxRequestBytesFlag
    ? parseInteger(maxRequestBytesFlag.value, maxRequestBytesFlag.source, 1, maxRequestBytesLimit)
    : defaultMaxRequestBytes;
  if (maxRequestBytes > largeRequestBytes) {
    warnings.push(
      `--max-request-bytes=${maxRequestBytes} exceeds 10 MiB: large requests may delay other requests`,
    );
  }

  const debugFlag = get("debug");
  const debug = debugFlag ? parseBoolean(debugFlag.source, debugFlag.value) : false;
  const logLevelFlag = get("log-level");
  const logLevel = logLevelFlag
    ? parseLogLevel(logLevelFlag.value, logLevelFlag.source)
    : debug
      ? "debug"
      : "info";

  const quotaFlag = get("quota-backend-bytes");
  let quotaBackendBytes = 0;
  if (quotaFlag !== undefined) {
    if (!/^-?\d+$/.test(quotaFlag.value)) {
      throw new FlagError(
        `invalid value "${quotaFlag.value}" for ${quotaFlag.source}: not a whole number`,
      );
    }
    quotaBackendBytes = Number(quotaFlag.value);
    if (quotaBackendBytes > maxSuggestedQuotaBackendBytes) {
      warnings.push(
        `--quota-backend-bytes=${quotaBackendBytes} exceeds 8 GiB, the most etcd suggests`,
      );
    }
  }

  const autoCompaction = parseAutoCompaction(
    get("auto-compaction-mode"),
    get("auto-compaction-retention"),
  );

  const corsFlag = get("cors");
  const cors = corsFlag ? parseOrigins(corsFlag.value, corsFlag.source) : undefined;

  const authTokenFlag = get("auth-token");
  let authToken: AuthTokenConfig = { type: "simple" };
  if (authTokenFlag !== undefined) {
    try {
      const parsed = parseAuthTokenOption(authTokenFlag.value);
      authToken = parsed.config;
      if (parsed.unknownOptions.length > 0) {
        warnings.push(
          `${authTokenFlag.source}: unknown ${authToken.type === "jwt" ? "JWT" : "simple token"} options: ${parsed.unknownOptions.join(", ")}`,
        );
      }
    } catch (err) {
      if (!(err instanceof AuthTokenOptionError)) throw err;
      throw new FlagError(
        `invalid value "${authTokenFlag.value}" for ${authTokenFlag.source}: ${err.message}`,
      );
    }
  }
  const authTokenTtlFlag = get("auth-token-ttl");
  const authTokenTtl = authTokenTtlFlag
    ? parseInteger(authTokenTtlFlag.value, authTokenTtlFlag.source, 1, 2 ** 31 - 1)
    : defaultAuthTokenTtlSeconds;
  const bcryptCostFlag = get("bcrypt-cost");
  let bcryptCost = defaultBcryptCost;
  if (bcryptCostFlag !== undefined) {
    // etcd's flag is a uint; its auth store takes the default for a cost bcrypt refuses.
    const cost = parseInteger(bcryptCostFlag.value, bcryptCostFlag.source, 0, 2 ** 32 - 1);
    if (cost < minBcryptCost || cost > maxBcryptCost) {
      warnings.push(
        `${bcryptCostFlag.source}=${cost} is outside bcrypt's ${minBcryptCost}..${maxBcryptCost}: using the default ${defaultBcryptCost}`,
      );
    } else bcryptCost = cost;
  }

  return {
    name,
    dataDir,
    ...(walDir !== undefined && { walDir }),
    ...(backendBatch !== undefined && { backendBatch }),
    ...(storage !== undefined && { storage }),
    listenClientUrls,
    advertiseClientUrls,
    initialCluster,
    ...(certFile !== undefined && { certFile }),
    ...(keyFile !== undefined && { keyFile }),
    ...(trustedCaFile !== undefined && { trustedCaFile }),
    clientCertAuth,
    ...(clientCrlFile !== undefined && { clientCrlFile }),
    ...(cipherSuites !== undefined && { cipherSuites }),
    maxConcurrentStreams,
    listenMetricsUrls,
    autoTls,
    grpcEngine,
    maxTxnOps,
    maxRequestBytes,
    logLevel,
    ...(cors !== undefined && { cors }),
    authToken,
    authTokenTtl,
    bcryptCost,
    ...(autoCompaction !== undefined && { autoCompaction }),
    quotaBackendBytes,
    help: false,
    version: false,
    warnings,
  };
}

function defaults(): ConclaveConfig {
  return {
    name: defaultMemberName,
    dataDir: `${defaultMemberName}.conclave`,
    listenClientUrls: [defaultListenClientUrl],
    advertiseClientUrls: [defaultListenClientUrl],
    initialCluster: {
      name: defaultMemberName,
      members: new Map([[defaultMemberName, defaultInitialAdvertisePeerUrls]]),
      token: defaultInitialClusterToken,
    },
    clientCertAuth: false,
    maxConcurrentStreams: defaultMaxConcurrentStreams,
    listenMetricsUrls: [],
    autoTls: false,
    grpcEngine: true,
    maxTxnOps: defaultMaxTxnOps,
    maxRequestBytes: defaultMaxRequestBytes,
    logLevel: "info",
    authToken: { type: "simple" },
    authTokenTtl: defaultAuthTokenTtlSeconds,
    bcryptCost: defaultBcryptCost,
    quotaBackendBytes: 0,
    help: false,
    version: false,
    warnings: [],
  };
}

function isFlagName(name: string): name is FlagName {
  return Object.hasOwn(flagSpecs, name);
}

/** Every flag name Conclave accepts, for suggestions. */
function knownNames(): string[] {
  return [...Object.keys(flagSpecs), ...Object.keys(etcdFlagsWithoutEffect)];
}

function unknownFlag(rawName: string): FlagError {
  const near = closestName(rawName, knownNames());
  return new FlagError(
    near === undefined
      ? `unknown flag: --${rawName} (see --help)`
      : `unknown flag: --${rawName} (did you mean --${near}?)`,
  );
}

type FlagValue = { value: string; source: string } | undefined;

/**
 * etcd 3.4's auto-compaction settings. Periodic retention is a Go duration
 * ("1h", "30m", "1h30m") or a bare number of hours; revision retention a
 * number of revisions. Retention 0 (the default) turns it off.
 */
function parseAutoCompaction(
  modeFlag: FlagValue,
  retentionFlag: FlagValue,
): ConclaveConfig["autoCompaction"] {
  const mode = modeFlag?.value ?? "periodic";
  if (mode !== "periodic" && mode !== "revision") {
    throw new FlagError(
      `invalid value "${mode}" for ${modeFlag?.source}: must be "periodic" or "revision"`,
    );
  }
  if (retentionFlag === undefined) return undefined;
  const text = retentionFlag.value;
  let retention: number;
  if (mode === "revision") {
    retention = parseInteger(text, retentionFlag.source, 0, Number.MAX_SAFE_INTEGER);
  } else if (/^\d+$/.test(text)) {
    retention = Number(text) * 60 * 60 * 1000;
  } else {
    const ms = parseGoDuration(text);
    if (ms === undefined || ms < 0) {
      throw new FlagError(
        `invalid value "${text}" for ${retentionFlag.source}: expected a duration such as 1h or 30m, or a number of hours`,
      );
    }
    retention = ms;
  }
  return retention === 0 ? undefined : { mode, retention, text };
}

/** @param source The flag (`--help`) or environment variable the value came from. */
function parseBoolean(source: string, value: string): boolean {
  // The spellings Go's strconv.ParseBool accepts.
  if (["1", "t", "T", "true", "TRUE", "True"].includes(value)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(value)) return false;
  throw new FlagError(`invalid boolean value "${value}" for ${source}`);
}

/** A path flag's value; an empty one (`--cert-file=`) counts as not given, as in etcd. */
function nonEmpty(flag: { value: string } | undefined): string | undefined {
  return flag === undefined || flag.value === "" ? undefined : flag.value;
}

/** etcd's backend batch flags; 0 (or absent) is etcd's default for each. */
function parseBackendBatch(
  interval: { value: string; source: string } | undefined,
  limit: { value: string; source: string } | undefined,
): LmdbBatchOptions | undefined {
  let intervalMs: number | undefined;
  if (interval !== undefined) {
    const ms = parseGoDuration(interval.value);
    if (ms === undefined || ms < 0) {
      throw new FlagError(
        `invalid value "${interval.value}" for ${interval.source}: expected a duration such as 100ms`,
      );
    }
    if (ms > 0) intervalMs = ms;
  }
  const n = limit === undefined ? 0 : parseInteger(limit.value, limit.source, 0, 2 ** 31 - 1);
  if (intervalMs === undefined && n === 0) return undefined;
  return { ...(intervalMs !== undefined && { intervalMs }), ...(n > 0 && { limit: n }) };
}

function parseInteger(value: string, source: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) {
    throw new FlagError(`invalid value "${value}" for ${source}: not a whole number`);
  }
  const n = Number(value);
  if (n < min || n > max) {
    throw new FlagError(
      `invalid value "${value}" for ${source}: must be between ${min} and ${max}`,
    );
  }
  return n;
}

/**
 * Parses etcd's `--cors` list: origins such as `https://dash.example.com`,
 * normalized to `scheme://host[:port]`; empty or any "*" means every origin.
 */
function parseOrigins(list: string, source: string): string[] {
  const parts = list
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  if (parts.length === 0 || parts.includes("*")) return ["*"];
  return parts.map((part) => {
    let url: URL | undefined;
    try {
      url = new URL(part);
    } catch {
      url = undefined;
    }
    if (url === undefined || url.origin === "null" || !/^[^/]+:\/\/[^/]+\/?$/.test(part)) {
      throw new FlagError(
        `invalid origin "${part}" for ${source}: expected the form "https://host[:port]" or "*"`,
      );
    }
    return url.origin;
  });
}

function parseLogLevel(value: string, source: string): LogLevel {
  const level = logLevels.find((l) => l === value.toLowerCase());
  if (level === undefined) {
    throw new FlagError(
      `invalid value "${value}" for ${source}: must be one of ${logLevels.join(", ")}`,
    );
  }
  return level;
}

/**
 * Parses a comma-separated list of client URLs into `http://host:port` or
 * `https://host:port` origins. Like etcd: each needs an explicit port and no path, and URLs to
 * listen on need an IP address or "localhost" as host, because a name could
 * resolve to anything.
 */
/**
 * etcd's bootstrap flags, read as etcd reads them (types.NewURLsMap: a
 * member may be named more than once, one URL each); only IDs come of them.
 * Like etcd, a `--name` missing from `--initial-cluster` is refused — when
 * the IDs are used (the embedded mode; replicas get theirs from PostgreSQL).
 */
function parseInitialCluster(
  name: string,
  clusterFlag: { value: string; source: string } | undefined,
  peerUrlsFlag: { value: string; source: string } | undefined,
  tokenFlag: { value: string; source: string } | undefined,
  used: boolean,
): InitialCluster {
  const token = tokenFlag?.value ?? defaultInitialClusterToken;
  const peerUrls = peerUrlsFlag
    ? peerUrlsFlag.value.split(",").map((u) => u.trim())
    : defaultInitialAdvertisePeerUrls;
  if (clusterFlag === undefined || clusterFlag.value === "") {
    return { name, members: new Map([[name, peerUrls]]), token };
  }
  const members = new Map<string, string[]>();
  for (const part of clusterFlag.value.split(",")) {
    const eq = part.indexOf("=");
    const member = part.slice(0, eq).trim();
    const url = part.slice(eq + 1).trim();
    if (eq <= 0 || url === "") {
      throw new FlagError(
        `invalid value "${clusterFlag.value}" for ${clusterFlag.source}: expected name=url,name=url`,
      );
    }
    members.set(member, [...(members.get(member) ?? []), url]);
  }
  if (used && !members.has(name)) {
    throw new FlagError(
      `couldn't find local name "${name}" in the initial cluster configuration (${clusterFlag.source})`,
    );
  }
  return { name, members, token };
}

function parseUrls(list: string, source: string, use: "listen" | "advertise"): string[] {
  const parts = list.split(",").map((p) => p.trim());
  if (parts.every((p) => p === "")) {
    throw new FlagError(`${source} must not be empty`);
  }
  const urls: string[] = [];
  for (const part of parts) {
    if (part === "") {
      throw new FlagError(`invalid value "${list}" for ${source}: empty URL in the list`);
    }
    urls.push(parseUrl(part, source, use));
  }
  return urls;
}

function parseUrl(raw: string, source: string, use: "listen" | "advertise"): string {
  const bad = (why: string) => new FlagError(`invalid URL "${raw}" for ${source}: ${why}`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad('expected the form "http://host:port"');
  }
  switch (url.protocol) {
    case "http:":
    case "https:":
      break;
    case "unix:":
    case "unixs:":
      throw bad("unix sockets are not supported: use an http:// or https:// URL");
    default:
      throw bad(
        `unsupported scheme "${url.protocol.slice(0, -1)}": use an http:// or https:// URL`,
      );
  }
  if (url.username !== "" || url.password !== "") throw bad("URLs must not contain credentials");
  if (url.search !== "" || url.hash !== "") throw bad("URLs must not contain a query or fragment");
  if (url.pathname !== "/" || /^https?:\/\/[^/]*\/./i.test(raw)) {
    throw bad("URLs must not contain a path");
  }
  // WHATWG URLs drop a port equal to the scheme's default, so look at the
  // text for an explicit one.
  const authority = /^https?:\/\/([^/?#]*)/i.exec(raw)?.[1] ?? "";
  const port = /:(\d+)$/.exec(authority)?.[1];
  if (port === undefined) throw bad('expected the form "http://host:port" with an explicit port');
  const portNumber = Number(port);
  if (portNumber > 65535) throw bad("the port must be between 0 and 65535");
  if (use === "advertise" && portNumber === 0) throw bad("cannot advertise port 0");
  const host = url.hostname;
  if (host === "") throw bad("missing host");
  if (use === "listen") {
    const bare = host.startsWith("[") ? host.slice(1, -1) : host;
    if (host !== "localhost" && isIP(bare) === 0) {
      throw bad('expected an IP address or "localhost" to listen on');
    }
  }
  return `${url.protocol}//${host}:${portNumber}`;
}
