import type { Sql } from "postgres";

/**
 * The schema, as numbered migrations. `migrate` applies the missing ones in
 * order, each in its own transaction with its version row, under a
 * transaction-level advisory lock — so replicas starting together migrate
 * once, and a replica of an older build refuses a newer schema instead of
 * misreading it.
 */
const migrations: readonly string[] = [
  // 1: the log, its counter, lease deadlines, members, the duties' holder.
  `
  CREATE TABLE conclave_cluster (
    id int PRIMARY KEY CHECK (id = 1),
    cluster_id bigint NOT NULL,
    -- The position of the last log entry: the one row every append locks.
    seq bigint NOT NULL
  );
  INSERT INTO conclave_cluster (id, cluster_id, seq)
    VALUES (1, (floor(random() * 9007199254740991)::bigint << 10) | 1, 0);
  CREATE TABLE conclave_log (
    seq bigint PRIMARY KEY,
    entry bytea NOT NULL
  );
  CREATE TABLE conclave_lease (
    id bigint PRIMARY KEY,
    ttl_ms bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    -- Got the takeover grace since its last keep-alive (LeaseDeadlines.grace).
    graced boolean NOT NULL DEFAULT false
  );
  CREATE INDEX conclave_lease_expires_at ON conclave_lease (expires_at);
  CREATE TABLE conclave_member (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    client_urls text[] NOT NULL,
    peer_urls text[] NOT NULL,
    heartbeat_at timestamptz NOT NULL
  );
  CREATE TABLE conclave_duty (
    id int PRIMARY KEY CHECK (id = 1),
    holder bigint NOT NULL
  );
  INSERT INTO conclave_duty (id, holder) VALUES (1, 0);
  `,
];

/** The schema version this build writes and reads. */
export const schemaVersion = migrations.length;

/** Advisory lock keys (one namespace for Conclave: 0x636f6e63 is "conc"). */
export const lockKeys = {
  migrate: 0x636f6e63_0001n,
  duties: 0x636f6e63_0002n,
} as const;

/** Creates or migrates the schema; resolves with the version found before. */
export async function migrate(sql: Sql): Promise<number> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${lockKeys.migrate.toString()}::bigint)`;
    await tx`CREATE TABLE IF NOT EXISTS conclave_schema (version int NOT NULL)`;
    const rows = await tx<
      { version: number }[]
    >`SELECT max(version) AS version FROM conclave_schema`;
    const found = rows[0]?.version ?? 0;
    if (found > schemaVersion) {
      throw new Error(
        `conclave: the database has schema version ${found}, newer than this build's ${schemaVersion}; upgrade Conclave`,
      );
    }
    for (let v = found + 1; v <= schemaVersion; v++) {
      await tx.unsafe(migrations[v - 1] as string);
      await tx`INSERT INTO conclave_schema (version) VALUES (${v})`;
    }
    return found;
  });
}
