import type { BackendOp } from "../backend/backend.js";
import type { CommittedWrite } from "./kv-store.js";
import type { StoreState } from "./store-state.js";

/**
 * Hands writes to the backend in order and tracks what is durable: once a
 * commit and every earlier one are done, the durable revision moves up, the
 * write's pending records are dropped (the backend serves them now) and
 * listeners hear about it, in revision order. The first failure is kept in
 * the state and stops further writes.
 */
export interface CommitPipeline {
  /** Commits `ops`; `write` (undefined for bookkeeping commits) becomes durable with it. */
  commit(ops: BackendOp[], write: CommittedWrite | undefined): Promise<void>;
  /** Resolves once everything committed so far is durable. */
  barrier(): Promise<void>;
  /** Subscribes to durable writes. Returns unsubscribe. */
  onCommitted(listener: (write: CommittedWrite) => void): () => void;
}

export function createCommitPipeline(state: StoreState): CommitPipeline {
  const listeners = new Set<(w: CommittedWrite) => void>();
  let lastCommit: Promise<void> = Promise.resolve();

  function settle(write: CommittedWrite) {
    state.durable = Math.max(state.durable, write.rev);
    state.pending.deleteWrite(write.rev);
    for (const l of listeners) {
      try {
        l(write);
      } catch {
        // A listener's failure must not break durability tracking.
      }
    }
  }

  return {
    commit(ops, write) {
      const prev = lastCommit;
      const done = state.backend.commit(ops);
      const next = Promise.all([prev, done]).then(
        () => {
          if (write !== undefined) settle(write);
        },
        (err: unknown) => {
          state.failure ??= err;
          throw err;
        },
      );
      lastCommit = next;
      return next;
    },
    barrier: () => lastCommit,
    onCommitted(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
