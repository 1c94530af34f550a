import { setV8FlagUnlessChosen, type V8FlagOptions } from "./v8-flag-chosen.js";

/**
 * V8's interrupt budget for the server: the bytecode a function runs between
 * V8's checks of whether to optimize it. A quarter of V8's default (67,584),
 * so a hot path reaches optimized code after about a quarter of the calls.
 *
 * Why: a fresh server ran its request paths unoptimized for thousands of
 * requests, and the tail of that showed in every run that starts a server
 * (each benchmark, each restart). Go clientv3's lock hand-over, 1,500
 * acquisitions after 500 on a fresh server, three alternated pairs: mean
 * from the Unlock sent 1.69/1.69/1.59 → 1.25/1.21/1.35 ms, server CPU per
 * acquisition 1.64/1.67/1.54 → 1.13/1.04/1.19 ms (BENCHMARKS.md, "The
 * tier-up budget"). Steady-state code is the same code, so a warm server
 * does not change.
 */
export const tierUpInterruptBudget = 16_384;

/**
 * Sets {@link tierUpInterruptBudget} unless node's command line chose an
 * `--interrupt-budget` (`node --interrupt-budget=… conclave.mjs`). Returns
 * whether it set it. Call before serving: functions get their budget when
 * they first run.
 */
export function applyTierUpBudget(options: V8FlagOptions = {}): boolean {
  return setV8FlagUnlessChosen(
    "interrupt-budget",
    `--interrupt-budget=${tierUpInterruptBudget}`,
    options,
  );
}
