/**
 * An unbounded FIFO that one producer side pushes into and one consumer
 * iterates with `for await`. Bounding is the producer's job: it reads
 * `length` and `bytes` (the watch streams turn a long queue into "this
 * watcher fell behind" rather than growing it).
 */
export interface AsyncQueue<T> extends AsyncIterable<T> {
  /** Queues `item`; `bytes` is what the producer counts it as (default 0). */
  push(item: T, bytes?: number): void;
  /** Ends iteration after the queued items. */
  close(): void;
  /** Ends iteration with an error after the queued items. */
  fail(err: unknown): void;
  /**
   * Drops every queued item and ends iteration: for a consumer that went
   * away. A consumer paused at its `yield` may never resume, so what it
   * would have read must not stay reachable through the queue.
   */
  discard(): void;
  readonly length: number;
  /** The sum of the `bytes` of the queued items. */
  readonly bytes: number;
  readonly closed: boolean;
}

export function createAsyncQueue<T>(): AsyncQueue<T> {
  let items: T[] = [];
  let sizes: number[] = [];
  let head = 0;
  let bytes = 0;
  let done = false;
  let error: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  return {
    push(item, size = 0) {
      if (done) return;
      items.push(item);
      sizes.push(size);
      bytes += size;
      notify();
    },
    close() {
      done = true;
      notify();
    },
    fail(err) {
      if (done) return;
      error = err;
      done = true;
      notify();
    },
    discard() {
      items = [];
      sizes = [];
      head = 0;
      bytes = 0;
      done = true;
      notify();
    },
    get length() {
      return items.length - head;
    },
    get bytes() {
      return bytes;
    },
    get closed() {
      return done;
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        if (head < items.length) {
          const item = items[head] as T;
          bytes -= sizes[head] ?? 0;
          items[head] = undefined as T;
          head++;
          if (head === items.length) {
            // Drained: an idle stream keeps no array of spent slots.
            items.length = 0;
            sizes.length = 0;
            head = 0;
          } else if (head > 1024 && head * 2 > items.length) {
            items.splice(0, head);
            sizes.splice(0, head);
            head = 0;
          }
          yield item;
          continue;
        }
        if (done) {
          if (error !== undefined) throw error;
          return;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
  };
}
