// Random etcd KV request generator for the differential test (Conclave vs a
// real etcd 3.4.23). Deterministic for a seed. Keys come from a small key space
// so requests collide; result sets therefore never exceed 12 kvs, which keeps
// etcd's sort (Go's pdqsort: insertion sort, stable, for ≤ 12 elements)
// deterministic under ties.

import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import {
  type CompactionRequest,
  CompactionRequestSchema,
  type Compare,
  Compare_CompareTarget,
  CompareSchema,
  type DeleteRangeRequest,
  DeleteRangeRequestSchema,
  type PutRequest,
  PutRequestSchema,
  type RangeRequest,
  RangeRequestSchema,
  type RequestOp,
  RequestOpSchema,
  type TxnRequest,
  TxnRequestSchema,
} from "@conclave/proto";

/** One request of the sequence. */
export type Op =
  | { kind: "range"; req: RangeRequest }
  | { kind: "put"; req: PutRequest }
  | { kind: "deleteRange"; req: DeleteRangeRequest }
  | { kind: "txn"; req: TxnRequest }
  | { kind: "compact"; req: CompactionRequest };

/** mulberry32: small, fast, good enough for test generation. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    const x = xs[Math.floor(this.next() * xs.length)];
    if (x === undefined) throw new Error("pick from empty list");
    return x;
  }
  /** Picks by weight: `[[weight, value], ...]`. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    const total = choices.reduce((s, [w]) => s + w, 0);
    let r = this.next() * total;
    for (const [w, v] of choices) {
      r -= w;
      if (r < 0) return v;
    }
    const last = choices[choices.length - 1];
    if (last === undefined) throw new Error("weighted from empty list");
    return last[1];
  }
}

/** Latin-1 bytes of a string: one byte per char code (so "\xff" is the byte 0xff). */
export function b(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
}

/** etcd's GetPrefixRangeEnd: increment the last byte < 0xff and cut after it; all 0xff → "\0". */
export function prefixEndOf(key: Uint8Array): Uint8Array {
  const end = key.slice();
  for (let i = end.length - 1; i >= 0; i--) {
    const x = end[i] ?? 0;
    if (x < 0xff) {
      end[i] = x + 1;
      return end.slice(0, i + 1);
    }
  }
  return new Uint8Array([0]);
}

/** The 8 keys every write goes to. */
export const KEYS: readonly string[] = ["a", "a/1", "a/2", "b", "c", "d", "\x00x", "\xff"];
/** Extra range starts/prefixes that are not keys themselves. */
const RANGE_STARTS: readonly string[] = [...KEYS, "a/", "aa", "\x00", "c\x00", "\xfe", "0"];
const PREFIXES: readonly string[] = ["a", "a/", "b", "\x00", "\xff", "c", "z"];
const VALUES: readonly string[] = ["", "v", "v1", "v2", "a", "zz", "\x00", "\xff", "v\x00"];
/** Lease ids nobody granted (neither server grants any lease in this test). */
const UNKNOWN_LEASES: readonly bigint[] = [1n, 0x5eedn, 7587869999409135618n, -1n];

/** etcd's default --max-request-bytes. */
export const MAX_REQUEST_BYTES = 1_572_864;
/** etcd's gRPC server receive limit: MaxRequestBytes + 512 KiB (the gRPC 5-byte prefix not counted). */
export const GRPC_MAX_RECV = MAX_REQUEST_BYTES + 512 * 1024;

function encodedSize(msg: TxnRequest | PutRequest | RangeRequest | DeleteRangeRequest): number {
  switch (msg.$typeName) {
    case "etcdserverpb.TxnRequest":
      return toBinary(TxnRequestSchema, msg).length;
    case "etcdserverpb.PutRequest":
      return toBinary(PutRequestSchema, msg).length;
    case "etcdserverpb.RangeRequest":
      return toBinary(RangeRequestSchema, msg).length;
    case "etcdserverpb.DeleteRangeRequest":
      return toBinary(DeleteRangeRequestSchema, msg).length;
  }
}

