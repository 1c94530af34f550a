import type { ServerContext } from "./server-context.js";

/** Background work with an explicit lifecycle. */
export interface Duty {
  start(): void;
  close(): Promise<void>;
}

/**
 * Runs a cluster-wide background duty (LeaderElection's lease-expiry
 * follower) only on the member that runs the cluster's duties: always in
 * the embedded mode, which is one member; in the replica mode on one
 * replica at a time, so the work is done once for the cluster instead of
 * by every replica racing the others. Each time the duties are gained, a
 * fresh duty from `make` starts (duties reconcile at start, catching up on
 * what happened while nobody ran them); when they are lost, it is closed.
 */
export function createWhileLeading(ctx: Pick<ServerContext, "cluster">, make: () => Duty): Duty {
  let current: Duty | undefined;
  let closing: Promise<void> = Promise.resolve();
  let unsubscribe: (() => void) | undefined;
  let started = false;

  const gain = () => {
    if (current !== undefined) return;
    const duty = make();
    current = duty;
    // The previous one finishes its work in flight first.
    void closing.then(() => {
      if (current === duty) duty.start();
    });
  };
  const lose = () => {
    const duty = current;
    current = undefined;
    if (duty !== undefined) closing = closing.then(() => duty.close()).catch(() => undefined);
  };

  return {
    start() {
      if (started) return;
      started = true;
      const cluster = ctx.cluster;
      if (cluster === undefined) {
        gain();
        return;
      }
      unsubscribe = cluster.onDuties((held) => (held ? gain() : lose()));
      if (cluster.isLeader()) gain();
    },
    async close() {
      unsubscribe?.();
      lose();
      await closing;
    },
  };
}
