import type { Registry } from "prom-client";

/** One label set's histogram: counts kept as plain numbers. */
export interface HistogramSeries {
  observe(value: number): void;
}

export interface SeriesHistogram {
  /**
   * A series of `labels` (the caller keeps it, one per label set). Its labels
   * print in the order of the object's keys; it prints from its first
   * observation on.
   */
  series(labels: Readonly<Record<string, string>>): HistogramSeries;
}

export interface SeriesHistogramOptions {
  name: string;
  help: string;
  /** Upper bounds, ascending. */
  buckets: readonly number[];
  registry: Registry;
}

/**
 * A Prometheus histogram that prints as prom-client's `Histogram` prints
 * (same series in the same first-seen order, same labels and values), for a
 * histogram observed on every call.
 *
 * Why not prom-client's: its `observe(labels, value)` validates the labels,
 * hashes them into a string key and makes a closure and a pair object on
 * each call — about half a kilobyte of garbage per RPC for
 * `grpc_server_handling_seconds`. Here the caller holds its series and an
 * observation only adds to numbers; the registry still formats the output.
 */
export function createSeriesHistogram(options: SeriesHistogramOptions): SeriesHistogram {
  const { name, help, buckets } = options;
  const all: CountedSeries[] = [];
  const metric = {
    name,
    help,
    type: "histogram",
    aggregator: "sum",
    // What prom-client's Histogram.get() returns, built from the counts.
    async get() {
      const values: object[] = [];
      for (const s of all) {
        let cumulative = 0;
        for (let i = 0; i < buckets.length; i++) {
          cumulative += s.counts[i] as number;
          values.push({
            value: cumulative,
            metricName: `${name}_bucket`,
            exemplar: null,
            labels: { le: buckets[i], ...s.labels },
          });
        }
        values.push(
          {
            value: s.count,
            metricName: `${name}_bucket`,
            exemplar: null,
            labels: { le: "+Inf", ...s.labels },
          },
          { value: s.sum, metricName: `${name}_sum`, exemplar: undefined, labels: { ...s.labels } },
          {
            value: s.count,
            metricName: `${name}_count`,
            exemplar: undefined,
            labels: { ...s.labels },
          },
        );
      }
      return { name, help, type: "histogram", values, aggregator: "sum" };
    },
  };
  options.registry.registerMetric(metric as never);
  return {
    series(labels) {
      return new CountedSeries(labels, buckets, all);
    },
  };
}

class CountedSeries implements HistogramSeries {
  /** Observations per bucket (not cumulative); those above the last bound only count. */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
    /** Where a series goes at its first observation: prom-client prints them in that order. */
    private readonly observed: CountedSeries[],
  ) {
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    const { bounds } = this;
    if (this.count === 0) this.observed.push(this);
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        (this.counts[i] as number)++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}
