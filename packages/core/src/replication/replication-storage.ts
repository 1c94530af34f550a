/**
 * What a replica needs from the storage it shares with the other replicas
 * (the PostgreSQL mode; `@conclave/postgres` implements it). Unlike
 * `Backend` this is a network port: every method is asynchronous and
 * may fail while the shared storage is unreachable, which the replica
 * answers with etcd's "no leader" (Unavailable), never with a guess.
 *
 * A replica keeps its own copy of the state in a local Backend and applies
 * the shared log to it, in order, as an etcd member applies its raft log; so
 * the shared storage holds the log and the few facts that must be decided
 * in one place for all replicas: the order of entries, lease deadlines (on
 * the shared storage's clock), who is alive, and who runs the cluster-wide
 * duties.
 */
export interface ReplicationStorage {
  readonly log: SharedLog;
  readonly leases: LeaseDeadlines;
  readonly cluster: ClusterMembership;
  /** Creates or migrates the schema and loads the cluster ID. Call once before anything else. */
  start(): Promise<void>;
  /** Stops background work (heartbeats, listeners, the duties' lock) and closes connections. */
  close(): Promise<void>;
}

/** One committed log entry. */
export interface LogRecord {
  /** Its position: 1, 2, 3, … with no hole, in commit order. */
  seq: bigint;
  data: Uint8Array;
}

/** A lease whose deadline (now + TTL on the shared clock) is created with a commit of the log. */
export interface LeaseGrant {
  id: bigint;
  ttlMs: number;
}

/** An entry to append, with the lease bookkeeping that must commit with it. */
export interface LogAppend {
  data: Uint8Array;
  /** A LeaseGrant: the lease's deadline is created in the same commit. */
  grant?: LeaseGrant;
}

/**
 * The gap-free log. Appends hold one cluster-wide lock from the moment they
 * take their positions until their commit, so positions are consecutive and
 * become visible in order: a reader that sees entry n has seen every entry
 * before it.
 */
export interface SharedLog {
  /**
   * Appends `entries` in one commit; resolves with the position of the last
   * (they take consecutive positions) once committed. A rejection means the
   * outcome may be unknown: the caller finds out by reading the log.
   */
  append(entries: readonly LogAppend[]): Promise<bigint>;
  /**
   * Starts an empty log with a restore prefix: `entries` (the state the log
   * starts from, in parts: `conclave.log.v1.Restore` entries) at positions
   * 1, 2, 3, … and the deadlines of `leases` (now + TTL, on the shared
   * clock: their clocks restart, as etcd's do when a member restores from a
   * snapshot), all in one commit under the log's lock — so no replica ever
   * sees part of the state, and no append can come before or between the
   * parts. Rejects with {@link LogNotEmptyError} (nothing written) when the
   * log already has an entry. `entries` is read lazily, so a large store
   * need not be in memory at once. Resolves with the position of the last
   * entry.
   *
   * `conclave migrate` uses it to move an embedded store here; a snapshot
   * that lets the log be truncated would write the same kind of prefix.
   */
  restore(entries: Iterable<Uint8Array>, leases: readonly LeaseGrant[]): Promise<bigint>;
  /**
   * For each lease in `ids` whose deadline has passed (checked under the
   * log's lock, on the shared clock), deletes its deadline and appends
   * `entryFor(id)`, all in one commit: a keep-alive that got in first wins
   * and the lease is not expired. Resolves with the leases expired.
   */
  expire(ids: readonly bigint[], entryFor: (id: bigint) => Uint8Array): Promise<bigint[]>;
  /** Entries after position `after`, in order, at most `limit`. */
  read(after: bigint, limit: number): Promise<LogRecord[]>;
  /** The position of the last committed entry (0 for an empty log): the ReadIndex. */
  head(): Promise<bigint>;
  /**
   * Calls `listener` when entries may have been appended — promptly on a
   * notification from the commit, and at a fallback interval in case one was
   * lost (a dropped listening connection). Returns unsubscribe.
   *
   * A notification of a small commit carries its entries (`records`, in
   * order), so a follower can apply them without a round trip to the shared
   * storage. A call without records (the fallback poll, a re-subscribe after
   * a reconnect, a commit too large to carry) says only "read the log": the
   * follower must read, and check, the log before applying anything it was
   * told since — the storage behind a re-subscribed connection may have lost
   * entries (a failover).
   */
  onAppended(listener: (records?: LogRecord[]) => void): () => void;
}

/** {@link SharedLog.restore} into a log that already has entries. */
export class LogNotEmptyError extends Error {
  override name = "LogNotEmptyError";
  constructor(readonly head: bigint) {
    super(
      `the shared log is not empty (${head} entries): a store can only be restored into a fresh database`,
    );
  }
}

/** Lease deadlines, kept on the shared storage's clock so every replica agrees. */
export interface LeaseDeadlines {
  /** Restarts the lease's clock; resolves with its TTL in seconds, or undefined for no such lease. */
  renew(id: bigint): Promise<number | undefined>;
  /** The granted TTL and the time left, in ms, or undefined for no such lease. */
  remaining(id: bigint): Promise<{ ttlMs: number; remainingMs: number } | undefined>;
  /** Drops the deadline of a revoked lease. */
  forget(id: bigint): Promise<void>;
  /** Leases whose deadline passed, earliest first, at most `limit`. */
  due(limit: number): Promise<bigint[]>;
  /**
   * The restart rule, for a replica that just took over the duties: a lease
   * with less than min(TTL, `graceMs`) left gets that much, once between two
   * keep-alives — so a takeover (or an outage of the shared storage) never
   * expires leases whose clients could not reach anyone meanwhile, and never
   * keeps an abandoned lease for more than one grace period.
   */
  grace(graceMs: number): Promise<number>;
}

/** One live replica, as `member list` shows it. */
export interface ReplicaMember {
  id: bigint;
  name: string;
  clientUrls: string[];
  peerUrls: string[];
}

/**
 * Who is alive and who runs the cluster-wide duties (lease expiry,
 * compaction, member cleanup). The duties go to one replica at a time, by a
 * lock the shared storage takes away from a replica that stops answering.
 */
export interface ClusterMembership {
  /** The cluster's ID, created with the schema. */
  clusterId(): bigint;
  /** Announces this replica and keeps it announced (heartbeats) until close. */
  join(self: ReplicaMember): Promise<void>;
  /**
   * Live replicas (heartbeat younger than the liveness window), ascending by
   * ID, read when asked; the last heartbeat round's list when the storage
   * cannot answer.
   */
  members(): Promise<ReplicaMember[]>;
  /** The member running the duties, 0 when none is known. */
  dutyHolder(): bigint;
  /** Whether this replica runs the duties now. */
  holdsDuties(): boolean;
  /** Told when this replica gains or loses the duties. Returns unsubscribe. */
  onDuties(listener: (held: boolean) => void): () => void;
}
