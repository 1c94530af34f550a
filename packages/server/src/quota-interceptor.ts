import { AlarmType, errNoSpace, nestedTxns, type TxnRequest } from "@conclave/core";
import type { Interceptor, StreamResponse, UnaryRequest, UnaryResponse } from "@connectrpc/connect";
import type { ServerContext } from "./server-context.js";

/** etcd's leaseOverhead in its cost of a LeaseGrant. */
const leaseGrantCost = 64;

interface PutLike {
  key: Uint8Array;
  value: Uint8Array;
}

/** The bytes a txn's puts would add, nested txns included (etcd's costTxn). */
function txnPutBytes(txn: TxnRequest): { bytes: number; puts: boolean } {
  let bytes = 0;
  let puts = false;
  for (const t of nestedTxns(txn)) {
    for (const op of [...t.success, ...t.failure]) {
      if (op.request.case !== "requestPut") continue;
      bytes += op.request.value.key.length + op.request.value.value.length;
      puts = true;
    }
  }
  return { bytes, puts };
}

/**
 * etcd's backend quota and NOSPACE alarm (quotaKVServer, quotaLeaseServer,
 * applierV3Capped), for the write RPCs: Put, Txn and LeaseGrant.
 *
 * - While the NOSPACE alarm is raised, Put, a Txn with puts and LeaseGrant
 *   are refused with `etcdserver: mvcc: database space exceeded`; reads,
 *   deletes, compaction and Alarm keep working, so an operator can make room
 *   (compact, defrag) and disarm.
 * - Otherwise a write that would take the backend past the quota raises
 *   the alarm (durably: it survives restarts) and is refused.
 *
 * Writes the Lock and Election recipes make in-process are not counted
 * (etcd's go through its client and are).
 */
export function createQuotaInterceptor(ctx: ServerContext): Interceptor {
  // Streams pass straight through: no async frame or promise of this layer
  // per stream (clientv3 opens one per KeepAliveOnce and per Watch).
  return (next) => (req) => (req.stream ? next(req) : admit(req, next));

  async function admit(
    req: UnaryRequest,
    next: (req: UnaryRequest) => Promise<UnaryResponse | StreamResponse>,
  ): Promise<UnaryResponse | StreamResponse> {
    let cost: number | undefined;
    let capped = false;
    const path = `${req.service.typeName}/${req.method.name}`;
    if (path === "etcdserverpb.KV/Put") {
      const p = req.message as unknown as PutLike;
      cost = p.key.length + p.value.length;
      capped = true;
    } else if (path === "etcdserverpb.KV/Txn") {
      const t = txnPutBytes(req.message as unknown as TxnRequest);
      cost = t.bytes;
      capped = t.puts;
    } else if (path === "etcdserverpb.Lease/LeaseGrant") {
      cost = leaseGrantCost;
      capped = true;
    }
    if (cost === undefined) return next(req);
    if (capped && ctx.alarms.has(AlarmType.noSpace)) throw errNoSpace;
    if (!ctx.quota.available(cost)) {
      await ctx.alarms.activate(ctx.memberId, AlarmType.noSpace);
      throw errNoSpace;
    }
    return next(req);
  }
}
