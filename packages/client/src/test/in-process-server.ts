// Test support (Node only; excluded from the browser-safe typecheck): a
// Conclave server in this process, reached through a router transport whose
// "network" the test can break and restore.
import {
  closeServerContext,
  createLeaderElectionExpiry,
  createLocalClient,
  createRoutes,
  errorInterceptor,
  openServerContext,
  type ServerContext,
} from "@conclave/server";
import {
  Code,
  ConnectError,
  createRouterTransport,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";

export interface InProcessServer {
  ctx: ServerContext;
  /** Through the breakable "network". */
  transport: Transport;
  /** Straight to the server, never broken: for a writer while the watcher's network is down. */
  direct: Transport;
  /** Breaks every open stream now (Unavailable), as a dropped connection would. */
  disconnect(): void;
  /** While down, every call fails with Unavailable at once; setting it also breaks open streams. */
  setDown(down: boolean): void;
  /** Calls and streams opened so far (reconnects count). */
  readonly opened: { streams: number; unary: number };
  close(): Promise<void>;
}

const lost = () => new ConnectError("connection lost (test)", Code.Unavailable);

export async function startInProcessServer(): Promise<InProcessServer> {
  const ctx = await openServerContext({ dataDir: ":memory:" });
  const electionExpiry = createLeaderElectionExpiry(ctx, createLocalClient(ctx));
  electionExpiry.start();
  const breakers = new Set<(e: unknown) => void>();
  let down = false;
  const opened = { streams: 0, unary: 0 };
  const disconnect = () => {
    for (const b of [...breakers]) b(lost());
  };

  const network: Interceptor = (next) => async (req) => {
    if (down) throw lost();
    const res = await next(req);
    if (!res.stream) {
      opened.unary++;
      return res;
    }
    opened.streams++;
    const inner = res.message;
    async function* wrapped() {
      const it = inner[Symbol.asyncIterator]();
      let fail: (e: unknown) => void = () => {};
      const broken = new Promise<never>((_, reject) => {
        fail = reject;
      });
      broken.catch(() => undefined);
      breakers.add(fail);
      try {
        for (;;) {
          const r = await Promise.race([it.next(), broken]);
          if (r.done) return;
          yield r.value;
        }
      } finally {
        breakers.delete(fail);
      }
    }
    return { ...res, message: wrapped() };
  };

  // The hub's catch-up timer is unref'd (a real server has sockets keeping
  // the process up): keep the test process alive while the server runs.
  const keepAlive = setInterval(() => {}, 1000);
  const transport = createRouterTransport(createRoutes(ctx), {
    transport: { interceptors: [network] },
    router: { interceptors: [errorInterceptor] },
  });
  const direct = createRouterTransport(createRoutes(ctx), {
    router: { interceptors: [errorInterceptor] },
  });
  return {
    ctx,
    transport,
    direct,
    disconnect,
    setDown(d) {
      down = d;
      if (d) disconnect();
    },
    opened,
    async close() {
      clearInterval(keepAlive);
      disconnect();
      await electionExpiry.close();
      await closeServerContext(ctx);
    },
  };
}

/** Collects up to `n` items of an async iterable, failing after `timeoutMs`. */
export async function take<T>(it: AsyncIterator<T>, n: number, timeoutMs = 5000): Promise<T[]> {
  const out: T[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < n) {
    const left = deadline - Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([
      it.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out after ${out.length} of ${n} items`)),
          Math.max(left, 0),
        );
      }),
    ]).finally(() => clearTimeout(timer));
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

export const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));
