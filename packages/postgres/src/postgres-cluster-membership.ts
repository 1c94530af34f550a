import type { ClusterMembership, ReplicaMember } from "@conclave/core";
import type { ReservedSql, Sql } from "postgres";
import { lockKeys } from "./schema.js";

/** Member IDs are uint64 (etcd's); PostgreSQL's bigint is signed: stored as the same 64 bits. */
const toPg = (id: bigint) => BigInt.asIntN(64, id).toString();
const fromPg = (v: bigint | string | number) => BigInt.asUintN(64, BigInt(v));

export interface PostgresClusterMembershipOptions {
  /** Heartbeat and duties check period, in ms. Default 500. */
  heartbeatMs?: number;
  /**
   * How long PostgreSQL keeps an idle duties session (its
   * `idle_session_timeout`), in ms: a holder frozen this long loses the
   * duties to another replica. Default 2000.
   */
  dutiesTimeoutMs?: number;
  /** A member is live while its last heartbeat is this recent, in ms. Default 5000. */
  liveMs?: number;
}

export interface PostgresClusterMembership extends ClusterMembership {
  /** Loads the cluster ID (the schema must exist). */
  start(): Promise<void>;
  /** Leaves: drops the duties and this member's row. */
  close(): Promise<void>;
}

/**
 * Members as rows with heartbeats; the duties as a session-level advisory
 * lock held on a dedicated connection. PostgreSQL ends that session when it
 * stays idle past `dutiesTimeoutMs` — which a frozen (SIGSTOPped) holder's
 * does — and so releases the lock to the next replica that tries. A holder
 * that wakes up finds its session gone at its next check (the backend PID
 * changed or the query failed) and steps down. Exclusivity is for economy,
 * not safety: every duty re-checks its condition under the log's lock
 * (`SharedLog.expire`), so an old holder that has not noticed yet does no
 * harm.
 */
export function createPostgresClusterMembership(
  sql: Sql,
  options: PostgresClusterMembershipOptions = {},
): PostgresClusterMembership {
  const heartbeatMs = options.heartbeatMs ?? 500;
  const dutiesTimeoutMs = options.dutiesTimeoutMs ?? 2000;
  const liveMs = options.liveMs ?? 5000;
  const listeners = new Set<(held: boolean) => void>();
  let clusterId = 0n;
  let self: ReplicaMember | undefined;
  let members: ReplicaMember[] = [];
  let holder = 0n;
  let held = false;
  let session: ReservedSql | undefined;
  let sessionPid = 0;
  let timer: NodeJS.Timeout | undefined;
  let beating: Promise<void> | undefined;
  let closed = false;

  const setHeld = (now: boolean) => {
    if (now === held) return;
    held = now;
    for (const l of listeners) {
      try {
        l(now);
      } catch {
        // A listener's failure must not stop the heartbeat.
      }
    }
  };

  async function dropSession(): Promise<void> {
    const s = session;
    session = undefined;
    sessionPid = 0;
    setHeld(false);
    if (s !== undefined) {
      // A dead session cannot be reused: end the connection rather than pool it.
      await s`SELECT pg_advisory_unlock_all()`.catch(() => undefined);
      s.release();
    }
  }

  /** Keeps or tries to take the duties. */
  async function checkDuties(): Promise<void> {
    if (self === undefined) return;
    if (session !== undefined) {
      const rows = await session<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`.catch(() => []);
      if (rows[0]?.pid === sessionPid) return;
      await dropSession();
    }
    const s = await sql.reserve();
    try {
      await s.unsafe(`SET idle_session_timeout = ${Math.max(1, Math.round(dutiesTimeoutMs))}`);
      const rows = await s<{ got: boolean; pid: number }[]>`
        SELECT pg_try_advisory_lock(${lockKeys.duties.toString()}::bigint) AS got,
               pg_backend_pid() AS pid`;
      if (rows[0]?.got !== true) {
        s.release();
        return;
      }
      session = s;
      sessionPid = rows[0].pid;
      await sql`UPDATE conclave_duty SET holder = ${toPg(self.id)}::bigint WHERE id = 1`;
      holder = self.id;
      setHeld(true);
    } catch (err) {
      if (session !== s) s.release();
      throw err;
    }
  }

  /** Rows whose heartbeat is younger than liveMs, ascending by ID. */
  async function readLive(): Promise<ReplicaMember[]> {
    const rows = await sql<
      { id: bigint; name: string; client_urls: string[]; peer_urls: string[] }[]
    >`SELECT id, name, client_urls, peer_urls FROM conclave_member
      WHERE heartbeat_at > clock_timestamp() - ${liveMs} * interval '1 millisecond'
      ORDER BY id`;
    return rows.map((r) => ({
      id: fromPg(r.id),
      name: r.name,
      clientUrls: r.client_urls,
      peerUrls: r.peer_urls,
    }));
  }

  async function beat(): Promise<void> {
    const me = self;
    if (me === undefined || closed) return;
    await sql`
      INSERT INTO conclave_member (id, name, client_urls, peer_urls, heartbeat_at)
      VALUES (${toPg(me.id)}::bigint, ${me.name}, ${me.clientUrls},
              ${me.peerUrls}, clock_timestamp())
      ON CONFLICT (id) DO UPDATE SET heartbeat_at = clock_timestamp(),
        name = EXCLUDED.name, client_urls = EXCLUDED.client_urls, peer_urls = EXCLUDED.peer_urls`;
    await checkDuties();
    if (held) {
      // Member cleanup is one of the duties: rows of replicas gone for a minute.
      await sql`DELETE FROM conclave_member WHERE heartbeat_at < clock_timestamp() - interval '1 minute'`;
    }
    members = await readLive();
    const duty = await sql<{ holder: bigint }[]>`SELECT holder FROM conclave_duty WHERE id = 1`;
    holder = held ? me.id : fromPg(duty[0]?.holder ?? 0);
  }

  const tick = () => {
    if (beating !== undefined || closed) return;
    beating = beat()
      .catch(async () => {
        // The database is unreachable: nobody can be sure of holding the duties.
        await dropSession();
      })
      .finally(() => {
        beating = undefined;
      });
  };

  return {
    clusterId: () => clusterId,
    async start() {
      const rows = await sql<
        { cluster_id: bigint }[]
      >`SELECT cluster_id FROM conclave_cluster WHERE id = 1`;
      clusterId = BigInt(rows[0]?.cluster_id ?? 0);
    },
    async join(member) {
      self = member;
      await beat();
      timer = setInterval(tick, heartbeatMs);
      timer.unref();
    },
    async members() {
      // Read now, so a replica that joined since the last round is listed
      // (clientv3's auto-sync right after start-up); the last round's list
      // when the database cannot answer.
      if (self === undefined || closed) return members;
      try {
        members = await readLive();
      } catch {
        // keep the last round's
      }
      return members;
    },
    dutyHolder: () => holder,
    holdsDuties: () => held,
    onDuties(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      closed = true;
      if (timer !== undefined) clearInterval(timer);
      await beating;
      const me = self;
      if (held && me !== undefined) {
        await sql`UPDATE conclave_duty SET holder = 0 WHERE id = 1 AND holder = ${toPg(me.id)}::bigint`.catch(
          () => undefined,
        );
      }
      await dropSession();
      if (me !== undefined) {
        await sql`DELETE FROM conclave_member WHERE id = ${toPg(me.id)}::bigint`.catch(
          () => undefined,
        );
      }
    },
  };
}
