import {
  type CompactionResponse,
  type DeleteRangeResponse,
  type KvApplier,
  nestedTxns,
  type PutResponse,
  type TxnRequest,
  type TxnResponse,
} from "@conclave/core";
import { logEntry } from "./propose-entry.js";
import type { ReplicaLog } from "./replica-log.js";

/** A txn with no write anywhere in it (etcd serves these as reads, without a raft entry). */
function isReadOnly(txn: TxnRequest): boolean {
  for (const t of nestedTxns(txn)) {
    for (const op of [...t.success, ...t.failure]) {
      if (op.request.case === "requestPut" || op.request.case === "requestDeleteRange") {
        return false;
      }
    }
  }
  return true;
}

/**
 * The KV applier of a replica: writes are proposed to the shared log and
 * answered by their apply here; linearizable reads (and read-only txns)
 * first wait for the log's head (ReadIndex); serializable reads are served
 * from the local copy at once, as etcd serves them from a member's state.
 */
export function createReplicatedKv(local: KvApplier, log: ReplicaLog): KvApplier {
  return {
    async range(r, auth) {
      if (!r.serializable) await log.readIndex();
      return local.range(r, auth);
    },
    put: (r, auth) =>
      log.propose(logEntry({ case: "put", value: r } as never, auth)) as Promise<PutResponse>,
    deleteRange: (r, auth) =>
      log.propose(
        logEntry({ case: "deleteRange", value: r } as never, auth),
      ) as Promise<DeleteRangeResponse>,
    async txn(r, auth) {
      if (isReadOnly(r)) {
        await log.readIndex();
        return local.txn(r, auth);
      }
      return log.propose(
        logEntry({ case: "txn", value: r } as never, auth),
      ) as Promise<TxnResponse>;
    },
    compact: (r) =>
      log.propose(
        logEntry({ case: "compaction", value: r } as never),
      ) as Promise<CompactionResponse>,
  };
}