/** A message whose bytes field `field` is sized so the encoded message is exactly `size` bytes. */
function sized<M extends PutRequest | RangeRequest | DeleteRangeRequest>(
  schema: GenMessage<M>,
  init: MessageInitShape<GenMessage<M>>,
  field: "key" | "value",
  size: number,
): M {
  const msg = create(schema, init) as M & { key: Uint8Array; value?: Uint8Array };
  // A length varint may grow by a byte right at the target (2 MiB = 2^21), so
  // an exact size is not always reachable; then take the first size above it.
  for (let len = size, i = 0; ; i++) {
    msg[field] = new Uint8Array(len).fill(0x62);
    const got = encodedSize(msg);
    if (got === size || (i >= 8 && got > size)) return msg;
    len = i >= 8 ? len + 1 : Math.max(0, len + size - got);
  }
}

/** What the generator knows about the servers' state (from etcd's answers). */
export interface GenState {
  /** Current revision. */
  rev: bigint;
  /** Last successful compaction revision, or -1n if none. */
  compactRev: bigint;
}

/** Keys put/deleted so far in one txn branch; used to avoid (most) duplicate-key errors. */
interface BranchKeys {
  puts: Set<string>;
  dels: Set<string>;
}

export class Generator {
  constructor(
    private readonly rng: Rng,
    private readonly state: GenState,
    /** Weight of requests around the size limits (0 leaves them out). */
    private readonly bigWeight = 1,
  ) {}

  /** Follow-up requests queued by the previous one (e.g. deleting a huge value again). */
  private readonly pending: Op[] = [];

  next(): Op {
    const queued = this.pending.shift();
    if (queued) return queued;
    const r = this.rng;
    return r.weighted<() => Op>([
      [28, () => ({ kind: "put", req: this.put() })],
      [24, () => ({ kind: "range", req: this.range() })],
      [11, () => ({ kind: "deleteRange", req: this.deleteRange() })],
      [30, () => ({ kind: "txn", req: this.txn(0) })],
      [4, () => ({ kind: "compact", req: this.compact() })],
      [this.bigWeight, () => this.big()],
    ])();
  }

  /**
   * Requests around etcd's size limits. etcd 3.4 rejects a write whose raft
   * entry (InternalRaftRequest: the request plus a RequestHeader holding a
   * 64-bit request id) exceeds --max-request-bytes (1.5 MiB) with `request is
   * too large`. The entry is 17 bytes larger than the request when the id's
   * varint is 9 bytes, 18 when it is 10; the id's top 16 bits are the member
   * id's low 16, so that depends on the (random) member id of the reference
   * etcd. A request of exactly MAX_REQUEST_BYTES - 17 bytes is therefore never
   * generated; every other size has one answer. Messages over the gRPC receive
   * limit (MaxRequestBytes + 512 KiB) fail in grpc-go before etcd sees them.
   * The huge value lives under the 9th key "big", deleted again right after.
   */
  private big(): Op {
    const r = this.rng;
    const delta = r.pick([-40, -25, -19, -18, -16, -12, -1, 0, 1, 30]);
    const target = MAX_REQUEST_BYTES + delta;
    const bigKey = b("big");
    this.pending.push({
      kind: "deleteRange",
      req: create(DeleteRangeRequestSchema, { key: bigKey, prevKv: r.chance(0.2) }),
    });
    return r.weighted<() => Op>([
      [4, () => ({ kind: "put", req: sized(PutRequestSchema, { key: bigKey }, "value", target) })],
      [
        2,
        () => {
          const put = create(PutRequestSchema, { key: bigKey });
          const txn = create(TxnRequestSchema, {
            compare: r.chance(0.5) ? [this.compare()] : [],
            success: [create(RequestOpSchema, { request: { case: "requestPut", value: put } })],
          });
          put.value = new Uint8Array(Math.max(0, target - 40));
          // (no length varint changes size near 1.5 MiB, so this converges)
          for (let got = encodedSize(txn); got !== target; got = encodedSize(txn)) {
            put.value = new Uint8Array(put.value.length + target - got);
          }
          return { kind: "txn", req: txn };
        },
      ],
      [1, () => ({ kind: "deleteRange", req: sized(DeleteRangeRequestSchema, {}, "key", target) })],
      [1, () => ({ kind: "range", req: sized(RangeRequestSchema, {}, "key", target) })],
      [
        1,
        () => {
          const size = GRPC_MAX_RECV + r.pick([-5, 1, 9]);
          return r.chance(0.5)
            ? { kind: "put", req: sized(PutRequestSchema, { key: bigKey }, "value", size) }
            : { kind: "range", req: sized(RangeRequestSchema, {}, "key", size) };
        },
      ],
    ])();
  }

