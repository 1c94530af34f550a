// The coordination workloads behind `npm run bench`: watch fan-out, lease
// keep-alives, v3lock hand-over and v3election failover. Like load.ts they
// speak only etcd's public gRPC API (h2c, connect-node), so the same code
// measures Conclave and a real etcd 3.4.

import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  Election,
  KV,
  Lease,
  type LeaseKeepAliveRequestSchema,
  Lock,
  Watch,
  type WatchRequestSchema,
} from "@conclave/proto";
import { createAsyncQueue } from "@conclave/server";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { errorKind } from "./load.js";
import { connectRawGrpc, type RawGrpcConnection } from "./raw-unary.js";

/** One latency distribution (and optionally a rate) a workload reports. */
export interface Measure {
  /** Row label, e.g. "event latency (put → watcher)". */
  name: string;
  /** Per second of wall time (see `unit`); NaN when a rate makes no sense. */
  rate: number;
  /** What `rate` counts, e.g. "ops", "events", "acq". */
  unit: string;
  /** In ms, sorted ascending. */
  latenciesMs: Float64Array;
}

/** What one run of any workload returns. */
export interface RunResult {
  workload: string;
  /** Sizes, e.g. "1000 watchers / 10 streams / 200 puts". */
  params: string;
  /** Successful operations, the denominator of CPU per operation. */
  ops: number;
  errors: number;
  /** Error kind -> count. */
  errorKinds: Map<string, number>;
  /** The first measure is the workload's headline. */
  measures: Measure[];
  /** CPU the benchmark process used during the timed phase, in ms. */
  clientCpuMs: number;
  /**
   * CPU the server processes used during the timed phase, in ms, when the
   * client measured it at the phase's edges (the Go program with
   * -server-pids); otherwise the caller measures around the whole run.
   */
  serverCpuMs?: number;
  /** Extra facts worth printing (pacing achieved, checks done). */
  notes: string[];
}

export interface CoordOptions {
  endpoint: string;
  /** Per unary request deadline in ms, 0 for none. */
  timeoutMs: number;
  /** gRPC connections for the workloads that spread over several. */
  clients: number;
  watch: {
    watchers: number;
    streams: number;
    /** Timed puts. */
    events: number;
    /** Pacing between put sends, ms (0: all at once). */
    intervalMs: number;
    /** 0: every watcher watches one prefix; N: watcher i watches key i mod N, put j writes key j mod N. */
    keys: number;
  };
  keepalive: {
    leases: number;
    /** Timed phase length, s. */
    durationS: number;
    /** Stop after this many timed keep-alives (0: no limit). */
    total: number;
  };
  lock: {
    contenders: number;
    acquisitions: number;
  };
  election: {
    /** Failovers by LeaseRevoke. */
    failovers: number;
    /** TTL of the leader's lease in the revoke scenario, s. */
    ttl: number;
    /** Failovers by lease expiry (TTL 2, no keep-alives). */
    expiries: number;
    /**
     * How long B waits in line (after its key appeared) before A's lease goes.
     * etcd moves a watch that starts at a past revision to its synced set only
     * every 100 ms, so a shorter wait measures that window, not the failover.
     */
    settleMs: number;
  };
}

// ---- helpers -----------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const enc = new TextEncoder();
const dec = new TextDecoder();
const runId = () => Math.random().toString(36).slice(2, 10);

interface Conn {
  session: Http2SessionManager;
  transport: Transport;
}

function openConn(endpoint: string): Conn {
  const session = new Http2SessionManager(endpoint);
  return {
    session,
    transport: createGrpcTransport({ baseUrl: endpoint, sessionManager: session }),
  };
}

class Errors {
  count = 0;
  kinds = new Map<string, number>();
  add(kind: string, n = 1) {
    if (n <= 0) return;
    this.count += n;
    this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + n);
  }
  addErr(err: unknown, prefix = "") {
    this.add(`${prefix}${errorKind(err)}`);
  }
}

function sorted(xs: number[]): Float64Array {
  return Float64Array.from(xs).sort();
}

