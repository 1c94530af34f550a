import { errCompacted } from "../errors.js";

/**
 * etcd's `--auto-compaction-mode`: `periodic` keeps the history of a time
 * window, `revision` the last N revisions.
 */
export type AutoCompactionMode = "periodic" | "revision";

export interface AutoCompactorOptions {
  mode: AutoCompactionMode;
  /**
   * What to keep: for `periodic` the window in ms, for `revision` a number of
   * revisions. Must be positive (etcd's retention 0 turns compaction off:
   * create no compactor then).
   */
  retention: number;
  /** The current revision (etcd's RevGetter). */
  currentRev(): number;
  /** Compacts history below `rev`; rejects with errCompacted when already compacted that far. */
  compact(rev: number): Promise<void>;
  /** Told about each compaction, before and after, for the log. */
  onCompact?(
    event:
      | { phase: "start" | "done"; rev: number }
      | { phase: "failed"; rev: number; err: unknown },
  ): void;
  /** How often revision mode checks, in ms. Default 5 minutes, as etcd 3.4. */
  revisionCheckMs?: number;
}

/** Background compaction of old history. Nothing runs until `start()`. */
export interface AutoCompactor {
  start(): void;
  /** Stops the timer; a compaction in flight finishes on its own. */
  close(): void;
}

const hourMs = 60 * 60 * 1000;

/**
 * etcd 3.4's compactors, same schedule:
 *
 * - periodic (retention R): samples the revision every min(R, 1h)/10 and
 *   keeps the samples of the last R; every min(R, 1h) it compacts to the
 *   sample taken R ago — so history never holds much more than R, and a
 *   window of hours is compacted hourly, a window of minutes every R.
 * - revision (retention N): every 5 minutes compacts to current − N, when
 *   that moved since the last time.
 */
export function createAutoCompactor(options: AutoCompactorOptions): AutoCompactor {
  const { mode, retention } = options;
  if (!(retention > 0)) throw new RangeError("auto-compaction retention must be positive");
  let timer: ReturnType<typeof setInterval> | undefined;
  let running = false;

  async function compact(rev: number) {
    if (running) return;
    running = true;
    options.onCompact?.({ phase: "start", rev });
    try {
      await options.compact(rev);
      options.onCompact?.({ phase: "done", rev });
    } catch (err) {
      // Someone compacted further meanwhile: nothing to do.
      if (err !== errCompacted) options.onCompact?.({ phase: "failed", rev, err });
    } finally {
      running = false;
    }
  }

  function periodic(): () => void {
    const interval = Math.min(retention, hourMs);
    const sampleEvery = interval / 10;
    // Samples covering the window: samples[0] is the revision R ago.
    const keep = Math.floor(retention / sampleEvery) + 1;
    const samples: number[] = [];
    let sinceCompaction = 0;
    return () => {
      samples.push(options.currentRev());
      if (samples.length > keep) samples.shift();
      sinceCompaction += sampleEvery;
      if (samples.length < keep || sinceCompaction < interval) return;
      sinceCompaction = 0;
      const rev = samples[0] ?? 0;
      if (rev > 0) void compact(rev);
    };
  }

  function byRevision(): () => void {
    let last = 0;
    return () => {
      const rev = options.currentRev() - retention;
      if (rev <= 0 || rev === last) return;
      last = rev;
      void compact(rev);
    };
  }

  return {
    start() {
      if (timer !== undefined) return;
      const [tick, every] =
        mode === "periodic"
          ? [periodic(), Math.min(retention, hourMs) / 10]
          : [byRevision(), options.revisionCheckMs ?? 5 * 60 * 1000];
      timer = setInterval(tick, every);
      timer.unref();
    },
    close() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
