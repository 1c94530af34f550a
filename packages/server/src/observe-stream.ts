/**
 * What a layer wants to learn of a response stream as it is read: that it
 * ended, or how it failed (and what to fail with instead).
 */
export interface StreamObserver {
  /** The stream ended normally (its consumer read it to the end). */
  done?(): void;
  /** The stream failed with `error`; returns the error the consumer sees. */
  error?(error: unknown): unknown;
}

/**
 * `inner`, read through `observer`: each `next()` is the inner iterator's,
 * with the end and a failure reported on the way. `return()` and `throw()`
 * go straight to the inner iterator (so a handler's `finally` runs when the
 * consumer stops early), and neither reports anything.
 *
 * Why not an async generator with `yield*` in a try block, as the layers
 * had: each message then took a generator resumption and several promise
 * turns per layer, and a watch fan-out sends one message per watcher.
 */
export function observeStream<T>(
  inner: AsyncIterable<T>,
  observer: StreamObserver,
): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = inner[Symbol.asyncIterator]();
      return {
        next: () =>
          it.next().then(
            (r) => {
              if (r.done === true) observer.done?.();
              return r;
            },
            (e: unknown) => {
              throw observer.error === undefined ? e : observer.error(e);
            },
          ),
        return: (value?: unknown) =>
          it.return === undefined
            ? Promise.resolve({ done: true as const, value: value as T })
            : it.return(value as never),
        throw: (e?: unknown) => (it.throw === undefined ? Promise.reject(e) : it.throw(e)),
      };
    },
  };
}