/** Resolves when `cond()` holds (checked every `everyMs`), or rejects after `timeoutMs`. */
async function until(cond: () => boolean, timeoutMs: number, what: string, everyMs = 2) {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timeout: ${what}`);
    await sleep(everyMs);
  }
}

/** The promise's value, or "timeout" after `ms` (the timer is cleared either way). */
async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<"timeout">((r) => {
    timer = setTimeout(() => r("timeout"), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

function cpuMsSince(cpu0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(cpu0);
  return (c.user + c.system) / 1000;
}

// ---- watch: fan-out and event latency ---------------------------------------

type WatchReq = MessageInitShape<typeof WatchRequestSchema>;

/**
 * W watchers over S streams (round-robin over `clients` connections) on one
 * prefix or on N keys; P puts paced `intervalMs` apart from a separate
 * connection. Each put's value carries its sequence number, so every delivery
 * is matched to the put it came from: latency = receipt − the moment just
 * before that put was sent. A missing, duplicated or unexpected delivery is an
 * error. 10 untimed puts first must reach every watcher (proves every watcher
 * live and warms up both sides).
 */
export async function runWatch(o: CoordOptions): Promise<RunResult> {
  const { watchers: W, streams: S0, events: P, intervalMs, keys: N } = o.watch;
  const S = Math.max(1, Math.min(S0, W));
  const warm = 10;
  const total = warm + P;
  const prefix = `bench/watch/${runId()}/`;
  const keyOf = (i: number) => enc.encode(`${prefix}k${N > 0 ? i % N : i % 10}`);
  const watchedBy = (w: number, j: number) => N === 0 || w % N === j % N;

  const errors = new Errors();
  const conns = Array.from({ length: Math.max(1, Math.min(o.clients, S)) }, () =>
    openConn(o.endpoint),
  );
  const putConn = openConn(o.endpoint);
  const kv = createClient(KV, putConn.transport);
  const aborts: AbortController[] = [];
  const sentAt = new Float64Array(total).fill(Number.NaN);
  const got = new Uint8Array(W * total);
  const lat = new Float64Array(W * P);
  let nLat = 0;
  let delivered = 0; // all phases, first deliveries only
  let lastDelivery = 0;
  let expectedWarm = 0;
  let expectedAll = 0;
  for (let w = 0; w < W; w++) {
    for (let j = 0; j < total; j++) {
      if (!watchedBy(w, j)) continue;
      expectedAll++;
      if (j < warm) expectedWarm++;
    }
  }
  let deliveredWarm = 0;
  let created = 0;
  let streamsDone = 0;

  try {
    await Promise.all([...conns, putConn].map((c) => c.session.connect()));
    const prefixEnd = enc.encode(prefix);
    prefixEnd[prefixEnd.length - 1] = (prefixEnd[prefixEnd.length - 1] ?? 0) + 1;

    for (let s = 0; s < S; s++) {
      const conn = conns[s % conns.length] as Conn;
      const client = createClient(Watch, conn.transport);
      const mine: number[] = [];
      for (let w = s; w < W; w += S) mine.push(w);
      const reqs = createAsyncQueue<WatchReq>();
      const abort = new AbortController();
      aborts.push(abort);
      for (const w of mine) {
        const key = N > 0 ? keyOf(w) : enc.encode(prefix);
        reqs.push({
          requestUnion: {
            case: "createRequest",
            value: N > 0 ? { key } : { key, rangeEnd: prefixEnd },
          },
        });
      }
      // Watch IDs are per stream; the k-th "created" answers the k-th create.
      const byId = new Map<bigint, number>();
      let nCreated = 0;
      void (async () => {
        try {
          for await (const res of client.watch(reqs, { signal: abort.signal })) {
            const now = performance.now();
            if (res.created) {
              if (res.canceled) {
                errors.add(`watch refused: ${res.cancelReason}`);
                continue;
              }
              const w = mine[nCreated++];
              if (w !== undefined) byId.set(res.watchId, w);
              created++;
              continue;
            }
            if (res.canceled || res.compactRevision > 0n) {
              errors.add(
                `watch canceled: ${res.cancelReason || `compacted ${res.compactRevision}`}`,
              );
              continue;
            }
            const w = byId.get(res.watchId);
            if (w === undefined) {
              if (res.events.length > 0)
                errors.add("event for unknown watch id", res.events.length);
              continue;
            }
            for (const ev of res.events) {
              const v = ev.kv?.value;
              if (v === undefined || v.length !== 4) {
                errors.add("event with foreign value");
                continue;
              }
              const j =
                (v[0] ?? 0) | ((v[1] ?? 0) << 8) | ((v[2] ?? 0) << 16) | ((v[3] ?? 0) << 24);
              if (j < 0 || j >= total || !watchedBy(w, j)) {
                errors.add("unexpected event");
                continue;
              }
              const slot = w * total + j;
              if (got[slot] !== 0) {
                errors.add("duplicate event");
                continue;
              }
              got[slot] = 1;
              delivered++;
              lastDelivery = now;
              if (j < warm) deliveredWarm++;
              else lat[nLat++] = now - (sentAt[j] ?? now);
            }
          }
        } catch (err) {
          if (!abort.signal.aborted) errors.addErr(err, "watch stream: ");
        } finally {
          streamsDone++;
        }
      })();
    }
    await until(
      () => created + errors.count >= W || streamsDone === S,
      60_000,
      `${created} of ${W} watchers created`,
    );
    if (created < W) throw new Error(`only ${created} of ${W} watchers created`);

    const opts = o.timeoutMs > 0 ? { timeoutMs: o.timeoutMs } : {};
    const putLat: number[] = [];
    const put = async (j: number) => {
      const value = new Uint8Array(4);
      new DataView(value.buffer).setUint32(0, j, true);
      const t = performance.now();
      sentAt[j] = t;
      try {
        await kv.put({ key: keyOf(j), value }, opts);
        if (j >= warm) putLat.push(performance.now() - t);
      } catch (err) {
        errors.addErr(err, "put: ");
      }
    };
    /** Waits until `target` deliveries arrived, or until nothing arrives for 10 s. */
    const drain = async (count: () => number, target: number) => {
      let last = count();
      let since = performance.now();
      while (count() < target && streamsDone < S) {
        await sleep(5);
        if (count() !== last) {
          last = count();
          since = performance.now();
        } else if (performance.now() - since > 10_000) {
          break;
        }
      }
    };

    for (let j = 0; j < warm; j++) await put(j);
    await drain(() => deliveredWarm, expectedWarm);

    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const puts: Promise<void>[] = [];
    for (let j = warm; j < total; j++) {
      const wait = t0 + (j - warm) * intervalMs - performance.now();
      if (wait >= 1) await sleep(wait);
      puts.push(put(j));
    }
    const sendSpan = performance.now() - t0;
    await Promise.all(puts);
    await drain(() => delivered, expectedAll);
    const clientCpuMs = cpuMsSince(cpu0);
    const timedDelivered = delivered - deliveredWarm;
    errors.add("missing event", expectedAll - delivered);
    if (streamsDone > 0) errors.add("watch stream ended early", streamsDone);
    const span = lastDelivery - t0;
    return {
      workload: "watch",
      params: `${W} w / ${S} str / ${P} puts ${intervalMs}ms${N > 0 ? ` / ${N} keys` : ""}`,
      ops: timedDelivered,
      errors: errors.count,
      errorKinds: errors.kinds,
      measures: [
        {
          name: "event latency (put sent → watcher)",
          rate: span > 0 ? (timedDelivered / span) * 1000 : Number.NaN,
          unit: "events",
          latenciesMs: lat.subarray(0, nLat).sort(),
        },
        {
          name: "put round trip during fan-out",
          rate: Number.NaN,
          unit: "",
          latenciesMs: sorted(putLat),
        },
      ],
      clientCpuMs,
      notes: [
        `${P} puts sent in ${(sendSpan / 1000).toFixed(2)} s (target ${((Math.max(0, P - 1) * intervalMs) / 1000).toFixed(2)} s), ` +
          `${timedDelivered} of ${expectedAll - expectedWarm} deliveries, last ${((span - sendSpan) / 1000).toFixed(2)} s after the last send`,
      ],
    };
  } finally {
    for (const a of aborts) a.abort();
    for (const c of [...conns, putConn]) c.session.abort();
  }
}

// ---- keepalive ------------------------------------------------------------------

type KeepAliveReq = MessageInitShape<typeof LeaseKeepAliveRequestSchema>;

/**
 * K leases over `clients` connections, one LeaseKeepAlive stream per
 * connection carrying all of that connection's lease IDs (as clientv3 does).
 * Each lease has exactly one keep-alive in flight: its answer is timed and
 * the next one sent at once. Runs `warmup` untimed answers, then `durationS`
 * seconds (or `total` answers). An answer with TTL ≤ 0 is an error.
 */
export async function runKeepAlive(o: CoordOptions, warmup: number): Promise<RunResult> {
  const { leases: K, durationS, total } = o.keepalive;
  const nConn = Math.max(1, Math.min(o.clients, K));
  const conns = Array.from({ length: nConn }, () => openConn(o.endpoint));
  const errors = new Errors();
  const aborts: AbortController[] = [];
  const ids: bigint[] = [];
  const lat: number[] = [];
  const opts = o.timeoutMs > 0 ? { timeoutMs: o.timeoutMs } : {};
  try {
    await Promise.all(conns.map((c) => c.session.connect()));
    const leaseClients = conns.map((c) => createClient(Lease, c.transport));
    const granted = await Promise.all(
      Array.from({ length: K }, (_, i) =>
        (leaseClients[i % nConn] as Client<typeof Lease>).leaseGrant({ TTL: 60n }, opts),
      ),
    );
    for (const g of granted) ids.push(g.ID);

    type Phase = "warm" | "timed" | "stop";
    let phase = (warmup > 0 ? "warm" : "timed") as Phase;
    let answers = 0;
    let timedAnswers = 0;
    let outstanding = 0;
    let t0 = performance.now();
    let tEnd = 0;
    let cpu0 = process.cpuUsage();
    let clientCpuMs = 0;
    const startTimed = () => {
      phase = "timed";
      t0 = performance.now();
      cpu0 = process.cpuUsage();
    };
    const stopTimed = () => {
      phase = "stop";
      tEnd = performance.now();
      clientCpuMs = cpuMsSince(cpu0);
    };
    const streams: Promise<void>[] = [];
    for (let c = 0; c < nConn; c++) {
      const mine = ids.filter((_, i) => i % nConn === c);
      const sentAt = new Map<bigint, number>();
      const reqs = createAsyncQueue<KeepAliveReq>();
      const abort = new AbortController();
      aborts.push(abort);
      const send = (id: bigint) => {
        sentAt.set(id, performance.now());
        outstanding++;
        reqs.push({ ID: id });
      };
      const client = leaseClients[c] as Client<typeof Lease>;
      streams.push(
        (async () => {
          try {
            const it = client.leaseKeepAlive(reqs, { signal: abort.signal });
            for (const id of mine) send(id);
            for await (const res of it) {
              const now = performance.now();
              const t = sentAt.get(res.ID);
              if (t === undefined) {
                errors.add("keep-alive answer for an ID not in flight");
                continue;
              }
              sentAt.delete(res.ID);
              outstanding--;
              if (res.TTL <= 0n) errors.add("keep-alive answered TTL <= 0 (lease gone)");
              answers++;
              if (phase === "warm") {
                if (answers >= warmup) startTimed();
              } else if (phase === "timed") {
                lat.push(now - t);
                timedAnswers++;
                if (now - t0 >= durationS * 1000 || (total > 0 && timedAnswers >= total)) {
                  stopTimed();
                }
              }
              if (phase !== "stop") send(res.ID);
              else if (sentAt.size === 0) break;
            }
            if (phase !== "stop") errors.add("keep-alive stream ended early");
          } catch (err) {
            if (!abort.signal.aborted) errors.addErr(err, "keep-alive stream: ");
          }
        })(),
      );
    }
    // Ends when every stream drained its last answers after the stop (or failed).
    const allDone = Promise.all(streams);
    const r = await withTimeout(allDone, (durationS + 30) * 1000);
    if (phase !== "stop") stopTimed();
    if (r === "timeout") errors.add("keep-alive answers missing at the end", outstanding);
    const elapsed = tEnd - t0;
    await Promise.all(
      ids.map((id, i) =>
        (leaseClients[i % nConn] as Client<typeof Lease>)
          .leaseRevoke({ ID: id }, opts)
          .catch((err: unknown) => errors.addErr(err, "revoke: ")),
      ),
    );
    return {
      workload: "keepalive",
      params: `${K} leases / ${nConn} streams`,
      ops: timedAnswers,
      errors: errors.count,
      errorKinds: errors.kinds,
      measures: [
        {
          name: "keep-alive round trip",
          rate: elapsed > 0 ? (timedAnswers / elapsed) * 1000 : Number.NaN,
          unit: "ka",
          latenciesMs: sorted(lat),
        },
      ],
      clientCpuMs,
      notes: [`${timedAnswers} keep-alives in ${(elapsed / 1000).toFixed(2)} s`],
    };
  } finally {
    for (const a of aborts) a.abort();
    for (const c of conns) c.session.abort();
  }
}

// ---- lock ---------------------------------------------------------------------

interface Acq {
  who: number;
  lockSent: number;
  lockResp: number;
  unlockSent: number;
  unlockResp: number;
}

/**
 * C contenders, each on its own connection with its own lease, loop
 * Lock → Unlock on one name until `acquisitions` Lock calls were made (each
 * contender takes a ticket before calling Lock, so exactly that many are made
 * and all of them are granted). Checks mutual exclusion: a Lock answer while
 * another contender has not yet sent its Unlock is an error. Hand-over: for
 * consecutive acquisitions where the next holder was already waiting, the
 * time from the previous holder's Unlock answer (and from its Unlock send) to
 * the next holder's Lock answer. Lock and Unlock go through a minimal gRPC
 * caller (raw-unary.ts) stamped when the answer's trailers arrive, so the
 * figure is the server's hand-over rather than connect-node's client-side
 * jitter; leases are granted through connect-node as usual.
 */
export async function runLock(o: CoordOptions, warmupAcq: number): Promise<RunResult> {
  const { contenders: C, acquisitions: N } = o.lock;
  const conns = Array.from({ length: C }, () => openConn(o.endpoint));
  const errors = new Errors();
  const opts = o.timeoutMs > 0 ? { timeoutMs: o.timeoutMs } : {};
  const name = enc.encode(`bench/lock/${runId()}`);
  const leaseIds: bigint[] = [];
  let rawConns: RawGrpcConnection[] = [];
  try {
    await Promise.all(conns.map((c) => c.session.connect()));
    const raws = conns.map(() => connectRawGrpc(o.endpoint, o.timeoutMs));
    rawConns = raws;
    const leases = conns.map((c) => createClient(Lease, c.transport));
    for (const l of leases) leaseIds.push((await l.leaseGrant({ TTL: 600n }, opts)).ID);

    const loop = async (count: number, acqs: Acq[]) => {
      let tickets = 0;
      let holder = -1;
      const contender = async (who: number) => {
        const raw = raws[who] as RawGrpcConnection;
        const lease = leaseIds[who] as bigint;
        while (tickets < count) {
          tickets++;
          const a: Acq = {
            who,
            lockSent: performance.now(),
            lockResp: 0,
            unlockSent: 0,
            unlockResp: 0,
          };
          let key: Uint8Array;
          try {
            const r = await raw.unary(Lock.method.lock, { name, lease });
            key = r.output.key;
            a.lockResp = r.at;
          } catch (err) {
            errors.addErr(err, "lock: ");
            continue;
          }
          if (holder !== -1) errors.add("two holders at once");
          holder = who;
          // Hold for one event-loop turn, so another contender's Lock answer
          // already on the wire would be seen (and counted) while this one holds.
          await new Promise<void>((r) => setImmediate(r));
          holder = -1;
          a.unlockSent = performance.now();
          try {
            a.unlockResp = (await raw.unary(Lock.method.unlock, { key })).at;
          } catch (err) {
            errors.addErr(err, "unlock: ");
            a.unlockResp = performance.now();
          }
          acqs.push(a);
          // Queue again on the next turn: an answer already read off the
          // socket (the next holder's) is stamped before this contender does
          // the client-side work of a new Lock call.
          await new Promise<void>((r) => setImmediate(r));
        }
      };
      await Promise.all(Array.from({ length: C }, (_, who) => contender(who)));
    };

    if (warmupAcq > 0) await loop(warmupAcq, []);
    const acqs: Acq[] = [];
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await loop(N, acqs);
    const elapsed = performance.now() - t0;
    const clientCpuMs = cpuMsSince(cpu0);

    acqs.sort((a, b) => a.lockResp - b.lockResp);
    const fromResp: number[] = [];
    const fromSend: number[] = [];
    let early = 0;
    for (let i = 1; i < acqs.length; i++) {
      const prev = acqs[i - 1] as Acq;
      const next = acqs[i] as Acq;
      if (next.lockResp < prev.unlockSent) errors.add("lock granted before the holder unlocked");
      if (next.lockSent >= prev.unlockSent) continue; // nobody was waiting: not a hand-over
      fromResp.push(next.lockResp - prev.unlockResp);
      fromSend.push(next.lockResp - prev.unlockSent);
      if (next.lockResp < prev.unlockResp) early++;
    }
    const lockRtt = acqs.map((a) => a.lockResp - a.lockSent);
    return {
      workload: "lock",
      params: `${C} contenders / ${N} acq`,
      ops: acqs.length,
      errors: errors.count,
      errorKinds: errors.kinds,
      measures: [
        {
          name: "hand-over (Unlock answer → next Lock answer)",
          rate: (acqs.length / elapsed) * 1000,
          unit: "acq",
          latenciesMs: sorted(fromResp),
        },
        {
          name: "hand-over (Unlock sent → next Lock answer)",
          rate: Number.NaN,
          unit: "",
          latenciesMs: sorted(fromSend),
        },
        {
          name: "Lock call (queued behind others)",
          rate: Number.NaN,
          unit: "",
          latenciesMs: sorted(lockRtt),
        },
      ],
      clientCpuMs,
      notes: [
        `${fromResp.length} hand-overs to a waiting contender; in ${early} of them the next Lock answer ` +
          "arrived before the previous holder's Unlock answer (negative hand-over)",
      ],
    };
  } finally {
    const l = conns[0] ? createClient(Lease, (conns[0] as Conn).transport) : undefined;
    await Promise.all(
      leaseIds.map((id) => l?.leaseRevoke({ ID: id }, opts).catch(() => undefined)),
    );
    for (const c of conns) c.session.abort();
    for (const r of rawConns) r.close();
  }
}

// ---- election -------------------------------------------------------------------

/**
 * Failover of a v3election leader. A campaigns with lease LA and wins; an
 * Observe stream sees A; B campaigns (blocks), its key is seen in the KV
 * store and B waits `settleMs` more. Then either (revoke) LA is revoked: times from just before the
 * LeaseRevoke call to B's Campaign answer and to the observer seeing B; or
 * (expiry) LA was granted with TTL 2 and never kept alive: times from its
 * deadline (grant answer + granted TTL) to the same two events. A, B and the
 * observer each have their own connection.
 */
export async function runElection(o: CoordOptions): Promise<RunResult> {
  const { failovers: R, ttl, expiries: X, settleMs } = o.election;
  const [ca, cb, co] = [openConn(o.endpoint), openConn(o.endpoint), openConn(o.endpoint)];
  const errors = new Errors();
  const opts = o.timeoutMs > 0 ? { timeoutMs: o.timeoutMs } : {};
  const base = `bench/election/${runId()}`;
  const m = {
    revokeCampaign: [] as number[],
    revokeObserve: [] as number[],
    expiryCampaign: [] as number[],
    expiryObserve: [] as number[],
  };
  try {
    await Promise.all([ca, cb, co].map((c) => c.session.connect()));
    const ea = createClient(Election, ca.transport);
    const eb = createClient(Election, cb.transport);
    const eo = createClient(Election, co.transport);
    const la = createClient(Lease, ca.transport);
    const lb = createClient(Lease, cb.transport);
    const kvo = createClient(KV, co.transport);

    const once = async (i: number, mode: "revoke" | "expiry") => {
      const name = enc.encode(`${base}/${mode}${i}`);
      const pfx = enc.encode(`${base}/${mode}${i}/`);
      const pfxEnd = pfx.slice();
      pfxEnd[pfxEnd.length - 1] = (pfxEnd[pfxEnd.length - 1] ?? 0) + 1;
      const ttlA = mode === "revoke" ? ttl : 2;
      // A random phase against the server's expiry tick (etcd 500 ms, Conclave
      // 50 ms): back-to-back repetitions would otherwise all start right after
      // one tick and always measure the same point of its period.
      if (mode === "expiry") await sleep(Math.random() * 1000);
      const ga = await la.leaseGrant({ TTL: BigInt(ttlA) }, opts);
      const deadline = performance.now() + Number(ga.TTL) * 1000;
      const LB = (await lb.leaseGrant({ TTL: 60n }, opts)).ID;
      const abort = new AbortController();
      const seen: { v: string; at: number }[] = [];
      let bAt = 0;
      try {
        await ea.campaign({ name, lease: ga.ID, value: enc.encode("A") }, opts);
        const observing = (async () => {
          for await (const r of eo.observe({ name }, { signal: abort.signal })) {
            seen.push({ v: dec.decode(r.kv?.value ?? new Uint8Array()), at: performance.now() });
          }
        })().catch((err: unknown) => {
          if (!abort.signal.aborted) errors.addErr(err, "observe: ");
        });
        await until(() => seen.length > 0, 5000, "observer sees A");
        let bErr: unknown;
        const bCampaign = eb
          .campaign({ name, lease: LB, value: enc.encode("B") }, { signal: abort.signal })
          .then(
            (r) => {
              bAt = performance.now();
              return r;
            },
            (err: unknown) => {
              bErr = err;
              return undefined;
            },
          );
        // B is queued once its key exists (the server then sets up its watch).
        for (let k = 0; ; k++) {
          const r = await kvo.range({ key: pfx, rangeEnd: pfxEnd, countOnly: true }, opts);
          if (r.count >= 2n) break;
          if (k > 2500) throw new Error("timeout: B's campaign key never appeared");
          await sleep(2);
        }
        await sleep(settleMs);
        if (bAt !== 0) throw new Error("B became leader while A still held");
        let t0: number;
        if (mode === "revoke") {
          t0 = performance.now();
          await la.leaseRevoke({ ID: ga.ID }, opts);
        } else {
          t0 = deadline;
          if (performance.now() > deadline) throw new Error("setup took longer than the TTL");
        }
        const b = await withTimeout(bCampaign, Math.max(0, t0 - performance.now()) + 15_000);
        if (b === "timeout") throw new Error("B's Campaign did not return within 15 s");
        if (b === undefined) throw bErr;
        if (
          dec.decode(b.leader?.key ?? new Uint8Array()) !== `${base}/${mode}${i}/${LB.toString(16)}`
        ) {
          errors.add("B's Campaign returned a foreign leader key");
        }
        await until(() => seen.some((s) => s.v === "B"), 15_000, "observer sees B");
        const obsB = seen.find((s) => s.v === "B")?.at ?? 0;
        if (seen[0]?.v !== "A") errors.add("observer did not see A first");
        const [c, ob] =
          mode === "revoke"
            ? [m.revokeCampaign, m.revokeObserve]
            : [m.expiryCampaign, m.expiryObserve];
        c.push(bAt - t0);
        ob.push(obsB - t0);
        abort.abort();
        await observing;
      } finally {
        abort.abort();
        await lb.leaseRevoke({ ID: LB }, opts).catch(() => undefined);
        await la.leaseRevoke({ ID: ga.ID }, opts).catch(() => undefined);
      }
    };

    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const [mode, n] of [
      ["revoke", R],
      ["expiry", X],
    ] as const) {
      for (let i = 0; i < n; i++) {
        try {
          await once(i, mode);
        } catch (err) {
          errors.addErr(err, `${mode}: `);
        }
      }
    }
    const elapsed = performance.now() - t0;
    const clientCpuMs = cpuMsSince(cpu0);
    const ops = m.revokeCampaign.length + m.expiryCampaign.length;
    return {
      workload: "election",
      params: `${R} x revoke (TTL ${ttl}) + ${X} x expiry (TTL 2), B queued ${settleMs} ms`,
      ops,
      errors: errors.count,
      errorKinds: errors.kinds,
      measures: [
        {
          name: "revoke → B's Campaign returns",
          rate: Number.NaN,
          unit: "",
          latenciesMs: sorted(m.revokeCampaign),
        },
        {
          name: "revoke → observer sees B",
          rate: Number.NaN,
          unit: "",
          latenciesMs: sorted(m.revokeObserve),
        },
        {
          name: "lease deadline → B's Campaign returns",
          rate: Number.NaN,
          unit: "",
          latenciesMs: sorted(m.expiryCampaign),
        },
        {
          name: "lease deadline → observer sees B",
          rate: Number.NaN,
          unit: "",
          latenciesMs: sorted(m.expiryObserve),
        },
      ],
      clientCpuMs,
      notes: [`${ops} failovers in ${(elapsed / 1000).toFixed(1)} s`],
    };
  } finally {
    for (const c of [ca, cb, co]) c.session.abort();
  }
}
