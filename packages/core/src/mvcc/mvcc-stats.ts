/**
 * What the store has served, counted as etcd 3.4's mvcc counts it for
 * `etcd_mvcc_{range,put,delete,txn}_total` (mvcc/metrics_txn.go): every
 * range, put and delete-range call on a read view or write transaction,
 * whatever asked for it (a Range request, a compare, a `prev_kv` read, a
 * lease revoke deleting its keys, a watcher's `prev_kv`), and every
 * transaction that made more than one such call. Plain numbers, raised in
 * place: the metrics read them when scraped.
 */
export interface MvccStats {
  ranges: number;
  puts: number;
  deletes: number;
  /** Read views and write transactions with more than one range, put or delete call. */
  txns: number;
}

export function createMvccStats(): MvccStats {
  return { ranges: 0, puts: 0, deletes: 0, txns: 0 };
}

/**
 * Counts a txn's range, put or delete call when it made `calls` before it;
 * returns the new number of calls, which the view or txn keeps in a plain
 * variable (no per-txn object). etcd counts a txn at its end when it made
 * more than one call; counting it at the second call gives the same totals
 * without needing an end (read views have none).
 */
export function countTxnCall(stats: MvccStats, calls: number): number {
  if (calls === 1) stats.txns++;
  return calls + 1;
}
