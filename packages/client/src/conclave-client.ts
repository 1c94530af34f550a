import type { Transport } from "@connectrpc/connect";
import type { BackoffOptions } from "./backoff.js";
import { ClientClosedError } from "./client-closed-error.js";
import { type ClientScope, createClientScope } from "./client-scope.js";
import { type ConclaveServices, createConclaveServices } from "./conclave-services.js";
import { type CampaignOptions, createElection, type Election } from "./election.js";
import { createKvClient, type KvClient } from "./kv-client.js";
import {
  createLeaderElection,
  type LeaderElection,
  type LeaderElectionList,
  listLeaderElections,
} from "./leader-election.js";
import { grantLease, type Lease, type LeaseInput, type LeaseOptions } from "./lease.js";
import type { LinkedAbortController } from "./linked-abort-controller.js";
import { acquireLock, type LockHandle, type LockOptions } from "./lock.js";
import type { ReconnectingStream, StreamOptions } from "./reconnecting-stream.js";
import { runWhileHeld } from "./run-while-held.js";
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
 * `createConnectTransport` or `createGrpcWebTransport` in browsers (and in
 * Node, over its `fetch`), connect-node's transports (including gRPC over
 * h2c) in Node.
 *
 * Long streams (watch, observe, leader-election events) reconnect with
 * backoff and resume where they left off; leases renew themselves.
 */
export interface ConclaveClient extends KvClient {
  /**
   * The typed Connect clients underneath, for anything the helpers do not
   * cover. They share the client's `close()`: after it they reject with
   * {@link ClientClosedError}.
   *
   * @example
   * ```ts
   * const status = await client.services.maintenance.status({});
   * ```
   */
  readonly services: ConclaveServices;
  /**
   * Grants a lease of `ttlSeconds` and keeps it alive (see {@link grantLease}).
   *
   * @example
   * ```ts
   * await using lease = await client.grantLease(10, { onLost: () => process.exit(1) });
   * await client.put("workers/a", "up", { lease });
   * ```
   */
  grantLease(ttlSeconds: number, options?: LeaseOptions): Promise<Lease>;
  /**
   * Watches a key or range, resuming across disconnects (see {@link createWatchStream}).
   *
   * @example
   * ```ts
   * for await (const update of client.watch("config/", { prefix: true })) {
   *   if (update.type === "resync") replaceState(update.kvs);
   *   else for (const e of update.events) console.log(e.kind, toText(e.kv?.key));
   * }
   * ```
   */
  watch(key: BytesInput, options?: WatchOptions): WatchStream;
  /**
   * Waits for and takes a named lock (etcd's v3lock, see {@link acquireLock}).
   *
   * @example
   * ```ts
   * await using held = await client.lock("jobs", { ttl: 10 });
   * await runJob({ signal: held.signal });
   * ```
   */
  lock(name: BytesInput, options?: LockOptions): Promise<LockHandle>;
  /**
   * Takes the lock `name`, runs `fn` while holding it, then unlocks — also
   * when `fn` throws (its error is rethrown). Like the etcd3 package's
   * `lock(name).do(fn)`. `held.signal` aborts if the lock's lease is lost.
   *
   * @example
   * ```ts
   * const report = await client.withLock("reports", async (held) => buildReport(held.signal));
   * ```
   */
  withLock<T>(
    name: BytesInput,
    fn: (held: LockHandle) => T | Promise<T>,
    options?: LockOptions,
  ): Promise<T>;
  /**
   * etcd's v3election API for one election.
   *
   * @example
   * ```ts
   * await client.election("jobs").whileLeader("node-a", ({ signal }) => runScheduler({ signal }));
   * ```
   */
  election(name: BytesInput): Election;
  /**
   * Conclave's leader election (terms, line of candidates) for one election.
   *
   * @example
   * ```ts
   * const term = await client.leaderElection("jobs").enter("node-a", { lease });
   * ```
   */
  leaderElection(election: string): LeaderElection;
  /**
   * The listed conclave.v1 elections with their current terms (see
   * {@link listLeaderElections}).
   *
   * @example
   * ```ts
   * const { elections } = await client.listLeaderElections();
   * ```
   */
  listLeaderElections(): Promise<LeaderElectionList>;
  /**
   * Ends every stream and stops every lease renewal this client started;
   * calls still waiting (`lock`, `campaign`) and any call made afterwards
   * reject with {@link ClientClosedError}. Leases are not revoked: they
   * expire after their TTL, as if the process had gone away. The transport
   * is the caller's and stays open.
   *
   * @example
   * ```ts
   * process.on("SIGTERM", () => client.close());
   * ```
   */
  close(): void;
}

/**
 * Builds a {@link ConclaveClient} over a transport the caller creates.
 *
 * @example
 * ```ts
 * import { createConclaveClient } from "@conclave/client";
 * import { createConnectTransport } from "@connectrpc/connect-web";
 *
 * const client = createConclaveClient(createConnectTransport({ baseUrl: "http://127.0.0.1:2379" }));
 * await client.put("greeting", "hello");
 * ```
 */
