import { fill, h } from "./dom.js";
import type { MetricsFeed, MetricsPoint } from "./metrics-sampler.js";
import { panel } from "./panel.js";
import { type ChartLine, lineChart } from "./svg-chart.js";

/** Most methods drawn on the requests chart (the busiest in the window). */
const topMethods = 4;

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
const perSec = (v: number) => `${v < 10 ? v.toFixed(1) : Math.round(v)}/s`;
const ms = (v: number) => `${v.toFixed(2)} ms`;
const whole = (v: number) => String(Math.round(v));

/**
 * Live charts fed by the server's own Prometheus /metrics (same origin as
 * the API, open without a token as in etcd): requests per second by
 * method, watchers, leases, mean commit latency and DB size, over the last
 * few minutes. Returns the stop function.
 */
export function mountChartsView(
  parent: HTMLElement,
  endpoint: string,
  metrics: MetricsFeed,
): () => void {
  const { root, body } = panel(
    "charts",
    "Server metrics",
    `From ${endpoint}/metrics every 2 s: the last 3 minutes.`,
  );
  parent.append(root);

  const figure = (
    id: string,
    title: string,
    lines: ChartLine[],
    latest: string,
    format: (v: number) => string,
  ) =>
    h(
      "figure",
      { class: "chart-box", "data-testid": `chart-${id}` },
      h(
        "figcaption",
        {},
        title,
        " ",
        h("span", { class: "mono", "data-testid": `chart-${id}-value` }, latest),
      ),
      lineChart(title, lines, format),
      lines.length > 1 &&
        h(
          "ul",
          { class: "legend" },
          lines.map((l, i) => h("li", { class: `legend-${i}` }, l.name)),
        ),
    );

  function render(points: readonly MetricsPoint[]): void {
    const last = points.at(-1);
    if (last === undefined) return;
    const totals = new Map<string, number>();
    for (const p of points)
      for (const [m, r] of Object.entries(p.rates)) totals.set(m, (totals.get(m) ?? 0) + r);
    const methods = [...totals.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topMethods)
      .map(([m]) => m);
    const all = Object.values(last.rates).reduce((a, b) => a + b, 0);
    fill(
      body,
      h(
        "p",
        { class: "muted" },
        "compacted revision ",
        h(
          "span",
          { class: "mono", "data-testid": "metrics-compact-revision" },
          // The metric is -1 until the first compaction.
          last.compactRevision > 0 ? last.compactRevision : "none yet",
        ),
      ),
      h(
        "div",
        { class: "charts" },
        figure(
          "requests",
          "requests/s",
          methods.map((m) => ({ name: m, values: points.map((p) => p.rates[m] ?? 0) })),
          perSec(all),
          perSec,
        ),
        figure(
          "watchers",
          "watchers",
          [{ name: "watchers", values: points.map((p) => p.watchers) }],
          whole(last.watchers),
          whole,
        ),
        figure(
          "leases",
          "leases",
          [{ name: "leases", values: points.map((p) => p.leases) }],
          whole(last.leases),
          whole,
        ),
        figure(
          "commit",
          "commit latency",
          [{ name: "mean commit", values: points.map((p) => p.commitMs) }],
          last.commitMs === undefined ? "–" : ms(last.commitMs),
          ms,
        ),
        figure(
          "db",
          "DB size",
          [
            { name: "size", values: points.map((p) => p.dbSize) },
            { name: "in use", values: points.map((p) => p.dbInUse) },
          ],
          `${mib(last.dbSize)} (in use ${mib(last.dbInUse)})`,
          mib,
        ),
      ),
    );
  }

  render(metrics.points);
  return metrics.subscribe(render);
}
