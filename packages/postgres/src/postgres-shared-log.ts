import { type LogAppend, LogNotEmptyError, type LogRecord, type SharedLog } from "@conclave/core";
import type { Sql } from "postgres";

/** The NOTIFY channel appends signal on, inside their transaction (delivered at commit, in commit order). */
export const logChannel = "conclave_log";

/**
 * The most a notification carries of its commit's entries, in characters of
 * base64. A commit this small reaches the followers with its entries, so
 * they apply it without reading the log (one round trip and a query less per
 * follower per commit, which is most of a replicated write's cost at a
 * thousand writes a second); a larger one notifies its position only.
 * PostgreSQL's limit is 8000 bytes; staying well under it keeps the
 * notification queue, which a stuck listener makes PostgreSQL keep, from
 * filling much faster than with positions alone.
 */
const notifyEntriesChars = 2000;

/**
 * The payload after the position: each entry in base64 after a space, or ""
 * when they do not fit in {@link notifyEntriesChars}.
 */
function notifiedEntries(data: readonly Buffer[]): string {
  let chars = 0;
  for (const d of data) chars += 1 + Math.ceil(d.length / 3) * 4;
  if (chars > notifyEntriesChars) return "";
  let s = "";
  for (const d of data) s += ` ${d.toString("base64")}`;
  return s;
}

/** A notification's payload, read. */
export interface LogNotification {
  /** Which server run committed it: PostgreSQL's start time (a failover or restart changes it). */
  server: string;
  /** The commit's entries, oldest first; empty when they did not fit. */
  records: LogRecord[];
}

/**
 * Reads a notification's payload: the position of the commit's last entry,
 * the server run, then (when they fitted) the entries. Undefined for a
 * payload this build does not read.
 */
export function parseNotification(payload: string): LogNotification | undefined {
  const parts = payload.split(" ");
  if (parts.length < 2 || !/^[0-9]+$/.test(parts[0] ?? "")) return undefined;
  const first = BigInt(parts[0] as string) - BigInt(parts.length - 3);
  const records: LogRecord[] = [];
  for (let i = 2; i < parts.length; i++) {
    const b = Buffer.from(parts[i] as string, "base64");
    records.push({
      seq: first + BigInt(i - 2),
      data: new Uint8Array(b.buffer, b.byteOffset, b.length),
    });
  }
  return { server: parts[1] as string, records };
}

/**
 * How much of a restore goes into one statement, in bytes of entries: one
 * parameter array of this size, not the whole store (a restore's entries are
 * ~1 MiB each).
 */
const restoreStatementBytes = 8 * 1024 * 1024;
/** Lease deadlines per statement of a restore. */
const restoreLeasesPerStatement = 10_000;

export interface PostgresSharedLogOptions {
  /** The fallback poll for notifications lost with a dropped listening connection, in ms. Default 250. */
  pollMs?: number;
}

