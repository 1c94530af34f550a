/**
 * An unbounded FIFO that one producer side pushes into and one consumer
 * iterates with `for await`. Bounding is the producer's job: it reads
 * `length` (the watch stream turns a long queue into "this watcher fell
 * behind" rather than growing it).
 */
export interface AsyncQueue<T> extends AsyncIterable<T> {
  push(item: T): void;
  /** Ends iteration after the queued items. */
  close(): void;
  /** Ends iteration with an error after the queued items. */
  fail(err: unknown): void;
  readonly length: number;
  readonly closed: boolean;
}

export function createAsyncQueue<T>(): AsyncQueue<T> {
  const items: T[] = [];
  let head = 0;
  let done = false;
  let error: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  return {
    push(item) {
      if (done) return;
      items.push(item);
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
    get length() {
      return items.length - head;
    },
    get closed() {
      return done;
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        if (head < items.length) {
          const item = items[head] as T;
          items[head] = undefined as T;
          head++;
          if (head > 1024 && head * 2 > items.length) {
            items.splice(0, head);
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
