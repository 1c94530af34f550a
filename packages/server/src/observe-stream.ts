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

/**
 * `res` with its message stream read through `observer`: what a layer
 * returns for a streaming response. It is `res` itself, its `message`
 * replaced — a response object belongs to its one call.
 *
 * Why not `{ ...res, message }`: a spread reads every property, and the
 * direct gRPC paths give responses headers and trailers that are made only
 * when first read (direct-call.ts) — the spread built two Fetch Headers per
 * stream that nobody then looked at. Copying the property descriptors
 * instead keeps the getters unread but cost more than the Headers did (a
 * dictionary-mode object per layer per stream). A response whose `message`
 * cannot be written is copied with a spread.
 */
export function observeResponse<R extends { readonly message: AsyncIterable<unknown> }>(
  res: R,
  observer: StreamObserver,
): R {
  const message = observeStream(res.message, observer);
  const own = Object.getOwnPropertyDescriptor(res, "message");
  if (own?.writable !== true) return { ...res, message };
  (res as { message: AsyncIterable<unknown> }).message = message;
  return res;
}
