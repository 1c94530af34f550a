import type { Server } from "node:net";

/**
 * A signal that aborts once `server` stops listening after having listened:
 * the first step of a graceful close. Long-lived responses (a gateway watch
 * never ends on its own) use it to end themselves, so the close does not
 * wait out its whole grace period for them.
 *
 * Node has no event for that moment — `close` is emitted only after every
 * connection ended — so `listening` is polled, on an unref'd timer that
 * does not keep the process alive.
 */
export function serverClosingSignal(server: Server, intervalMs = 200): AbortSignal {
  const controller = new AbortController();
  const poll = () => {
    const timer = setInterval(() => {
      if (server.listening) return;
      clearInterval(timer);
      controller.abort();
    }, intervalMs);
    timer.unref();
  };
  if (server.listening) poll();
  else server.once("listening", poll);
  return controller.signal;
}
