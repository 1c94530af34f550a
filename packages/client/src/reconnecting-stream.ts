import { Code, ConnectError } from "@connectrpc/connect";
import { type BackoffOptions, createBackoff } from "./backoff.js";
import { linkedAbortController } from "./linked-abort-controller.js";
import { sleep } from "./sleep.js";

/** Options every long-lived stream of the client takes. */
export interface StreamOptions {
  /** Ends the stream (like `close()`) when it aborts. */
  signal?: AbortSignal;
  /** Delays between reconnect attempts. Default: see {@link createBackoff} (200 ms doubling to 15 s, jittered). */
  backoff?: BackoffOptions;
  /**
   * Told each time the connection was lost and will be retried, with the
   * error and the delay before the next attempt. For "reconnecting…" UIs and
   * logs; the stream itself carries on.
   */
  onDisconnect?: (error: ConnectError, retryInMs: number) => void;
  /** Told each time a connection (the first one or a reconnect) is established. */
  onConnect?: () => void;
}

/**
 * A stream that survives disconnects: iterate it once with `for await`;
 * `close()` (or the `signal` option) ends the iteration without an error.
 * It fails only on errors that retrying cannot fix (see {@link isRetryable}).
 */
export interface ReconnectingStream<T> extends AsyncIterable<T> {
  close(): void;
}

/**
 * Status codes that mean the request itself is wrong, so the same request
 * would fail again. Everything else (Unavailable, Unknown network errors,
 * Canceled by a proxy, Internal, DeadlineExceeded, ResourceExhausted…) is
 * retried.
 */
const permanentCodes: ReadonlySet<Code> = new Set([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.FailedPrecondition,
  Code.OutOfRange,
  Code.Unimplemented,
  Code.Unauthenticated,
]);

/**
 * Whether a failed stream should be reopened.
 *
 * @example
 * ```ts
 * isRetryable(new ConnectError("down", Code.Unavailable)); // true
 * ```
 */
export function isRetryable(error: ConnectError): boolean {
  return !permanentCodes.has(error.code);
}

/**
 * Runs `connect` again after each retryable failure, with exponential
 * backoff and jitter between attempts. `connect` owns the resume logic: it
 * keeps its position in its closure and opens each new connection from
 * there. Its iterable ending normally ends the stream; to have it reopened,
 * it throws (e.g. Unavailable "stream ended"). A connection counts as
 * established (backoff starts over, `onConnect`) when `connect` calls
 * `connected()` — e.g. on a watch's "created" message, which is not an item
 * — or yields its first item.
 *
 * Each attempt gets its own abort signal, aborted when the attempt ends for
 * any reason: a consumer that stops early (`break`) also releases the HTTP
 * request, which returning the response iterator alone does not do on every
 * transport.
 *
 * @example
 * ```ts
 * const stream = createReconnectingStream((signal) => services.election.observe({ name }, { signal }));
 * for await (const r of stream) console.log(r.kv);
 * ```
 */
export function createReconnectingStream<T>(
  connect: (signal: AbortSignal, connected: () => void) => AsyncIterable<T>,
  options: StreamOptions = {},
): ReconnectingStream<T> {
  const closer = linkedAbortController(options.signal);
  const backoff = createBackoff(options.backoff);

  async function* run(): AsyncGenerator<T> {
    try {
      while (!closer.signal.aborted) {
        const attempt = linkedAbortController(closer.signal);
        let established = false;
        const connected = () => {
          if (established) return;
          established = true;
          backoff.reset();
          options.onConnect?.();
        };
        try {
          for await (const item of connect(attempt.signal, connected)) {
            connected();
            yield item;
          }
          return;
        } catch (err) {
          if (closer.signal.aborted) return;
          const error = ConnectError.from(err);
          if (!isRetryable(error)) throw error;
          const delay = backoff.next();
          options.onDisconnect?.(error, delay);
          try {
            await sleep(delay, closer.signal);
          } catch {
            return; // closed while waiting
          }
        } finally {
          attempt.controller.abort();
          attempt.unlink();
        }
      }
    } finally {
      closer.unlink();
    }
  }

  let iterator: AsyncGenerator<T> | undefined;
  return {
    [Symbol.asyncIterator]() {
      iterator ??= run();
      return iterator;
    },
    close() {
      closer.controller.abort();
    },
  };
}
