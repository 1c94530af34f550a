import type { ReplicationStorage } from "@conclave/core";
import postgres from "postgres";
import {
  createPostgresClusterMembership,
  type PostgresClusterMembershipOptions,
} from "./postgres-cluster-membership.js";
import { createPostgresLeaseDeadlines } from "./postgres-lease-deadlines.js";
import { createPostgresSharedLog } from "./postgres-shared-log.js";
import { migrate } from "./schema.js";

export interface PostgresStorageOptions extends PostgresClusterMembershipOptions {
  /** `postgres://user:password@host:port/db?…` (libpq-style URL, as postgres.js reads it). */
  url: string;
  /** Shown in pg_stat_activity. Default "conclave". */
  applicationName?: string;
  /** Connections in the pool. Default 8 (plus one for LISTEN and one for the duties). */
  maxConnections?: number;
  /** Fallback poll of the log, in ms. Default 250. */
  pollMs?: number;
}

/**
 * The replica mode's shared storage over PostgreSQL (`--storage
 * postgres://…`): the log, lease deadlines and membership, over one pool of
 * `postgres` (porsager) connections. Nothing connects until `start`, which
 * creates or migrates the schema.
 */
export function createPostgresStorage(options: PostgresStorageOptions): ReplicationStorage {
  const sql = postgres(options.url, {
    max: options.maxConnections ?? 8,
    types: { bigint: postgres.BigInt },
    onnotice: () => undefined,
    connect_timeout: 5,
    connection: { application_name: options.applicationName ?? "conclave" },
  });
  const log = createPostgresSharedLog(sql, {
    ...(options.pollMs !== undefined && { pollMs: options.pollMs }),
  });
  const cluster = createPostgresClusterMembership(sql, options);
  return {
    log,
    leases: createPostgresLeaseDeadlines(sql),
    cluster,
    async start() {
      await migrate(sql);
      await cluster.start();
      await log.start();
    },
    async close() {
      await cluster.close().catch(() => undefined);
      await log.close();
      await sql.end({ timeout: 2 });
    },
  };
}
