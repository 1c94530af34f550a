import { join } from "node:path";
import {
  createAutoCompactor,
  DataDirError,
  grpcOverheadBytes,
  type JwtTokens,
} from "@conclave/core";
import { createPostgresStorage } from "@conclave/postgres";
import {
  closeServerContext,
  createLeaderElectionExpiry,
  createLocalClient,
  createMetrics,
  createQuotaInterceptor,
  createRoutes,
  createWhileLeading,
  errorInterceptor,
  etcdApiVersion,
  etcdIdsOf,
  maxMessageDepth,
  openReplicaContext,
  openServerContext,
} from "@conclave/server";
import { pino } from "pino";
import { disableAllocationSitePretenuring } from "./allocation-site-pretenuring.js";
import { AuthTokenOptionError, loadJwtTokens } from "./auth-token-option.js";
import { ConfigFileError } from "./config-file.js";
import { createConnectUnaryFastPath } from "./connect-unary-fast-path.js";
import { registerCors } from "./cors.js";
import { createApp } from "./create-app.js";
import { registerDashboardRoutes } from "./dashboard-routes.js";
import { FlagError, parseFlags, usage } from "./flags.js";
import { registerGateway } from "./gateway/create-gateway.js";
import { createGcPolicy } from "./gc-policy.js";
import { createGrpcWebUnaryFastPath } from "./grpc-web-unary-fast-path.js";
import { createMetricsListeners } from "./metrics-listeners.js";
import { runMigrateCommand } from "./migrate-command.js";
import { registerOperationalRoutes } from "./operational-routes.js";
import { redactUrl } from "./redact-url.js";
import { runSnapshotCommand } from "./snapshot-command.js";
import { applyTierUpBudget } from "./tier-up-budget.js";
import { loadClientCrlCheck, loadClientTlsOptions, TlsConfigError } from "./tls-options.js";
import { verifiedPeerCommonName } from "./tls-peer-identity.js";
import { ensureSelfSignedCertFiles } from "./tls-self-signed.js";

/** How long a diverged replica lets its watch cancels flush before it exits. */
const divergedExitDelayMs = 500;

/** Conclave's own version (printed by --version and logged at start). */
export const conclaveVersion = "0.1.0";

