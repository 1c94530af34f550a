import { setFlagsFromString } from "node:v8";

/**
 * How far V8's old generation may grow past what survived the last full
 * collection before it collects again: 50 means to 1.5 times that.
 *
 * Why: without it V8 picks the factor from how cheap its collections are,
 * up to 4× for a server of Conclave's size, and keeps what it grew into
 * (the memory reducer gives it back only after seconds of quiet). Every
 * request waiting for its commit to be synced lives through young-generation
 * collections and is promoted, so a burst of 10k lease grants left ~60 MB
 * of old generation (resident) around ~25 MB of live objects. At 1.5× the
 * same burst leaves ~35 MB, for a few more full collections of a small heap
 * (BENCHMARKS.md, "Memory and restart").
 */
export const heapGrowingPercent = 50;

/**
 * Applies {@link heapGrowingPercent} unless the operator chose a value
 * (`node --heap-growing-percent=…` or NODE_OPTIONS). V8 reads the flag at
 * each full collection, so setting it once the process runs takes effect
 * from the next one.
 */
export function applyGcPolicy(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
): boolean {
  const chosen = [...execArgv, ...(nodeOptions ?? "").split(/\s+/)].some((a) =>
    /^--heap[-_]growing[-_]percent\b/.test(a),
  );
  if (chosen) return false;
  setFlagsFromString(`--heap-growing-percent=${heapGrowingPercent}`);
  return true;
}
