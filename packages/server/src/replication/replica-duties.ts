import { toBinary } from "@bufbuild/protobuf";
import type { ReplicationStorage } from "@conclave/core";
import { conclaveLog } from "@conclave/proto";
import { logEntry } from "./propose-entry.js";

export interface ReplicaDutiesOptions {
  storage: ReplicationStorage;
  /** This replica's member ID (marks the expiry entries it appends). */
  memberId: bigint;
  /** The takeover grace (see LeaseDeadlines.grace), in ms. */
  graceMs: number;
  /** How often due leases are looked for, in ms. Default 100. */
  intervalMs?: number;
  /** Told about each lease expired (for logs). */
  onExpired?: (id: bigint) => void;
}

export interface ReplicaDuties {
  /** Starts following who holds the duties; runs them while this replica does. */
  start(): void;
  close(): Promise<void>;
}

/**
 * The cluster-wide duties as this replica runs them while it holds them
 * (ClusterMembership): on taking over, the grace for leases whose clients
 * could not renew meanwhile; then, every interval, expiring due leases —
 * each expiry an ordinary log entry appended only if PostgreSQL still finds
 * the deadline passed under the log's lock (`SharedLog.expire`), so a
 * keep-alive that got in first always wins, and a holder that lost the
 * duties without noticing yet cannot expire a renewed lease. Compaction's
 * duty is the auto-compactor's, gated on the same holder (apps/server).
 */
export function createReplicaDuties(options: ReplicaDutiesOptions): ReplicaDuties {
  const { storage, memberId, graceMs } = options;
  const intervalMs = options.intervalMs ?? 100;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let graced = false;
  let unsubscribe: (() => void) | undefined;

  const expiryEntry = (id: bigint) => {
    const e = logEntry({ case: "leaseExpire", value: { id } } as never);
    e.proposer = memberId;
    return toBinary(conclaveLog.LogEntrySchema, e);
  };

  async function round(): Promise<void> {
    if (!storage.cluster.holdsDuties()) return;
    if (!graced) {
      await storage.leases.grace(graceMs);
      graced = true;
    }
    const due = await storage.leases.due(256);
    if (due.length === 0) return;
    const expired = await storage.log.expire(due, expiryEntry);
    for (const id of expired) options.onExpired?.(id);
  }

  const tick = () => {
    if (running !== undefined) return;
    running = round()
      .catch(() => undefined)
      .finally(() => {
        running = undefined;
      });
  };

  return {
    start() {
      unsubscribe = storage.cluster.onDuties((held) => {
        // A new term of holding starts with the grace again.
        if (!held) graced = false;
        if (held) tick();
      });
      timer = setInterval(tick, intervalMs);
      timer.unref();
    },
    async close() {
      unsubscribe?.();
      if (timer !== undefined) clearInterval(timer);
      await running;
    },
  };
}
