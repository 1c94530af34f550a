import { randomBytes } from "node:crypto";
import {
  errLeaseExists,
  errLeaseNotFound,
  errLeaseTTLTooLarge,
  errNoLeader,
  type LeaseDeadlines,
  type Lessor,
  maxLeaseTtl,
} from "@conclave/core";
import { logEntry } from "./propose-entry.js";
import type { ReplicaLog } from "./replica-log.js";

/**
 * The lessor of a replica. Grants and revokes are log entries (the lease ID
 * is picked here, by the proposer, so every replica grants the same one; the
 * grant's deadline is created in PostgreSQL in the same commit). The clock
 * is PostgreSQL's: keep-alives and TimeToLive go to the shared deadlines,
 * and expiry is the duty of one replica (`replica-duties.ts`). The local
 * lessor keeps the leases and their keys, as every replica applies them.
 */
export function createReplicatedLessor(
  local: Lessor,
  log: ReplicaLog,
  deadlines: LeaseDeadlines,
): Lessor {
  /** The shared storage's failures are "no leader"; the lessor's own sentinels pass. */
  const shared = async <T>(p: Promise<T>): Promise<T> => {
    try {
      return await p;
    } catch {
      throw errNoLeader;
    }
  };
  return {
    exists: (id) => local.exists(id),
    leaseOf: (k) => local.leaseOf(k),
    onPut: (...a) => local.onPut(...a),
    onDelete: (...a) => local.onDelete(...a),
    minTtl: local.minTtl,
    async grant(reqId, ttl) {
      if (ttl > maxLeaseTtl) throw errLeaseTTLTooLarge;
      let id = reqId;
      if (id === 0n) {
        do {
          id = randomBytes(8).readBigInt64BE(0) & 0x7fff_ffff_ffff_ffffn;
        } while (id === 0n || local.exists(id));
      } else if (local.exists(id)) {
        throw errLeaseExists;
      }
      const granted = Math.max(ttl, local.minTtl);
      return (await log.propose(
        logEntry({ case: "leaseGrant", value: { ID: id, TTL: BigInt(ttl) } } as never),
        { id, ttlMs: granted * 1000 },
      )) as { id: bigint; ttl: number };
    },
    async revoke(id, auth) {
      const rev = (await log.propose(
        logEntry({ case: "leaseRevoke", value: { ID: id } } as never, auth ?? undefined),
      )) as number;
      // Best effort: a deadline left behind expires into a no-op entry.
      deadlines.forget(id).catch(() => undefined);
      return rev;
    },
    async renew(id) {
      const ttl = await shared(deadlines.renew(id));
      if (ttl === undefined) throw errLeaseNotFound;
      if (!local.exists(id)) {
        // Granted through another replica and not applied here yet, or
        // revoked with its deadline not yet dropped.
        await log.readIndex();
        if (!local.exists(id)) throw errLeaseNotFound;
      }
      // Keeps this replica's estimate (`timeToLive`) fresh.
      local.renew(id).catch(() => undefined);
      return Math.round(ttl);
    },
    timeToLive: (id) => local.timeToLive(id),
    async checkTimeToLive(id) {
      await log.readIndex();
      const info = local.timeToLive(id);
      if (info === undefined) return undefined;
      const left = await shared(deadlines.remaining(id));
      // No deadline: it is being revoked or expired right now.
      const remaining = left === undefined ? 0 : Math.floor(left.remainingMs / 1000);
      return { ...info, remaining };
    },
    leases: () => local.leases(),
    stats: () => local.stats(),
    start: () => undefined,
    close: async () => undefined,
  };
}
