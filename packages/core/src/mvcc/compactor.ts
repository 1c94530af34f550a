import { type BackendOp, Buckets } from "../backend/backend.js";
import { encodeInt64 } from "../backend/int64-bytes.js";
import { errCompacted, errFutureRev } from "../errors.js";
import type { CommitPipeline } from "./commit-pipeline.js";
import { type Revision, revisionToBytes } from "./revision.js";
import { metaKeys } from "./store-meta.js";
import { checkOpen, type StoreState } from "./store-state.js";

/** Backend deletions per commit while compacting, to bound each transaction. */
const compactBatch = 10_000;

/**
 * Compaction (etcd's kvstore_compaction.go): the index drops what a revision
 * hides at once, then the backend drops those records in batches of 10 000
 * deletions, the last one recording the compaction as finished. Compactions
 * run one after another; `close` waits for the one in progress.
 */
export interface Compactor {
  /** See {@link KvStore.compact}. */
  compact(rev: number): Promise<{ physical: Promise<void> }>;
  /**
   * Redoes a compaction the last run scheduled but did not finish (from
   * {@link restoreIndex}); the store calls it once, when it opens.
   */
  resume(rev: number): void;
  /** Waits for the compaction in progress, ignoring its failure. */
  close(): Promise<void>;
}

/** `onFinished` hears of each compaction whose records are all dropped. */
export function createCompactor(
  state: StoreState,
  pipeline: CommitPipeline,
  onFinished: () => void = () => {},
): Compactor {
  let recovering: Promise<void> = Promise.resolve();

  async function dropRevisions(revs: Revision[], atRev: number): Promise<void> {
    const finished: BackendOp = {
      bucket: Buckets.meta,
      key: metaKeys.finishedCompactRev,
      value: encodeInt64(atRev),
    };
    for (let i = 0; i < revs.length; i += compactBatch) {
      const ops: BackendOp[] = revs.slice(i, i + compactBatch).map((r) => ({
        bucket: Buckets.key,
        key: revisionToBytes(r.main, r.sub),
        value: undefined,
      }));
      if (i + compactBatch >= revs.length) ops.push(finished);
      await pipeline.commit(ops, undefined);
    }
    if (revs.length === 0) await pipeline.commit([finished], undefined);
    onFinished();
  }

  return {
    async compact(rev) {
      checkOpen(state);
      // Reads are served at the durable revision; let it catch up so that a
      // compaction never hides what a reader may still ask for.
      await pipeline.barrier();
      await recovering;
      checkOpen(state);
      if (rev <= state.compactMain) throw errCompacted;
      if (rev > state.current) throw errFutureRev;
      state.compactMain = rev;
      const dropped = state.index.compact(rev);
      await pipeline.commit(
        [{ bucket: Buckets.meta, key: metaKeys.scheduledCompactRev, value: encodeInt64(rev) }],
        undefined,
      );
      const physical = dropRevisions(dropped, rev);
      recovering = physical.catch(() => undefined);
      return { physical };
    },
    resume(rev) {
      recovering = dropRevisions(state.index.compact(rev), rev);
    },
    async close() {
      await recovering.catch(() => undefined);
    },
  };
}
