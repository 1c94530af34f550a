import type { Transport } from "@connectrpc/connect";
import type { BackoffOptions } from "./backoff.js";
import { type ConclaveServices, createConclaveServices } from "./conclave-services.js";
import { createElection, type Election } from "./election.js";
import { createKvClient, type KvClient } from "./kv-client.js";
import { createLeaderElection, type LeaderElection } from "./leader-election.js";
import { grantLease, type Lease, type LeaseOptions } from "./lease.js";
import { linkedAbortController } from "./linked-abort-controller.js";
import { acquireLock, type LockHandle, type LockOptions } from "./lock.js";
import type { StreamOptions } from "./reconnecting-stream.js";
import type { BytesInput } from "./to-bytes.js";
import { createWatchStream, type WatchOptions, type WatchStream } from "./watch-stream.js";

export interface ConclaveClientOptions {
  /**
   * Reconnect delays of watches, observes and election event streams that
   * do not set their own, and retry delays of lease renewals. Default 200 ms
   * doubling to 15 s, each jittered to a random point in its upper half.
   */
  backoff?: BackoffOptions;
}

/**
 * A Conclave (etcd v3) client for Node and browsers. It only uses unary and
 * server-streaming calls, so every transport works: connect-web's
 * `createConnectTransport` or `createGrpcWebTransport` in browsers,
 * connect-node's transports (including gRPC over h2c) in Node.
 *
 * Long streams (watch, observe, leader-election events) reconnect with
 * backoff and resume where they left off; leases renew themselves.
 */
export interface ConclaveClient extends KvClient {
  /** The typed clients underneath, for anything the helpers do not cover. */
  readonly services: ConclaveServices;
  /** Grants a lease of `ttlSeconds` and keeps it alive (see {@link grantLease}). */
  grantLease(ttlSeconds: number, options?: LeaseOptions): Promise<Lease>;
  /** Watches a key or range, resuming across disconnects (see {@link createWatchStream}). */
  watch(key: BytesInput, options?: WatchOptions): WatchStream;
  /** Waits for and takes a named lock (etcd's v3lock). */
  lock(name: BytesInput, options?: LockOptions): Promise<LockHandle>;
  /** etcd's v3election API for one election. */
  election(name: BytesInput): Election;
  /** Conclave's leader election (terms, line of candidates) for one election. */
  leaderElection(election: string): LeaderElection;
  /**
   * Ends every stream and stops every lease renewal this client started.
   * Leases are not revoked: they expire after their TTL, as if the process
   * had gone away. The transport is the caller's and stays open.
   */
  close(): void;
}

/** Builds a {@link ConclaveClient} over a transport the caller creates. */
export function createConclaveClient(
  transport: Transport,
  options: ConclaveClientOptions = {},
): ConclaveClient {
  const services = createConclaveServices(transport);
  const closed = new AbortController();
  /** A child signal of the caller's and the client's, plus the default backoff. */
  const withClient = <T extends { signal?: AbortSignal; backoff?: BackoffOptions }>(o: T): T => {
    const link = linkedAbortController(o.signal, closed.signal);
    const backoff = o.backoff ?? options.backoff;
    return { ...o, signal: link.signal, ...(backoff !== undefined && { backoff }) };
  };
  return {
    ...createKvClient(services),
    services,
    grantLease: (ttl, o = {}) => grantLease(services, ttl, withClient(o)),
    watch: (key, o = {}) => createWatchStream(services, key, withClient(o)),
    lock: (name, o = {}) => acquireLock(services, name, withClient(o), withClient({})),
    election(name) {
      const e = createElection(services, name, withClient({}));
      return {
        ...e,
        campaign: (value, o = {}) => e.campaign(value, withClient(o)),
        observe: (o: StreamOptions = {}) => e.observe(withClient(o)),
      };
    },
    leaderElection(election) {
      const le = createLeaderElection(services, election);
      return { ...le, events: (o: StreamOptions = {}) => le.events(withClient(o)) };
    },
    close() {
      closed.abort();
    },
  };
}
