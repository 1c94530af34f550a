/** How long to wait between reconnect attempts. */
export interface BackoffOptions {
  /** Delay before the first retry, in ms. Default 200. */
  initialMs?: number;
  /** The cap: no delay is longer than this, in ms. Default 15 000. */
  maxMs?: number;
  /** Growth factor from one attempt to the next. Default 2. */
  multiplier?: number;
}

/**
 * Exponential backoff with jitter, for reconnecting long streams.
 *
 * The n-th consecutive failure (from 0) waits a random time in
 * [d/2, d] with d = min(maxMs, initialMs · multiplier^n): the random half
 * spreads out clients that lost the same server at once (they would
 * otherwise all come back in the same millisecond), the fixed half keeps a
 * client from retrying in a tight loop. `reset()` after a connection worked.
 */
export interface Backoff {
  /** The delay before the next attempt, in ms; grows with each call. */
  next(): number;
  /** Back to the initial delay (call once a connection delivered something). */
  reset(): void;
  /** Consecutive failures since the last reset. */
  readonly attempts: number;
}

/**
 * Exponential backoff with jitter: each delay a random point in the upper
 * half of its step. Defaults: 200 ms doubling to 15 s.
 *
 * @example
 * ```ts
 * const backoff = createBackoff({ initialMs: 100, maxMs: 5_000 });
 * await sleep(backoff.next()); // 50–100 ms, then 100–200 ms, …
 * ```
 */
export function createBackoff(
  options: BackoffOptions = {},
  random: () => number = Math.random,
): Backoff {
  const initialMs = options.initialMs ?? 200;
  const maxMs = options.maxMs ?? 15_000;
  const multiplier = options.multiplier ?? 2;
  let attempts = 0;
  const backoff: Backoff = {
    next() {
      const ceiling = Math.min(maxMs, initialMs * multiplier ** attempts);
      attempts++;
      return ceiling / 2 + random() * (ceiling / 2);
    },
    reset() {
      attempts = 0;
    },
    get attempts() {
      return attempts;
    },
  };
  return backoff;
}
