import type * as net from "node:net";

/**
 * Every socket a one-port server accepted, until it closes, and which of them
 * have not chosen a protocol yet; the base of the graceful close.
 */
export interface ConnectionTracker {
  /** True once {@link ConnectionTracker.startClosing} was called. */
  readonly closing: boolean;
  /** Every accepted socket (for TLS, the plaintext socket under it). */
  readonly sockets: ReadonlySet<net.Socket>;
  /** Sockets still being sniffed or in their TLS handshake; removed when they choose. */
  readonly pending: Set<net.Socket>;
  /**
   * Tracks `socket` until it closes and keeps a reporting `error` listener on
   * it for good, so no socket error becomes an uncaught exception, whatever
   * the protocol servers do.
   */
  track(socket: net.Socket): void;
  /** Marks the server closing; resolves once every tracked socket has closed. */
  startClosing(): Promise<void>;
}

export function createConnectionTracker(reportError: (error: Error) => void): ConnectionTracker {
  const sockets = new Set<net.Socket>();
  const pending = new Set<net.Socket>();
  let closing = false;
  let onDrained: (() => void) | undefined;
  return {
    get closing() {
      return closing;
    },
    sockets,
    pending,
    track(socket) {
      sockets.add(socket);
      socket.on("error", reportError);
      socket.once("close", () => {
        sockets.delete(socket);
        pending.delete(socket);
        if (closing && sockets.size === 0) onDrained?.();
      });
    },
    startClosing() {
      closing = true;
      return new Promise<void>((resolve) => {
        onDrained = resolve;
        if (sockets.size === 0) resolve();
      });
    },
  };
}