  // ---- building blocks -------------------------------------------------------

  private key(): Uint8Array {
    return b(this.rng.pick(KEYS));
  }

  private value(): Uint8Array {
    const r = this.rng;
    if (r.chance(0.15)) {
      // random bytes, 1..12 long, any byte
      return Uint8Array.from({ length: r.int(1, 12) }, () => r.int(0, 255));
    }
    return b(r.pick(VALUES));
  }

  /** A revision for reads/compares: mostly around the interesting spots. */
  revision(): bigint {
    const r = this.rng;
    const { rev, compactRev } = this.state;
    return r.weighted<() => bigint>([
      [5, () => BigInt(r.int(-2, Number(rev) + 2))],
      [2, () => compactRev],
      [1, () => compactRev - 1n],
      [1, () => compactRev + 1n],
      [2, () => rev],
      [1, () => rev + 1n],
      [1, () => 0n],
    ])();
  }

  /** key / range_end pair: single key, prefix, from-key ("\0"), all, arbitrary (maybe reversed). */
  private keyRange(emptyKeyChance: number): [Uint8Array, Uint8Array] {
    const r = this.rng;
    if (r.chance(emptyKeyChance)) {
      return [new Uint8Array(0), r.pick([new Uint8Array(0), b("\x00"), b("z")])];
    }
    return r.weighted<() => [Uint8Array, Uint8Array]>([
      [40, () => [this.key(), new Uint8Array(0)]],
      [6, () => [b(r.pick(RANGE_STARTS)), new Uint8Array(0)]],
      [
        20,
        () => {
          const p = b(r.pick(PREFIXES));
          return [p, prefixEndOf(p)];
        },
      ],
      [14, () => [b(r.pick(RANGE_STARTS)), b("\x00")]],
      [8, () => [b("\x00"), b("\x00")]],
      [12, () => [b(r.pick(RANGE_STARTS)), b(r.pick(RANGE_STARTS))]],
    ])();
  }

  range(emptyKeyChance = 0.03): RangeRequest {
    const r = this.rng;
    const [key, rangeEnd] = this.keyRange(emptyKeyChance);
    const req = create(RangeRequestSchema, { key, rangeEnd });
    if (r.chance(0.25)) req.limit = r.pick([1n, 2n, 3n, 5n, 8n, 100n, -1n]);
    if (r.chance(0.25)) req.revision = this.revision();
    if (r.chance(0.4)) {
      // (an unknown sort_order is harmless in etcd: it sorts by nothing; an unknown
      // sort_target makes etcd 3.4 panic on a nil sorter, so it is never generated)
      req.sortOrder = r.chance(0.05) ? r.pick([3, -1]) : r.int(0, 2);
      req.sortTarget = r.int(0, 4);
    }
    if (r.chance(0.15)) req.keysOnly = true;
    if (r.chance(0.1)) req.countOnly = true;
    if (r.chance(0.08)) req.minModRevision = this.revision();
    if (r.chance(0.08)) req.maxModRevision = this.revision();
    if (r.chance(0.08)) req.minCreateRevision = this.revision();
    if (r.chance(0.08)) req.maxCreateRevision = this.revision();
    if (r.chance(0.3)) req.serializable = true;
    return req;
  }