export interface PostgresSharedLog extends SharedLog {
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The shared log over PostgreSQL. Positions come from one counter row that
 * every append updates — and so locks — in the same statement that inserts
 * its entries, so the lock is held from taking the positions to the commit:
 * positions are gap-free (a rolled-back append rolls its counter back too)
 * and become visible in order (the next append waits for this commit). A
 * sequence could give neither. One append is one statement, so one round
 * trip plus the commit; the replica batches what queued meanwhile into it.
 */
export function createPostgresSharedLog(
  sql: Sql,
  options: PostgresSharedLogOptions = {},
): PostgresSharedLog {
  const pollMs = options.pollMs ?? 250;
  const listeners = new Set<(records?: LogRecord[]) => void>();
  let poll: NodeJS.Timeout | undefined;
  let unlisten: (() => Promise<void>) | undefined;
  const fire = (records?: LogRecord[]) => {
    for (const l of listeners) l(records);
  };
  /**
   * The server run whose notifications were last passed on. A notification
   * from another run (a failover, a restart) is passed on as "read the log"
   * without its entries: the new server may have lost entries the follower
   * applied, which only a read of the log can show — it must come before
   * anything the new server says is applied. Unknown at first: the first
   * notification makes the follower read too.
   */
  let server: string | undefined;
  const notified = (payload: string) => {
    const n = parseNotification(payload);
    if (n === undefined || n.server !== server || n.records.length === 0) {
      if (n !== undefined) server = n.server;
      fire();
    } else fire(n.records);
  };
  const readAll = () => fire();

  /** Takes positions, inserts the entries (and grants' deadlines) and notifies, in one statement. */
  async function appendIn(tx: Sql, entries: readonly LogAppend[]): Promise<bigint> {
    const n = entries.length;
    const data = entries.map((e) => Buffer.from(e.data.buffer, e.data.byteOffset, e.data.length));
    const grants = entries.flatMap((e) => (e.grant === undefined ? [] : [e.grant]));
    const rows = await tx<{ last: bigint }[]>`
      WITH c AS (
        UPDATE conclave_cluster SET seq = seq + ${n} WHERE id = 1 RETURNING seq
      ), g AS (
        INSERT INTO conclave_lease (id, ttl_ms, expires_at)
        SELECT gid, gttl, clock_timestamp() + gttl * interval '1 millisecond'
        FROM unnest(${grants.map((g) => g.id.toString())}::bigint[],
                    ${grants.map((g) => String(g.ttlMs))}::bigint[]) AS t(gid, gttl)
        ON CONFLICT (id) DO NOTHING
      ), ins AS (
        INSERT INTO conclave_log (seq, entry)
        SELECT c.seq - ${n} + t.o, t.e
        FROM c, unnest(${data}::bytea[]) WITH ORDINALITY AS t(e, o)
        RETURNING seq
      )
      SELECT max(seq) AS last,
             pg_notify(${logChannel}, max(seq)::text || ' ' ||
               extract(epoch from pg_postmaster_start_time())::text || ${notifiedEntries(data)})
      FROM ins`;
    const last = rows[0]?.last;
    if (last === undefined || last === null)
      throw new Error("conclave: append returned no position");
    return BigInt(last);
  }

  return {
    append(entries) {
      if (entries.length === 0) return Promise.reject(new Error("conclave: empty append"));
      return appendIn(sql, entries);
    },

    restore(entries, leases) {
      return sql.begin(async (tx) => {
        // Takes the log's lock first: appends wait, and the check holds until the commit.
        const rows = await tx<{ seq: bigint }[]>`
          SELECT seq FROM conclave_cluster WHERE id = 1 FOR UPDATE`;
        const head = BigInt(rows[0]?.seq ?? 0);
        if (head !== 0n) throw new LogNotEmptyError(head);
        let last = 0n;
        let batch: LogAppend[] = [];
        let bytes = 0;
        for (const data of entries) {
          batch.push({ data });
          bytes += data.length;
          if (bytes >= restoreStatementBytes) {
            last = await appendIn(tx as unknown as Sql, batch);
            batch = [];
            bytes = 0;
          }
        }
        if (batch.length > 0) last = await appendIn(tx as unknown as Sql, batch);
        if (last === 0n) throw new Error("conclave: a restore needs at least one entry");
        for (let i = 0; i < leases.length; i += restoreLeasesPerStatement) {
          const part = leases.slice(i, i + restoreLeasesPerStatement);
          await tx`
            INSERT INTO conclave_lease (id, ttl_ms, expires_at)
            SELECT lid, lttl, clock_timestamp() + lttl * interval '1 millisecond'
            FROM unnest(${part.map((l) => l.id.toString())}::bigint[],
                        ${part.map((l) => String(l.ttlMs))}::bigint[]) AS t(lid, lttl)`;
        }
        return last;
      });
    },

    async expire(ids, entryFor) {
      if (ids.length === 0) return [];
      return sql.begin(async (tx) => {
        const rows = await tx<{ id: bigint }[]>`
          DELETE FROM conclave_lease
          WHERE id = ANY(${ids.map(String)}::bigint[]) AND expires_at <= clock_timestamp()
          RETURNING id`;
        const expired = rows.map((r) => BigInt(r.id)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        if (expired.length === 0) return [];
        await appendIn(
          tx as unknown as Sql,
          expired.map((id) => ({ data: entryFor(id) })),
        );
        return expired;
      });
    },

    async read(after, limit) {
      const rows = await sql<{ seq: bigint; entry: Buffer }[]>`
        SELECT seq, entry FROM conclave_log WHERE seq > ${after.toString()}::bigint
        ORDER BY seq LIMIT ${limit}`;
      return rows.map(
        (r): LogRecord => ({
          seq: BigInt(r.seq),
          data: new Uint8Array(r.entry.buffer, r.entry.byteOffset, r.entry.length),
        }),
      );
    },

    async head() {
      const rows = await sql<{ seq: bigint }[]>`SELECT seq FROM conclave_cluster WHERE id = 1`;
      return BigInt(rows[0]?.seq ?? 0);
    },

    onAppended(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    async start() {
      // Re-subscribing after a reconnect calls onlisten again: read the tail then,
      // since what was notified meanwhile is lost.
      const sub = await sql.listen(logChannel, notified, readAll);
      unlisten = sub.unlisten;
      poll = setInterval(readAll, pollMs);
      poll.unref();
    },

    async close() {
      if (poll !== undefined) clearInterval(poll);
      await unlisten?.().catch(() => undefined);
    },
  };
}
