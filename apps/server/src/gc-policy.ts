import { performance } from "node:perf_hooks";
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { type V8FlagOptions, v8FlagChosen } from "./v8-flag-chosen.js";

/**
 * How far V8's old generation may grow past what survived the last full
 * collection before it collects again, while the server is quiet: 50 means
 * to 1.5 times that.
 *
 * Why: without it V8 picks the factor from how cheap its collections are,
 * up to 4× for a server of Conclave's size, and keeps what it grew into
 * (the memory reducer gives it back only after seconds of quiet). Every
 * request waiting for its commit to be synced lives through young-generation
 * collections and is promoted, so a burst of 10k lease grants left 40–60 MB
 * more old generation (resident) around ~25 MB of live objects.
 */
export const heapGrowingPercent = 50;

/**
 * Event-loop utilization (over one sample) above which the server counts as
 * busy and V8 sizes its heap itself (`--heap-growing-percent=0`).
 *
 * Why: at 1.5× growth a steady Put load ran a full collection about every
 * 300 ms and each one's pause landed in the tail: Put p99 at 100 clients
 * went from ~20–30 ms to ~40–58 ms (BENCHMARKS.md, "The GC policy and the
 * Put tail"). Under load the memory is in use anyway; it is the quiet
 * server that should be small.
 */
export const busyUtilization = 0.3;

/** Utilization below which a sample counts as quiet. */
export const quietUtilization = 0.05;

/** Quiet samples in a row after a busy spell before the heap is compacted. */
export const quietSamples = 2;

/**
 * Growth of V8's committed heap since the last compaction below which going
 * quiet only sets the flag: a full synchronous collection pauses the loop
 * for 10–50 ms, worth it only when it gives memory back (8 MiB).
 */
export const compactAfterGrowthBytes = 8 * 1024 * 1024;

/** How often the event loop's utilization is sampled (ms). */
export const gcSampleMs = 250;

/** Whether V8 sizes the heap for latency (busy) or for memory (quiet). */
export type GcMode = "latency" | "memory";

/** The V8 flag each mode sets: 0 is V8's own sizing. */
const modeFlags: Readonly<Record<GcMode, string>> = {
  latency: "--heap-growing-percent=0",
  memory: `--heap-growing-percent=${heapGrowingPercent}`,
};

export interface GcPolicyState {
  readonly mode: GcMode;
  /** Quiet samples in a row since the last busy one. */
  readonly quiet: number;
}

/**
 * What one utilization sample changes: `"latency"` when the server just got
 * busy (let V8 size the heap), `"compact"` when it has been quiet for
 * {@link quietSamples} samples after being busy (small growth again, and a
 * full collection now, so the memory the busy spell grew into is given back
 * while nobody waits on it).
 */
export function nextGcState(
  state: GcPolicyState,
  utilization: number,
): { state: GcPolicyState; action?: "latency" | "compact" } {
  if (utilization > busyUtilization) {
    if (state.mode === "latency") return { state: { mode: "latency", quiet: 0 } };
    return { state: { mode: "latency", quiet: 0 }, action: "latency" };
  }
  if (state.mode === "memory") return { state };
  if (utilization >= quietUtilization) return { state: { mode: "latency", quiet: 0 } };
  const quiet = state.quiet + 1;
  if (quiet < quietSamples) return { state: { mode: "latency", quiet } };
  return { state: { mode: "memory", quiet: 0 }, action: "compact" };
}

/**
 * Runs a full, synchronous collection.
 *
 * Node has no public call for it without `--expose-gc` on its command line;
 * V8 installs `gc` in contexts made while the flag is set, so the flag is
 * set for the moment it takes to make one and take its function.
 */
export function exposeFullCollection(): () => void {
  setFlagsFromString("--expose-gc");
  try {
    return runInNewContext("gc") as () => void;
  } finally {
    setFlagsFromString("--no-expose-gc");
  }
}

export interface GcPolicyOptions extends V8FlagOptions {
  /** Runs a full collection (default {@link exposeFullCollection}'s). */
  collect?: () => void;
  /**
   * The event loop's utilization since the previous call (default from
   * `performance.eventLoopUtilization()`).
   */
  utilization?: () => number;
  /** V8's committed heap bytes (default `v8.getHeapStatistics().total_heap_size`). */
  heapBytes?: () => number;
  /** Default {@link gcSampleMs}. */
  sampleMs?: number;
}

/**
 * Sizes V8's heap for latency while the server is busy and for memory
 * while it is quiet.
 *
 * V8 reads `--heap-growing-percent` at each full collection, so the flag can
 * follow the load: 0 (V8's own sizing) while the event loop is busy,
 * {@link heapGrowingPercent} once it has been quiet, with one full
 * collection at that moment (if the heap grew by
 * {@link compactAfterGrowthBytes} since the last one) so the old generation
 * shrinks to 1.5× live right away rather than when the memory reducer gets
 * to it.
 */
export interface GcPolicy {
  /**
   * Applies the quiet setting and starts sampling, unless node's command line
   * chose `--heap-growing-percent` (`node --heap-growing-percent=… conclave.mjs`;
   * Node refuses the flag in NODE_OPTIONS), which is then left alone. Returns
   * whether the policy runs.
   */
  start(): boolean;
  /** Stops sampling; the flag keeps its last value. */
  close(): void;
  /** The current mode ("memory" before start). */
  readonly mode: GcMode;
}

export function createGcPolicy(options: GcPolicyOptions = {}): GcPolicy {
  const execArgv = options.execArgv ?? process.execArgv;
  const setFlags = options.setFlags ?? setFlagsFromString;
  const sampleMs = options.sampleMs ?? gcSampleMs;
  let state: GcPolicyState = { mode: "memory", quiet: 0 };
  let timer: NodeJS.Timeout | undefined;

  return {
    get mode() {
      return state.mode;
    },
    start() {
      if (timer !== undefined) return true;
      if (v8FlagChosen(execArgv, "heap-growing-percent")) return false;
      setFlags(modeFlags.memory);
      const collect = options.collect ?? exposeFullCollection();
      const utilization = options.utilization ?? loopUtilization();
      const heapBytes = options.heapBytes ?? (() => getHeapStatistics().total_heap_size);
      let compactedAt = heapBytes();
      timer = setInterval(() => {
        const next = nextGcState(state, utilization());
        state = next.state;
        if (next.action === "latency") setFlags(modeFlags.latency);
        if (next.action === "compact") {
          setFlags(modeFlags.memory);
          if (heapBytes() - compactedAt >= compactAfterGrowthBytes) {
            collect();
            compactedAt = heapBytes();
          }
        }
      }, sampleMs);
      timer.unref();
      return true;
    },
    close() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}

/** The event loop's utilization since the previous call. */
function loopUtilization(): () => number {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return u;
  };
}
