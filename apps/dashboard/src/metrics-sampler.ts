import { type PromSample, parsePrometheus, sumOf } from "./prometheus-text.js";

/** One reading of the server's /metrics, turned into the series the charts show. */
export interface MetricsPoint {
  /** `Date.now()` of the reading. */
  at: number;
  /** Finished RPCs per second since the previous reading, by method name (e.g. "Put"). */
  rates: Record<string, number>;
  /** Watchers open on the server. */
  watchers: number;
  leases: number;
  /** Mean backend commit time since the previous reading, ms (undefined: no commits). */
  commitMs: number | undefined;
  dbSize: number;
  dbInUse: number;
  compactRevision: number;
  /**
   * `etcd_server_quota_backend_bytes`: the backend quota (etcd's 2 GiB by
   * default), negative when quotas are off; undefined when the server does
   * not export it.
   */
  quotaBytes: number | undefined;
}

const quotaSeries = "etcd_server_quota_backend_bytes";

/** Counters of one reading, kept to compute the next reading's rates. */
interface Counters {
  at: number;
  handled: Map<string, number>;
  commitSum: number;
  commitCount: number;
}

function countersOf(samples: PromSample[], at: number): Counters {
  const handled = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== "grpc_server_handled_total") continue;
    const method = s.labels.grpc_method ?? "?";
    handled.set(method, (handled.get(method) ?? 0) + s.value);
  }
  return {
    at,
    handled,
    commitSum: sumOf(samples, "etcd_disk_backend_commit_duration_seconds_sum"),
    commitCount: sumOf(samples, "etcd_disk_backend_commit_duration_seconds_count"),
  };
}

/**
 * Turns successive /metrics texts into chart points: counter deltas become
 * rates (a counter that went down — a restarted server — starts over
 * instead of showing a negative rate). The first reading gives no rates.
 */
export function createMetricsSeries(limit = 90): {
  add(text: string, at: number): MetricsPoint;
  readonly points: readonly MetricsPoint[];
} {
  let prev: Counters | undefined;
  const points: MetricsPoint[] = [];
  return {
    points,
    add(text, at) {
      const samples = parsePrometheus(text);
      const now = countersOf(samples, at);
      const rates: Record<string, number> = {};
      let commitMs: number | undefined;
      if (prev !== undefined && at > prev.at) {
        const secs = (at - prev.at) / 1000;
        for (const [method, n] of now.handled) {
          const d = n - (prev.handled.get(method) ?? 0);
          if (d > 0) rates[method] = d / secs;
        }
        const dc = now.commitCount - prev.commitCount;
        if (dc > 0) commitMs = ((now.commitSum - prev.commitSum) / dc) * 1000;
      }
      prev = now;
      const point: MetricsPoint = {
        at,
        rates,
        watchers: sumOf(samples, "etcd_debugging_mvcc_watcher_total"),
        leases: sumOf(samples, "conclave_leases"),
        commitMs,
        dbSize: sumOf(samples, "etcd_mvcc_db_total_size_in_bytes"),
        dbInUse: sumOf(samples, "etcd_mvcc_db_total_size_in_use_in_bytes"),
        compactRevision: sumOf(samples, "etcd_debugging_mvcc_compact_revision"),
        quotaBytes: samples.some((x) => x.name === quotaSeries)
          ? sumOf(samples, quotaSeries)
          : undefined,
      };
      points.push(point);
      if (points.length > limit) points.shift();
      return point;
    },
  };
}

/** The server's /metrics, read every `pollMs`, for every view that shows it. */
export interface MetricsFeed {
  /** The readings so far (the last few minutes), oldest first. */
  readonly points: readonly MetricsPoint[];
  /** Calls `fn` after each reading; returns the unsubscribe function. */
  subscribe(fn: (points: readonly MetricsPoint[]) => void): () => void;
  stop(): void;
}

/**
 * Reads `${endpoint}/metrics` every `pollMs` (default 2 s) — open without a
 * token, as in etcd — into one series shared by the charts and the cluster
 * panel. A server that is down leaves the last readings as they were.
 */
export function startMetricsFeed(endpoint: string, pollMs = 2_000): MetricsFeed {
  const series = createMetricsSeries();
  const listeners = new Set<(points: readonly MetricsPoint[]) => void>();
  const stopper = new AbortController();
  void (async () => {
    while (!stopper.signal.aborted) {
      try {
        const r = await fetch(`${endpoint}/metrics`, { signal: stopper.signal });
        if (r.ok) {
          series.add(await r.text(), Date.now());
          for (const fn of listeners) fn(series.points);
        }
      } catch {
        // Down: the views keep their last picture under the stale notice.
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  })();
  return {
    get points() {
      return series.points;
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    stop: () => stopper.abort(),
  };
}