export function createConclaveClient(
  transport: Transport,
  options: ConclaveClientOptions = {},
): ConclaveClient {
  const scope = createClientScope();
  const services = createConclaveServices(closableTransport(transport, scope));
  const open = () => {
    if (scope.closed) throw new ClientClosedError();
  };
  /** The caller's options with `signal` replaced by a link into the scope, plus the default backoff. */
  const linked = <T extends { signal?: AbortSignal; backoff?: BackoffOptions }>(
    o: T,
    link: LinkedAbortController,
  ): T => {
    const backoff = o.backoff ?? options.backoff;
    return { ...o, signal: link.signal, ...(backoff !== undefined && { backoff }) };
  };
  /** Forgets `link` when the lease a lock or campaign created for itself ends. */
  const unlinkWithOwnLease = (
    link: LinkedAbortController,
    given: LeaseInput | undefined,
    lease: LeaseInput,
  ) => {
    if (given !== undefined || typeof lease === "bigint" || lease.signal.aborted) link.unlink();
    else lease.signal.addEventListener("abort", link.unlink, { once: true });
  };
  /**
   * Campaigns with the scope's links: the caller's signal while waiting, and
   * the session lease's (one election object per call, so each campaign's
   * lease gets its own link).
   */
  const campaignIn = (name: BytesInput): Election["campaign"] => {
    return async (value, o: CampaignOptions = {}) => {
      open();
      const wait = scope.link(o.signal);
      const session = scope.link();
      try {
        const e = createElection(services, name, linked({}, session));
        const l = await e.campaign(value, { ...o, signal: wait.signal });
        unlinkWithOwnLease(session, o.lease, l.lease);
        return l;
      } catch (err) {
        session.unlink();
        throw err;
      } finally {
        wait.unlink();
      }
    };
  };

  const client: ConclaveClient = {
    ...createKvClient(services),
    services,
    async grantLease(ttl, o = {}) {
      open();
      const link = scope.link(o.signal);
      try {
        const lease = await grantLease(services, ttl, linked(o, link));
        if (lease.signal.aborted) link.unlink();
        else lease.signal.addEventListener("abort", link.unlink, { once: true });
        return lease;
      } catch (err) {
        link.unlink();
        throw err;
      }
    },
    watch(key, o = {}) {
      open();
      const link = scope.link(o.signal);
      const stream = createWatchStream(services, key, linked(o, link));
      const released = releasing(stream, link);
      return {
        [Symbol.asyncIterator]: () => released[Symbol.asyncIterator](),
        close: () => released.close(),
        get revision() {
          return stream.revision;
        },
      };
    },
    async lock(name, o = {}) {
      open();
      const wait = scope.link(o.signal);
      const session = scope.link();
      try {
        const held = await acquireLock(
          services,
          name,
          { ...o, signal: wait.signal },
          linked({}, session),
        );
        unlinkWithOwnLease(session, o.lease, held.lease);
        return held;
      } catch (err) {
        session.unlink();
        throw err;
      } finally {
        wait.unlink();
      }
    },
    async withLock(name, fn, o) {
      return runWhileHeld(await client.lock(name, o), fn, (held) => held.unlock());
    },
    election(name) {
      open();
      const e = createElection(services, name);
      const election: Election = {
        ...e,
        campaign: campaignIn(name),
        async whileLeader(value, fn, o) {
          return runWhileHeld(await election.campaign(value, o), fn, (l) => l.resign());
        },
        observe(o: StreamOptions = {}) {
          open();
          const link = scope.link(o.signal);
          return releasing(e.observe(linked(o, link)), link);
        },
      };
      return election;
    },
    leaderElection(election) {
      open();
      const le = createLeaderElection(services, election);
      return {
        ...le,
        events(o: StreamOptions = {}) {
          open();
          const link = scope.link(o.signal);
          return releasing(le.events(linked(o, link)), link);
        },
      };
    },
    listLeaderElections() {
      return listLeaderElections(services);
    },
    close() {
      scope.close();
    },
  };
  return client;
}

/**
 * The caller's transport, refusing calls once the client is closed and
 * naming the cause when `close()` cut a waiting call short: a
 * {@link ClientClosedError} rather than Connect's "This operation was aborted".
 */
function closableTransport(transport: Transport, scope: ClientScope): Transport {
  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      if (scope.closed) throw new ClientClosedError();
      try {
        return await transport.unary(method, signal, timeoutMs, header, input, contextValues);
      } catch (err) {
        if (scope.closed) throw new ClientClosedError({ cause: err });
        throw err;
      }
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      if (scope.closed) throw new ClientClosedError();
      return transport.stream(method, signal, timeoutMs, header, input, contextValues);
    },
  };
}

/** `stream`, forgetting `link` (leaving the client's scope) once it ends or is closed. */
function releasing<T>(stream: ReconnectingStream<T>, link: LinkedAbortController) {
  async function* iterate(): AsyncGenerator<T> {
    try {
      yield* stream;
    } finally {
      link.unlink();
    }
  }
  let iterator: AsyncGenerator<T> | undefined;
  return {
    [Symbol.asyncIterator]() {
      iterator ??= iterate();
      return iterator;
    },
    close() {
      stream.close();
      link.unlink();
    },
  } satisfies ReconnectingStream<T>;
}