  put(branch?: BranchKeys): PutRequest {
    const r = this.rng;
    let key: Uint8Array;
    if (r.chance(branch ? 0.01 : 0.03)) key = new Uint8Array(0);
    else if (branch && r.chance(0.85)) {
      const free = KEYS.filter((k) => !branch.puts.has(k) && !branch.dels.has(k));
      key = b(free.length > 0 ? r.pick(free) : r.pick(KEYS));
    } else key = this.key();
    const req = create(PutRequestSchema, { key });
    if (!r.chance(0.12)) req.value = this.value();
    if (r.chance(0.3)) req.prevKv = true;
    if (r.chance(branch ? 0.05 : 0.1)) {
      req.ignoreValue = true;
      if (r.chance(0.7)) req.value = new Uint8Array(0);
    }
    if (r.chance(branch ? 0.05 : 0.1)) req.ignoreLease = true;
    if (r.chance(branch ? 0.02 : 0.05)) req.lease = r.pick(UNKNOWN_LEASES);
    branch?.puts.add(latin1(req.key));
    return req;
  }

  deleteRange(branch?: BranchKeys): DeleteRangeRequest {
    const r = this.rng;
    let key: Uint8Array;
    let rangeEnd: Uint8Array;
    if (branch && r.chance(0.7)) {
      // single key, preferably not put in this branch
      const free = KEYS.filter((k) => !branch.puts.has(k));
      key = b(free.length > 0 ? r.pick(free) : r.pick(KEYS));
      rangeEnd = new Uint8Array(0);
    } else {
      [key, rangeEnd] = this.keyRange(branch ? 0.01 : 0.03);
    }
    const req = create(DeleteRangeRequestSchema, { key, rangeEnd });
    if (r.chance(0.4)) req.prevKv = true;
    if (branch && rangeEnd.length === 0) branch.dels.add(latin1(key));
    return req;
  }

  compare(): Compare {
    const r = this.rng;
    const c = create(CompareSchema);
    // unknown enum values are valid on the wire; etcd compares them as "equal"
    c.target = r.chance(0.02) ? r.pick([5, 7]) : r.int(0, 4);
    c.result = r.chance(0.02) ? r.pick([4, -1]) : r.int(0, 3);
    if (r.chance(0.01)) c.key = new Uint8Array(0);
    else if (r.chance(0.08)) c.key = b(r.pick(RANGE_STARTS));
    else c.key = this.key();
    if (r.chance(0.2)) {
      c.rangeEnd = r.weighted<() => Uint8Array>([
        [3, () => prefixEndOf(c.key)],
        [2, () => b("\x00")],
        [2, () => b(r.pick(RANGE_STARTS))],
      ])();
    }
    // the union usually matches the target; sometimes not (etcd then compares with zero)
    const unionTarget = r.chance(0.93) ? c.target : r.int(-1, 4);
    switch (unionTarget) {
      case Compare_CompareTarget.VERSION:
        c.targetUnion = { case: "version", value: BigInt(r.int(-1, 4)) };
        break;
      case Compare_CompareTarget.CREATE:
        c.targetUnion = { case: "createRevision", value: this.revision() };
        break;
      case Compare_CompareTarget.MOD:
        c.targetUnion = { case: "modRevision", value: this.revision() };
        break;
      case Compare_CompareTarget.VALUE:
        c.targetUnion = { case: "value", value: this.value() };
        break;
      case Compare_CompareTarget.LEASE:
        c.targetUnion = { case: "lease", value: r.chance(0.7) ? 0n : r.pick(UNKNOWN_LEASES) };
        break;
      default:
        c.targetUnion = { case: undefined };
    }
    return c;
  }

  private requestOp(depth: number, branch: BranchKeys): RequestOp {
    const r = this.rng;
    const op = create(RequestOpSchema);
    const kind = r.weighted<string>([
      [35, "range"],
      [32, "put"],
      [18, "delete"],
      [depth < 2 ? 10 : 0, "txn"],
      [3, "empty"],
    ]);
    switch (kind) {
      case "range":
        op.request = { case: "requestRange", value: this.range(0.01) };
        break;
      case "put":
        op.request = { case: "requestPut", value: this.put(branch) };
        break;
      case "delete":
        op.request = { case: "requestDeleteRange", value: this.deleteRange(branch) };
        break;
      case "txn": {
        const inner = this.txn(depth + 1);
        // a nested txn's keys count against the enclosing branch (etcd checks across nesting)
        for (const o of [...inner.success, ...inner.failure]) collectKeys(o, branch);
        op.request = { case: "requestTxn", value: inner };
        break;
      }
      default:
        break; // empty RequestOp
    }
    return op;
  }

