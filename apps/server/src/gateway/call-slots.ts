/**
 * At most `limit` calls at once; the others wait in order. Models the one
 * HTTP/2 connection behind etcd's JSON gateway: it is a gRPC client of its
 * own server, so `--max-concurrent-streams` caps all gateway calls
 * together, and a call over the limit waits for a stream (grpc-go blocks on
 * stream quota) until one ends or its caller goes away.
 */
export interface CallSlots {
  /** False when there is no limit: {@link acquire} never waits, so callers may skip it. */
  readonly limited: boolean;
  /**
   * Resolves with a release function once a slot is free; rejects with the
   * signal's reason if it aborts first (the waiter leaves the queue).
   */
  acquire(signal: AbortSignal): Promise<() => void>;
}

/** {@link CallSlots} for `limit` calls; no limit (and no cost) when `limit` is not finite or ≥ 2^31. */
export function createCallSlots(limit: number): CallSlots {
  if (!Number.isFinite(limit) || limit >= 2 ** 31) {
    const none = () => {};
    return { limited: false, acquire: async () => none };
  }
  let inUse = 0;
  const waiting: (() => void)[] = [];
  const releaser = () => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = waiting.shift();
      if (next !== undefined) next();
      else inUse--;
    };
  };
  return {
    limited: true,
    acquire(signal) {
      if (signal.aborted) return Promise.reject(signal.reason);
      if (inUse < limit) {
        inUse++;
        return Promise.resolve(releaser());
      }
      return new Promise((resolve, reject) => {
        const grant = () => {
          signal.removeEventListener("abort", onAbort);
          resolve(releaser());
        };
        const onAbort = () => {
          const i = waiting.indexOf(grant);
          if (i >= 0) waiting.splice(i, 1);
          reject(signal.reason);
        };
        waiting.push(grant);
        signal.addEventListener("abort", onAbort, { once: true });
      });
    },
  };
}
