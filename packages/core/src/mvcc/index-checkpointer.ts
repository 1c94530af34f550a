import type { CommitPipeline } from "./commit-pipeline.js";
import { encodeIndexCheckpoint } from "./index-checkpoint.js";
import type { RestoredRevisions } from "./restore-index.js";
import type { StoreState } from "./store-state.js";

/**
 * When the store writes its index checkpoint (index-checkpoint.ts), which
 * lets the next start skip reading the records it covers:
 *
 * - once the records written since the last one reach {@link
 *   IndexCheckpointOptions.minRecords} and an eighth of the keys the index
 *   holds, so a kill -9 leaves at most that many to replay, and encoding
 *   (one pass over the index) costs a bounded amount per record written;
 * - after a compaction finished (a checkpoint from before it no longer fits);
 * - after a start that read that many records (without one, or after it);
 * - at close, when anything changed since the last one.
 *
 * A checkpoint is encoded from the index at once (synchronously, so it is
 * the index of one revision), then committed only after every commit issued
 * before it succeeded: it never describes a write the backend lacks. It goes
 * to the backend directly, not through the store's pipeline, so a failure to
 * write one does not stop the store; the next one tries again.
 */
export interface IndexCheckpointer {
  /** Counts the records a write added; starts a checkpoint when enough piled up. */
  wrote(records: number): void;
  /** Asks for a checkpoint soon whatever the count (after a compaction). */
  request(): void;
  /** Waits for the checkpoint in flight, then writes a last one if anything changed since. */
  close(): Promise<void>;
}

export interface IndexCheckpointOptions {
  /**
   * Whether to write checkpoints at all. Default: unless the backend is the
   * in-memory one, which no start ever reads again (a replica's local copy).
   */
  enabled?: boolean;
  /** Records written before a checkpoint is due, at the least. Default 10 000. */
  minRecords?: number;
}

/** Default of {@link IndexCheckpointOptions.minRecords}. */
export const defaultCheckpointMinRecords = 10_000;
/** A checkpoint is also not due before the records written reach the keys held divided by this. */
const keysPerDueRecord = 8;

export function createIndexCheckpointer(
  state: StoreState,
  pipeline: CommitPipeline,
  restored: RestoredRevisions,
  options: IndexCheckpointOptions = {},
): IndexCheckpointer {
  const minRecords = options.minRecords ?? defaultCheckpointMinRecords;
  if (!(options.enabled ?? state.backend.kind !== "memory")) {
    return { wrote() {}, request() {}, close: async () => {} };
  }
  /** Chunk entries the stored checkpoint occupies. */
  let chunks = restored.checkpointChunks;
  /** Records the stored checkpoint lacks. */
  let since = restored.recordsRead;
  /** Whether the stored checkpoint no longer fits (none, or a compaction since). */
  let stale = !restored.fromCheckpoint || restored.unfinishedCompaction !== undefined;
  let inFlight: Promise<void> | undefined;
  let scheduled = false;
  /** A checkpoint was asked for (after a compaction) and not yet started. */
  let requested = false;

  const due = () => since >= Math.max(minRecords, state.index.size / keysPerDueRecord);

  function start(): void {
    if (inFlight !== undefined || state.failure !== undefined) return;
    const { ops, chunks: written } = encodeIndexCheckpoint(
      state.index,
      state.leases === undefined ? undefined : (k) => state.leases?.leaseOf(k) ?? 0n,
      state.current,
      state.compactMain,
      chunks,
    );
    const lacking = since;
    since = 0;
    stale = false;
    requested = false;
    inFlight = pipeline
      .barrier()
      .then(() => state.backend.commit(ops))
      .then(
        () => {
          chunks = written;
        },
        () => {
          // Not written (or a write it covers failed): what it covered is owed again.
          since += lacking;
          stale = true;
        },
      )
      .finally(() => {
        inFlight = undefined;
        // Asked for while this one was on its way (it may predate the compaction).
        if (requested) soon();
      });
  }

  function soon(): void {
    if (scheduled) return;
    scheduled = true;
    // After the current request is answered, not inside it.
    setImmediate(() => {
      scheduled = false;
      if (!state.closed) start();
    });
  }

  if (due()) soon();

  return {
    wrote(records) {
      since += records;
      if (inFlight === undefined && due()) soon();
    },
    request() {
      stale = true;
      requested = true;
      soon();
    },
    async close() {
      await inFlight;
      if (since > 0 || stale) {
        start();
        await inFlight;
      }
    },
  };
}