  private branch(depth: number, n: number): RequestOp[] {
    const keys: BranchKeys = { puts: new Set(), dels: new Set() };
    return Array.from({ length: n }, () => this.requestOp(depth, keys));
  }

  txn(depth: number): TxnRequest {
    const r = this.rng;
    if (depth === 0 && r.chance(0.05)) return this.bigTxn();
    if (depth === 0 && r.chance(0.12)) return this.overlapTxn(0);
    const req = create(TxnRequestSchema);
    const nCmp = r.weighted<number>([
      [20, 0],
      [40, 1],
      [25, 2],
      [15, 3],
    ]);
    req.compare = Array.from({ length: nCmp }, () => this.compare());
    const nSuccess = r.weighted<number>([
      [15, 0],
      [35, 1],
      [25, 2],
      [15, 3],
      [10, 4],
    ]);
    req.success = this.branch(depth, nSuccess);
    const nFailure = r.weighted<number>([
      [30, 0],
      [35, 1],
      [20, 2],
      [15, 3],
    ]);
    req.failure = this.branch(depth, nFailure);
    return req;
  }

  /**
   * Puts and deletes over 3 keys in one txn, with point, prefix, from-key,
   * all-keys and arbitrary (possibly reversed) delete ranges, nested up to 2
   * levels: exercises etcd's `duplicate key given in txn request` check
   * (put vs put and put vs delete range, across nesting; then/else may put
   * the same key) and what a txn reads of its own writes.
   */
  private overlapTxn(depth: number): TxnRequest {
    const r = this.rng;
    const keys = ["a", "a/1", "b"];
    const op = (): RequestOp => {
      const kind = r.weighted<string>([
        [40, "put"],
        [35, "delete"],
        [depth < 2 ? 15 : 0, "txn"],
        [10, "range"],
      ]);
      const k = b(r.pick(keys));
      switch (kind) {
        case "put":
          return create(RequestOpSchema, {
            request: {
              case: "requestPut",
              value: create(PutRequestSchema, {
                key: k,
                value: this.value(),
                prevKv: r.chance(0.3),
              }),
            },
          });
        case "delete": {
          const rangeEnd = r.weighted<() => Uint8Array>([
            [4, () => new Uint8Array(0)],
            [2, () => prefixEndOf(k)],
            [2, () => b("\x00")],
            [2, () => b(r.pick([...keys, "a/", "c", "\x00"]))],
          ])();
          const key = r.chance(0.1) ? b("\x00") : k;
          return create(RequestOpSchema, {
            request: {
              case: "requestDeleteRange",
              value: create(DeleteRangeRequestSchema, { key, rangeEnd, prevKv: r.chance(0.3) }),
            },
          });
        }
        case "txn":
          return create(RequestOpSchema, {
            request: { case: "requestTxn", value: this.overlapTxn(depth + 1) },
          });
        default:
          return create(RequestOpSchema, {
            request: {
              case: "requestRange",
              value: create(RangeRequestSchema, { key: b("\x00"), rangeEnd: b("\x00") }),
            },
          });
      }
    };
    return create(TxnRequestSchema, {
      compare: r.chance(0.5) ? [this.compare()] : [],
      success: Array.from({ length: r.int(1, 3) }, op),
      failure: Array.from({ length: r.int(0, 2) }, op),
    });
  }

