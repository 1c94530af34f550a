import type { KeyValue, LeaderKey } from "@conclave/proto";
import { Code, ConnectError } from "@connectrpc/connect";
import { withAsyncDispose } from "./async-dispose.js";
import type { ConclaveServices } from "./conclave-services.js";
import { type LeaseInput, type LeaseOptions, leaseIdOf } from "./lease.js";
import { leaseSignalOf, sessionLease } from "./lock.js";
import {
  createReconnectingStream,
  type ReconnectingStream,
  type StreamOptions,
} from "./reconnecting-stream.js";
import { runWhileHeld } from "./run-while-held.js";
import { type BytesInput, toBytes } from "./to-bytes.js";

export interface CampaignOptions {
  /**
   * The lease the candidacy hangs on. Default: a new lease of `ttl` seconds
   * that this client keeps alive and revokes on `resign()`.
   */
  lease?: LeaseInput;
  /** TTL of the lease created when none is given, in seconds. Default 60. */
  ttl?: number;
  /** Gives up campaigning: the call rejects and the candidacy is withdrawn. */
  signal?: AbortSignal;
}

/**
 * Leadership won by `campaign`. `await using` resigns at the end of the
 * block (`[Symbol.asyncDispose]` is `resign()`).
 *
 * @example
 * ```ts
 * await using leadership = await client.election("jobs").campaign("node-a");
 * await leadership.proclaim("node-a, draining");
 * ```
 */
export interface Leadership extends AsyncDisposable {
  /** etcd's LeaderKey: `rev` (the key's create revision) is the fencing token. */
  readonly leader: LeaderKey;
  readonly lease: LeaseInput;
  /**
   * Aborts when the lease behind the candidacy ends (lost: someone else may
   * lead now; revoked; closed with the client). Never aborts for a bare lease ID.
   */
  readonly signal: AbortSignal;
  /** Publishes a new value without losing leadership. */
  proclaim(value: BytesInput): Promise<void>;
  /** Gives up leadership; if the campaign created its lease, revokes that too. */
  resign(): Promise<void>;
}

/** etcd's v3election API for one election name. */
export interface Election {
  readonly name: Uint8Array;
  /**
   * Waits until elected (a unary call that waits on the server).
   *
   * @example
   * ```ts
   * const leadership = await client.election("jobs").campaign("node-a", { ttl: 10 });
   * console.log("leading with fencing token", leadership.leader.rev);
   * await leadership.resign();
   * ```
   */
  campaign(value: BytesInput, options?: CampaignOptions): Promise<Leadership>;
  /**
   * Campaigns, runs `fn` once elected, then resigns — also when `fn` throws
   * (its error is rethrown). `leadership.signal` aborts if leadership is
   * lost meanwhile: pass it on so the work stops.
   *
   * @example
   * ```ts
   * await client.election("jobs").whileLeader("node-a", async ({ signal }) => {
   *   await runScheduler({ signal });
   * });
   * ```
   */
  whileLeader<T>(
    value: BytesInput,
    fn: (leadership: Leadership) => T | Promise<T>,
    options?: CampaignOptions,
  ): Promise<T>;
  /**
   * The current leader's key-value, or undefined when nobody leads.
   *
   * @example
   * ```ts
   * const kv = await client.election("jobs").leader();
   * console.log(kv ? toText(kv.value) : "nobody leads");
   * ```
   */
  leader(): Promise<KeyValue | undefined>;
  /**
   * The leader's key-value now and after every change (etcd's Observe, a
   * server stream), reconnecting on its own. Observe reports state, not a
   * log: after a reconnect the current leader comes first, unless it is the
   * one already delivered (same key and mod revision), so nothing repeats;
   * values proclaimed and replaced while disconnected are skipped.
   *
   * @example
   * ```ts
   * for await (const kv of client.election("jobs").observe()) console.log(toText(kv.value));
   * ```
   */
  observe(options?: StreamOptions): ReconnectingStream<KeyValue>;
}

/** etcd's error text when an election has no leader (a plain error, gRPC Unknown). */
const noLeader = "election: no leader";

/**
 * etcd's v3election API for the election `name`; `sessionOptions` apply to
 * the leases campaigns create when given none. `ConclaveClient.election` is
 * this with the client's services and `close()`.
 *
 * @example
 * ```ts
 * const election = createElection(services, "jobs");
 * const leadership = await election.campaign("node-a");
 * ```
 */
export function createElection(
  services: ConclaveServices,
  name: BytesInput,
  sessionOptions: LeaseOptions = {},
): Election {
  const nameBytes = toBytes(name);
  const election: Election = {
    name: nameBytes,
    async whileLeader(value, fn, options) {
      return runWhileHeld(await election.campaign(value, options), fn, (l) => l.resign());
    },
    async campaign(value, options = {}) {
      const { lease, own } = await sessionLease(services, options, sessionOptions);
      try {
        const r = await services.election.campaign(
          { name: nameBytes, lease: leaseIdOf(lease), value: toBytes(value) },
          { ...(options.signal !== undefined && { signal: options.signal }) },
        );
        if (r.leader === undefined) throw new Error("conclave: campaign answer without leader");
        const leader = r.leader;
        const resign = async () => {
          await services.election.resign({ leader });
          await own?.revoke();
        };
        return withAsyncDispose(
          {
            leader,
            lease,
            signal: leaseSignalOf(lease),
            async proclaim(v: BytesInput) {
              await services.election.proclaim({ leader, value: toBytes(v) });
            },
            resign,
          },
          resign,
        );
      } catch (err) {
        await own?.revoke().catch(() => undefined);
        throw err;
      }
    },
    async leader() {
      try {
        return (await services.election.leader({ name: nameBytes })).kv;
      } catch (err) {
        if (err instanceof ConnectError && err.rawMessage === noLeader) return undefined;
        throw err;
      }
    },
    observe(options = {}) {
      let last: KeyValue | undefined;
      const same = (a: KeyValue, b: KeyValue | undefined) =>
        b !== undefined &&
        a.modRevision === b.modRevision &&
        a.key.length === b.key.length &&
        a.key.every((x, i) => x === b.key[i]);
      async function* connect(signal: AbortSignal) {
        for await (const r of services.election.observe({ name: nameBytes }, { signal })) {
          if (r.kv === undefined || same(r.kv, last)) continue;
          last = r.kv;
          yield r.kv;
        }
        throw new ConnectError("observe stream ended", Code.Unavailable);
      }
      return createReconnectingStream(connect, options);
    },
  };
  return election;
}
