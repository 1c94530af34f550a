import type { LeaseDeadlines } from "@conclave/core";
import type { Sql } from "postgres";

/**
 * Lease deadlines in PostgreSQL, on its clock (`clock_timestamp()`), so
 * replicas on machines with different clocks agree on when a lease expires.
 * Keep-alives are coalesced: every renewal that arrives while one UPDATE is
 * in flight goes into the next one, so a thousand keep-alives a second cost
 * a few statements, not a thousand.
 */
export function createPostgresLeaseDeadlines(sql: Sql): LeaseDeadlines {
  let queued = new Map<
    bigint,
    Array<{ ok: (ttl: number | undefined) => void; fail: (e: unknown) => void }>
  >();
  let flushing = false;

  async function flush(): Promise<void> {
    flushing = true;
    while (queued.size > 0) {
      const batch = queued;
      queued = new Map();
      const ids = [...batch.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      try {
        const rows = await sql<{ id: bigint; ttl_ms: bigint }[]>`
          UPDATE conclave_lease
          SET expires_at = clock_timestamp() + ttl_ms * interval '1 millisecond', graced = false
          WHERE id = ANY(${ids.map(String)}::bigint[])
          RETURNING id, ttl_ms`;
        const ttls = new Map(rows.map((r) => [BigInt(r.id), Number(r.ttl_ms) / 1000]));
        for (const [id, waiters] of batch) for (const w of waiters) w.ok(ttls.get(id));
      } catch (err) {
        for (const waiters of batch.values()) for (const w of waiters) w.fail(err);
      }
    }
    flushing = false;
  }

  return {
    renew(id) {
      return new Promise((ok, fail) => {
        const waiters = queued.get(id);
        if (waiters === undefined) queued.set(id, [{ ok, fail }]);
        else waiters.push({ ok, fail });
        if (!flushing) setImmediate(() => void flush());
        flushing = true;
      });
    },

    async remaining(id) {
      const rows = await sql<{ ttl_ms: bigint; remaining_ms: bigint }[]>`
        SELECT ttl_ms,
               floor(extract(epoch FROM (expires_at - clock_timestamp())) * 1000)::bigint AS remaining_ms
        FROM conclave_lease WHERE id = ${id.toString()}::bigint`;
      const r = rows[0];
      if (r === undefined) return undefined;
      return { ttlMs: Number(r.ttl_ms), remainingMs: Math.max(0, Number(r.remaining_ms)) };
    },

    async forget(id) {
      await sql`DELETE FROM conclave_lease WHERE id = ${id.toString()}::bigint`;
    },

    async due(limit) {
      const rows = await sql<{ id: bigint }[]>`
        SELECT id FROM conclave_lease WHERE expires_at <= clock_timestamp()
        ORDER BY expires_at LIMIT ${limit}`;
      return rows.map((r) => BigInt(r.id));
    },

    async grace(graceMs) {
      const rows = await sql`
        UPDATE conclave_lease
        SET expires_at = clock_timestamp() + least(ttl_ms, ${graceMs}) * interval '1 millisecond',
            graced = true
        WHERE NOT graced
          AND expires_at < clock_timestamp() + least(ttl_ms, ${graceMs}) * interval '1 millisecond'
        RETURNING id`;
      return rows.length;
    },
  };
}