  /**
   * A txn nested around and far past the op budget (each level holding a
   * txn spends one op: etcd runs 129 levels at most) and past the 513 levels
   * Conclave's decoders go, sometimes with an invalid compare or op at some
   * level, before or after the nested op: etcd's depth-first check answers
   * whichever it meets first.
   */
  private deepTxn(): TxnRequest {
    const r = this.rng;
    const levels = r.pick([128, 129, 130, 513, 514, 600, 1000]);
    const flawAt = r.chance(0.6) ? r.int(1, levels) : 0;
    const flaw = r.pick(["compare", "empty op", "empty key before", "empty key after"]);
    let t = create(TxnRequestSchema, {
      success: r.chance(0.5)
        ? []
        : [
            create(RequestOpSchema, {
              request: {
                case: "requestRange",
                value: create(RangeRequestSchema, { key: this.key() }),
              },
            }),
          ],
    });
    for (let level = levels; level >= 1; level--) {
      if (level < levels) {
        t = create(TxnRequestSchema, {
          success: [create(RequestOpSchema, { request: { case: "requestTxn", value: t } })],
        });
      }
      if (level !== flawAt) continue;
      const emptyKeyPut = create(RequestOpSchema, {
        request: { case: "requestPut", value: create(PutRequestSchema, { value: b("v") }) },
      });
      if (flaw === "compare") t.compare.push(create(CompareSchema, {}));
      else if (flaw === "empty op") t.success.unshift(create(RequestOpSchema));
      else if (flaw === "empty key before") t.success.unshift(emptyKeyPut);
      else t.success.push(emptyKeyPut);
    }
    return t;
  }

  /** Txns around the 128-op limit, including a nested txn's share of the budget. */
  private bigTxn(): TxnRequest {
    const r = this.rng;
    const rangeOp = (): RequestOp =>
      create(RequestOpSchema, {
        request: {
          case: "requestRange",
          value: create(RangeRequestSchema, { key: this.key(), keysOnly: r.chance(0.5) }),
        },
      });
    const ranges = (n: number) => Array.from({ length: n }, rangeOp);
    const req = create(TxnRequestSchema);
    switch (r.int(0, 6)) {
      case 5:
      case 6:
        return this.deepTxn();
      case 0: // too many in success (or exactly the limit)
        req.success = ranges(r.pick([127, 128, 129, 130]));
        break;
      case 1: // too many in failure
        req.failure = ranges(r.pick([128, 129]));
        break;
      case 2: // too many compares
        req.compare = Array.from({ length: r.pick([128, 129]) }, () => this.compare());
        break;
      case 3: {
        // nested: the inner txn gets maxTxnOps - opc of the outer
        const outer = r.pick([60, 100, 120]);
        const innerN = 128 - outer + r.int(-1, 1);
        const inner = create(TxnRequestSchema, { success: ranges(innerN) });
        req.success = [
          ...ranges(outer - 1),
          create(RequestOpSchema, { request: { case: "requestTxn", value: inner } }),
        ];
        break;
      }
      default: {
        // doubly nested, small outer
        const innermost = create(TxnRequestSchema, { failure: ranges(r.pick([60, 62, 63, 64])) });
        const middle = create(TxnRequestSchema, {
          success: [
            ...ranges(r.pick([30, 60, 62])),
            create(RequestOpSchema, { request: { case: "requestTxn", value: innermost } }),
          ],
        });
        req.success = [create(RequestOpSchema, { request: { case: "requestTxn", value: middle } })];
        req.compare = [this.compare()];
        break;
      }
    }
    return req;
  }

  compact(): CompactionRequest {
    const r = this.rng;
    const { rev, compactRev } = this.state;
    const revision = r.weighted<() => bigint>([
      [4, () => rev],
      [4, () => BigInt(r.int(Math.max(Number(compactRev) - 1, -2), Number(rev) + 2))],
      [1, () => compactRev],
      [1, () => rev + 1n],
      [1, () => r.pick([-1n, 0n, 1n])],
    ])();
    return create(CompactionRequestSchema, { revision, physical: r.chance(0.5) });
  }
}

function latin1(x: Uint8Array): string {
  return String.fromCharCode(...x);
}

function collectKeys(op: RequestOp, into: BranchKeys): void {
  switch (op.request.case) {
    case "requestPut":
      into.puts.add(latin1(op.request.value.key));
      break;
    case "requestDeleteRange":
      if (op.request.value.rangeEnd.length === 0) into.dels.add(latin1(op.request.value.key));
      break;
    case "requestTxn":
      for (const o of [...op.request.value.success, ...op.request.value.failure])
        collectKeys(o, into);
      break;
    default:
      break;
  }
}
