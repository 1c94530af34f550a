import {
  createLessor,
  createLmdbBackend,
  inspectStore,
  type LeaseGrant,
  type ReplicationStorage,
} from "@conclave/core";
import { restoreEntries, restoreEntryBytes } from "./restore-prefix.js";

export interface MigrateEmbeddedStoreOptions {
  /** The embedded store's data dir (the `--data-dir` of the server that wrote it). */
  from: string;
  /** The shared storage to start with it (not started yet); its log must be empty. */
  to: ReplicationStorage;
  /** Bytes of records per restore entry. Default `restoreEntryBytes` (1 MiB). */
  entryBytes?: number;
  /**
   * Told after each `progressEveryBytes` of entries read from the store (a
   * long copy shows it is moving); not at the end, which the summary says.
   */
  onProgress?: (progress: MigrateProgress) => void;
  /** Default 16 MiB. */
  progressEveryBytes?: number;
}

/** How far {@link migrateEmbeddedStore} has read. */
export interface MigrateProgress {
  /** Restore entries read so far. */
  entries: number;
  /** Their bytes. */
  bytes: number;
}

/** What {@link migrateEmbeddedStore} moved. */
export interface MigrateSummary {
  /** The store's revision: replicas continue at the next one. */
  revision: number;
  /** Its compaction revision, -1 when never compacted. */
  compactRevision: number;
  /** Keys live at `revision`. */
  keys: number;
  /** Leases, each with a deadline of now + TTL in the shared storage. */
  leases: number;
  /** Restore entries written at the start of the log. */
  entries: number;
  /** Bytes of those entries. */
  bytes: number;
}

/**
 * `conclave migrate`: moves an embedded store (LMDB, `--data-dir`) to the
 * shared storage of the replica mode with its whole history. The store's
 * backend is copied record by record into the log's restore prefix, and
 * every lease gets its deadline, in one commit (`SharedLog.restore`); a
 * replica that opens on that log loads the prefix into its local copy
 * before its store opens, so it answers as the embedded server did: the
 * same revision, history, compaction, leases, users, roles and auth state.
 * Lease clocks restart at the migration, as etcd's restart when a member
 * restores from a snapshot; auth tokens are not kept (a restart forgets
 * them too).
 *
 * Refuses, writing nothing, a directory without a store, a store another
 * process has open (a running server: its writes would be missed), and a
 * shared log that is not empty (`LogNotEmptyError`). The source is only
 * read: not even an interrupted compaction is redone there (replicas redo
 * it on their copy, as a restart would).
 */
export async function migrateEmbeddedStore(
  options: MigrateEmbeddedStoreOptions,
): Promise<MigrateSummary> {
  const backend = createLmdbBackend({ dir: options.from, create: false });
  try {
    const store = inspectStore(backend);
    // The core's lessor reads the lease records; with expireLocally false it
    // keeps no clock and writes nothing (no restart grace on the source).
    const lessor = createLessor({ backend, expireLocally: false });
    const leases: LeaseGrant[] = [];
    for (const id of lessor.leases()) {
      const info = lessor.timeToLive(id);
      if (info !== undefined) leases.push({ id, ttlMs: info.ttl * 1000 });
    }
    let entries = 0;
    let bytes = 0;
    const every = options.progressEveryBytes ?? 16 * 1024 * 1024;
    let nextReport = every;
    function* counted(): Generator<Uint8Array> {
      for (const e of restoreEntries(backend, options.entryBytes ?? restoreEntryBytes)) {
        entries++;
        bytes += e.length;
        if (bytes >= nextReport) {
          options.onProgress?.({ entries, bytes });
          nextReport = bytes + every;
        }
        yield e;
      }
    }
    try {
      await options.to.start();
      await options.to.log.restore(counted(), leases);
    } finally {
      await options.to.close();
    }
    return {
      revision: store.revision,
      compactRevision: store.compactRevision,
      keys: store.keys,
      leases: leases.length,
      entries,
      bytes,
    };
  } finally {
    await backend.close();
  }
}
