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
  return new LocalAsyncQueue<T>();
}

/**
 * A class rather than an object literal with getters over closures: one is
 * made per watch stream (and per in-process watch of a lock hand-over), and
 * a literal's getters are held from the old generation, which keeps the
 * state they close over alive through young collections (BENCHMARKS.md,
 * "Requests that outlived their answers").
 */
class LocalAsyncQueue<T> implements AsyncQueue<T> {
  private items: T[] = [];
  private sizes: number[] = [];
  private head = 0;
  private queuedBytes = 0;
  private done = false;
  private error: unknown = undefined;
  private wake: (() => void) | undefined = undefined;

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  push(item: T, size = 0): void {
    if (this.done) return;
    this.items.push(item);
    this.sizes.push(size);
    this.queuedBytes += size;
    this.notify();
  }

  close(): void {
    this.done = true;
    this.notify();
  }

  fail(err: unknown): void {
    if (this.done) return;
    this.error = err;
    this.done = true;
    this.notify();
  }

  discard(): void {
    this.items = [];
    this.sizes = [];
    this.head = 0;
    this.queuedBytes = 0;
    this.done = true;
    this.notify();
  }

  get length(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.queuedBytes;
  }

  get closed(): boolean {
    return this.done;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const { items, sizes } = this;
      if (this.head < items.length) {
        const item = items[this.head] as T;
        this.queuedBytes -= sizes[this.head] ?? 0;
        items[this.head] = undefined as T;
        this.head++;
        if (this.head === items.length) {
          // Drained: an idle stream keeps no array of spent slots.
          items.length = 0;
          sizes.length = 0;
          this.head = 0;
        } else if (this.head > 1024 && this.head * 2 > items.length) {
          items.splice(0, this.head);
          sizes.splice(0, this.head);
          this.head = 0;
        }
        yield item;
        continue;
      }
      if (this.done) {
        if (this.error !== undefined) throw this.error;
        return;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}
