import type { KeyValue, LeaderKey } from "@conclave/proto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ConclaveServices } from "./conclave-services.js";
import { type LeaseInput, type LeaseOptions, leaseIdOf } from "./lease.js";
import { sessionLease } from "./lock.js";
import {
  createReconnectingStream,
  type ReconnectingStream,
  type StreamOptions,
} from "./reconnecting-stream.js";
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

/** Leadership won by `campaign`. */
export interface Leadership {
  /** etcd's LeaderKey: `rev` (the key's create revision) is the fencing token. */
  readonly leader: LeaderKey;
  readonly lease: LeaseInput;
  /** Publishes a new value without losing leadership. */
  proclaim(value: BytesInput): Promise<void>;
  /** Gives up leadership; if the campaign created its lease, revokes that too. */
  resign(): Promise<void>;
}

/** etcd's v3election API for one election name. */
export interface Election {
  readonly name: Uint8Array;
  /** Waits until elected (a unary call that waits on the server). */
  campaign(value: BytesInput, options?: CampaignOptions): Promise<Leadership>;
  /** The current leader's key-value, or undefined when nobody leads. */
  leader(): Promise<KeyValue | undefined>;
  /**
   * The leader's key-value now and after every change (etcd's Observe, a
   * server stream), reconnecting on its own. Observe reports state, not a
   * log: after a reconnect the current leader comes first, unless it is the
   * one already delivered (same key and mod revision), so nothing repeats;
   * values proclaimed and replaced while disconnected are skipped.
   */
  observe(options?: StreamOptions): ReconnectingStream<KeyValue>;
}

/** etcd's error text when an election has no leader (a plain error, gRPC Unknown). */
const noLeader = "election: no leader";

/** `sessionOptions` apply to the leases campaigns create when given none. */
export function createElection(
  services: ConclaveServices,
  name: BytesInput,
  sessionOptions: LeaseOptions = {},
): Election {
  const nameBytes = toBytes(name);
  return {
    name: nameBytes,
    async campaign(value, options = {}) {
      const { lease, own } = await sessionLease(services, options, sessionOptions);
      try {
        const r = await services.election.campaign(
          { name: nameBytes, lease: leaseIdOf(lease), value: toBytes(value) },
          { ...(options.signal !== undefined && { signal: options.signal }) },
        );
        if (r.leader === undefined) throw new Error("conclave: campaign answer without leader");
        const leader = r.leader;
        return {
          leader,
          lease,
          async proclaim(v) {
            await services.election.proclaim({ leader, value: toBytes(v) });
          },
          async resign() {
            await services.election.resign({ leader });
            await own?.revoke();
          },
        };
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
}
