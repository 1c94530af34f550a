import { setFlagsFromString } from "node:v8";

/**
 * How far V8's old generation may grow past what survived the last full
 * collection before it collects again: 50 means to 1.5 times that.
 *
 * Why: without it V8 picks the factor from how cheap its collections are,
 * up to 4× for a server of Conclave's size, and keeps what it grew into
 * (the memory reducer gives it back only after seconds of quiet). Every
 * request waiting for its commit to be synced lives through young-generation
 * collections and is promoted, so a burst of 10k lease grants left 40–60 MB
 * more old generation (resident) around ~25 MB of live objects. At 1.5× the
 * same burst leaves a few MB, for more full collections of a small heap:
 * ~10% more server CPU for a bulk load, ~3% for lease grants (BENCHMARKS.md,
 * "Memory and restart").
 */
export const heapGrowingPercent = 50;

/**
 * Applies {@link heapGrowingPercent} unless the operator chose a value on
 * node's command line (`node --heap-growing-percent=… conclave.mjs`; 0 is
 * V8's own sizing; Node refuses the flag in NODE_OPTIONS). V8 reads it at
 * each full collection, so setting it once the process runs takes effect
 * from the next one. Returns whether it applied it.
 */
export function applyGcPolicy(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => /^--heap[-_]growing[-_]percent\b/.test(a))) return false;
  setFlagsFromString(`--heap-growing-percent=${heapGrowingPercent}`);
  return true;
}