async function main(): Promise<void> {
  // One-shot commands beside the server's flags.
  if (process.argv[2] === "migrate") {
    process.exit(await runMigrateCommand(process.argv.slice(3)));
  }
  if (process.argv[2] === "snapshot") {
    process.exitCode = await runSnapshotCommand(process.argv.slice(3));
    return;
  }
  let config: ReturnType<typeof parseFlags>;
  try {
    config = parseFlags(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`conclave: ${err.message}\n\n${usage()}\n`);
      process.exit(2);
    }
    if (err instanceof ConfigFileError) {
      process.stderr.write(`conclave: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (config.help) {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  if (config.version) {
    process.stdout.write(
      `conclave version: ${conclaveVersion}\netcd API version: ${etcdApiVersion}\n`,
    );
    return;
  }

  const logger = pino({ level: config.logLevel });
  for (const w of config.warnings) logger.warn(w);

  // Certificates for https:// URLs, read before anything else starts; http://
  // URLs ignore them, as in etcd (parseFlags warned).
  const httpsUrls = [...config.listenClientUrls, ...config.listenMetricsUrls].filter((u) =>
    u.startsWith("https:"),
  );
  let { certFile, keyFile } = config;
  if (httpsUrls.length > 0 && certFile === undefined && config.autoTls) {
    // etcd's --auto-tls: a self-signed certificate for the listen hosts, kept in the data dir.
    const hosts = httpsUrls.map((u) => new URL(u).hostname.replace(/^\[(.*)\]$/, "$1"));
    const made = ensureSelfSignedCertFiles(join(config.dataDir, "fixtures", "client"), hosts);
    ({ certFile, keyFile } = made);
    if (made.created)
      logger.info({ certFile, keyFile }, "created self-signed client TLS certificate");
  }
  const tlsFiles =
    certFile !== undefined && keyFile !== undefined && httpsUrls.length > 0
      ? {
          certFile,
          keyFile,
          clientCertAuth: config.clientCertAuth,
          ...(config.trustedCaFile !== undefined && { trustedCaFile: config.trustedCaFile }),
          ...(config.cipherSuites !== undefined && { cipherSuites: config.cipherSuites }),
        }
      : undefined;
  let tls: ReturnType<typeof loadClientTlsOptions> | undefined;
  let tlsCheckPeer: ReturnType<typeof loadClientCrlCheck> | undefined;
  try {
    tls = tlsFiles && loadClientTlsOptions(tlsFiles);
    // etcd's --client-crl-file: serial numbers checked after each handshake.
    if (tls !== undefined && config.clientCrlFile !== undefined) {
      tlsCheckPeer = loadClientCrlCheck(config.clientCrlFile);
    }
  } catch (err) {
    if (err instanceof TlsConfigError) {
      process.stderr.write(`conclave: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }

  // JWT keys, read and checked before storage opens (etcd's NewTokenProvider).
  let jwtTokens: JwtTokens | undefined;
  try {
    if (config.authToken.type === "jwt") jwtTokens = loadJwtTokens(config.authToken);
  } catch (err) {
    if (err instanceof AuthTokenOptionError) {
      process.stderr.write(`conclave: --auth-token: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }

  const contextOptions = {
    name: config.name,
    clientUrls: config.advertiseClientUrls,
    maxTxnOps: config.maxTxnOps,
    maxRequestBytes: config.maxRequestBytes,
    authTokenTtl: config.authTokenTtl,
    bcryptCost: config.bcryptCost,
    ...(jwtTokens !== undefined && { jwtTokens }),
    quotaBackendBytes: config.quotaBackendBytes,
    log: (fields: Record<string, unknown>, message: string) => logger.info(fields, message),
  };
  const ctx =
    config.storage === undefined
      ? await openServerContext({
          dataDir: config.dataDir,
          ...(config.walDir !== undefined && { walDir: config.walDir }),
          ...(config.backendBatch !== undefined && { backendBatch: config.backendBatch }),
          initialIds: etcdIdsOf(config.initialCluster),
          ...contextOptions,
        }).catch((err: unknown) => {
          // One line naming the dir, no stack: the operator's mistake, not ours.
          if (err instanceof DataDirError) process.stderr.write(`conclave: ${err.message}\n`);
          else {
            const reason = startupReason(err);
            if (reason === undefined) throw err;
            process.stderr.write(`conclave: cannot use data dir ${config.dataDir}: ${reason}\n`);
          }
          process.exit(1);
        })
      : await openReplicaContext({
          ...contextOptions,
          storage: createPostgresStorage({
            url: config.storage,
            applicationName: `conclave ${config.name}`,
          }),
          onDiverged: ({ applied, head, reason }) => {
            // Entries this replica applied are gone from PostgreSQL (an
            // asynchronous failover): never serve that history. A restarted
            // replica rebuilds from what the database has.
            // Requests are refused and watches were cancelled as compacted:
            // give those cancels a moment to reach the clients, then exit.
            logger.fatal(
              { applied: applied.toString(), head: head.toString(), reason },
              "the shared log is behind this replica; exiting to resync",
            );
            setTimeout(() => process.exit(70), divergedExitDelayMs);
          },
        }).catch((err: unknown) => {
          process.stderr.write(
            `conclave: cannot open storage ${redactUrl(config.storage ?? "")}: ${err instanceof Error ? err.message : String(err)}\n`,
          );
          process.exit(1);
        });
  // A smaller old-generation headroom for the quiet server (not the one-shot
  // commands), from now on: opening the store builds its whole index, all of
  // which survives, and at 1.5× growth V8 would run a full collection at every
  // half-again of it (BENCHMARKS.md, "Restart time").
  const gcPolicy = createGcPolicy();
  gcPolicy.start();
  // Optimized code sooner for the request paths, before the first request.
  applyTierUpBudget();
  // Request objects allocated young however long a burst kept them alive.
  disableAllocationSitePretenuring();
  logger.info(
    {
      storage: config.storage === undefined ? config.dataDir : redactUrl(config.storage),
      revision: ctx.store.currentRev(),
      memberId: ctx.memberId.toString(16),
      // Whether the index came from its checkpoint, and how many records were read besides.
      index: ctx.store.opened.fromCheckpoint ? "checkpoint" : "scan",
      recordsRead: ctx.store.opened.recordsRead,
    },
    "storage opened",
  );

  // etcd's auto-compaction: each compaction logged, as etcd does.
  const retention = config.autoCompaction?.text;
  const compactor =
    config.autoCompaction &&
    createAutoCompactor({
      ...config.autoCompaction,
      currentRev: () => ctx.store.currentRev(),
      compact: async (rev) => {
        // Replicas: one compaction for the cluster, by the duties' holder.
        if (ctx.cluster !== undefined && !ctx.cluster.isLeader()) return;
        await ctx.kv.compact({ revision: BigInt(rev), physical: false });
      },
      onCompact: (e) => {
        const fields = { revision: e.rev, mode: config.autoCompaction?.mode, retention };
        if (e.phase === "start") logger.info(fields, "starting auto-compaction");
        else if (e.phase === "done") logger.info(fields, "finished auto-compaction");
        else
          logger.warn({ ...fields, err: "err" in e ? e.err : undefined }, "auto-compaction failed");
      },
    });
  compactor?.start();

  const routes = createRoutes(ctx);
  // Background duties start here, not in the factories, and stop before storage closes.
  // Cluster-wide: on the replica running the duties only (always when embedded).
  const electionExpiry = createWhileLeading(ctx, () =>
    createLeaderElectionExpiry(ctx, createLocalClient(ctx)),
  );
  electionExpiry.start();
  const metrics = createMetrics(ctx);
  const server = createApp({
    logger,
    routes,
    // The one chain of layers of every entry path (gRPC, gRPC-Web, Connect,
    // the JSON gateway). Metrics outermost, so they count the codes the error
    // table produced; the quota inside the error table, so its refusal is etcd's.
    interceptors: [metrics.interceptor, errorInterceptor, createQuotaInterceptor(ctx)],
    traffic: metrics.traffic,
    readMaxBytes: config.maxRequestBytes + grpcOverheadBytes,
    // Every txn etcd would run decodes (protobuf-es's default stops at 49 levels).
    recursionLimit: maxMessageDepth,
    ...(tls !== undefined && { tls }),
    grpcEngine: config.grpcEngine,
    onePort: {
      http2Settings: { maxConcurrentStreams: config.maxConcurrentStreams },
      ...(tlsCheckPeer !== undefined && { tlsCheckPeer }),
    },
  });
  // Browser dashboards on other origins (etcd's --cors; default any origin).
  const cors = registerCors(server.app, { ...(config.cors && { allowedOrigins: config.cors }) });
  // etcd's JSON gateway (/v3/...) on the same port: the same services, layers and limits.
  registerGateway(server, { maxConcurrentCalls: config.maxConcurrentStreams, cors });
  // Connect's unary JSON/binary calls (browsers, curl) beside its router, as gRPC's beside Connect.
  server.serveFirst(
    createConnectUnaryFastPath({
      pipeline: server.pipeline,
      peerCommonName: verifiedPeerCommonName,
      cors,
    }),
  );
  // gRPC-Web's unary binary calls (browser gRPC-Web clients) beside its router too.
  server.serveFirst(
    createGrpcWebUnaryFastPath({
      pipeline: server.pipeline,
      peerCommonName: verifiedPeerCommonName,
      cors,
    }),
  );
  registerOperationalRoutes(server.app, { ctx, metrics, version: conclaveVersion });
  // The dashboard (apps/dashboard/dist) at "/"; 503 with how to build it when it was not built.
  registerDashboardRoutes(server.app);
  // etcd's --listen-metrics-urls: /metrics and /health on listeners of their own.
  const metricsListeners =
    config.listenMetricsUrls.length === 0
      ? undefined
      : createMetricsListeners({
          ctx,
          metrics,
          ...(tls !== undefined && { tls }),
          ...(tlsCheckPeer !== undefined && { tlsCheckPeer }),
        });
  // Storage closes after the listeners drained: nothing acknowledged is lost.
  server.app.addHook("onClose", async () => {
    gcPolicy.close();
    await metricsListeners?.close();
    compactor?.close();
    await electionExpiry.close();
    await closeServerContext(ctx);
    logger.info("storage closed");
  });

  const bound = await server.listen(config.listenClientUrls).catch((err: unknown) => {
    const reason = startupReason(err);
    if (reason === undefined) throw err;
    const where = (err as { address?: string; port?: number }).port;
    process.stderr.write(
      `conclave: cannot listen on ${config.listenClientUrls.join(",")}${where === undefined ? "" : ` (port ${where})`}: ${reason}\n`,
    );
    process.exit(1);
  });
  logger.info(
    // The dashboard is served at "/" of every client URL.
    { urls: bound, dashboard: `${bound[0]}/`, version: conclaveVersion },
    "conclave is serving client requests",
  );
  if (metricsListeners !== undefined) {
    const metricsBound = await metricsListeners
      .listen(config.listenMetricsUrls)
      .catch(async (err: unknown) => {
        process.stderr.write(
          `conclave: cannot listen on --listen-metrics-urls: ${err instanceof Error ? err.message : String(err)}\n`,
        );
        await server.close(0);
        process.exit(1);
      });
    logger.info({ urls: metricsBound }, "serving /metrics and /health");
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    logger.info(`${signal} received: shutting down`);
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  if (tlsFiles !== undefined) {
    // Certificate rotation without a restart: new connections get the files'
    // current contents; open ones keep theirs.
    process.on("SIGHUP", () => {
      try {
        const reloaded = loadClientTlsOptions(tlsFiles);
        server.onePort.tls?.setSecureContext(reloaded);
        metricsListeners?.onePort.tls?.setSecureContext(reloaded);
        logger.info("SIGHUP received: TLS certificates reloaded");
      } catch (err) {
        logger.error(
          { err },
          "SIGHUP received: TLS certificates not reloaded, keeping the old ones",
        );
      }
    });
  }
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

main().catch((err: unknown) => {
  process.stderr.write(
    `conclave: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});

/**
 * The one-line reason of a start-up failure the operator can fix (a port in
 * use, a data dir that is not a writable directory), or undefined for
 * anything else, which keeps its stack.
 */
function startupReason(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reasons: Record<string, string> = {
    EADDRINUSE: "address already in use",
    EADDRNOTAVAIL: "address not available on this host",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    EEXIST: "exists and is not a directory",
    ENOTDIR: "a part of the path is not a directory",
    EROFS: "read-only file system",
    ENOSPC: "no space left on device",
  };
  return code === undefined ? undefined : reasons[code];
}
