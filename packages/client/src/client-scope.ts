import { ClientClosedError } from "./client-closed-error.js";
import { type LinkedAbortController, linkedAbortController } from "./linked-abort-controller.js";

/**
 * What a client's `close()` reaches: every lease renewal, stream and waiting
 * call it started. Each gets a child controller kept in one set — not an
 * `abort` listener on a shared signal, which would collect one listener per
 * lease or watch and make Node print `MaxListenersExceededWarning` past 10.
 */
export interface ClientScope {
  /** True once `close()` was called. */
  readonly closed: boolean;
  /**
   * A controller aborted by `close()` (reason: a {@link ClientClosedError})
   * or by `parent` (its reason). `unlink()` forgets it: call it when the
   * work it guards is over, or it stays in the set until `close()`.
   */
  link(parent?: AbortSignal): LinkedAbortController;
  /** Aborts every linked controller; later links start aborted. */
  close(): void;
}

/** Creates the scope one client's `close()` ends. */
export function createClientScope(): ClientScope {
  const open = new Set<LinkedAbortController>();
  let closed = false;
  return {
    get closed() {
      return closed;
    },
    link(parent) {
      const child = linkedAbortController(parent);
      if (closed) {
        child.controller.abort(new ClientClosedError());
        return child;
      }
      const linked: LinkedAbortController = {
        controller: child.controller,
        signal: child.signal,
        unlink() {
          open.delete(linked);
          child.unlink();
        },
      };
      open.add(linked);
      child.signal.addEventListener("abort", linked.unlink, { once: true });
      return linked;
    },
    close() {
      if (closed) return;
      closed = true;
      const reason = new ClientClosedError();
      for (const child of [...open]) child.controller.abort(reason);
      open.clear();
    },
  };
}
