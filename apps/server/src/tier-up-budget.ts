import { setFlagsFromString } from "node:v8";
import { v8FlagChosen } from "./v8-flag-chosen.js";

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

export interface TierUpBudgetOptions {
  /** Node's own flags (default `process.execArgv`): an operator's choice wins. */
  execArgv?: readonly string[];
  /** Sets V8 flags (default `v8.setFlagsFromString`). */
  setFlags?: (flags: string) => void;
}

/**
 * Sets {@link tierUpInterruptBudget} unless node's command line chose an
 * `--interrupt-budget` (`node --interrupt-budget=… conclave.mjs`). Returns
 * whether it set it. Call before serving: functions get their budget when
 * they first run.
 */
export function applyTierUpBudget(options: TierUpBudgetOptions = {}): boolean {
  const execArgv = options.execArgv ?? process.execArgv;
  if (v8FlagChosen(execArgv, "interrupt-budget")) return false;
  (options.setFlags ?? setFlagsFromString)(`--interrupt-budget=${tierUpInterruptBudget}`);
  return true;
}
