// Number and table formatting shared by the bench's reports (bench.ts's
// single-endpoint and --compare tables, replica-compare.ts's table).

import type { RunResult } from "./coord.js";
import { percentile } from "./load.js";

/** Mean of a sample array; NaN when empty. */
export function meanOf(xs: Float64Array): number {
  let sum = 0;
  for (const x of xs) sum += x;
  return xs.length === 0 ? Number.NaN : sum / xs.length;
}

/** Mean of the numbers that are not NaN; NaN when there are none. */
export function mean(xs: number[]): number {
  const ok = xs.filter((x) => !Number.isNaN(x));
  return ok.length === 0 ? Number.NaN : ok.reduce((a, b) => a + b, 0) / ok.length;
}

/** A latency in ms: two decimals under 10 ms, one above; "-" for NaN. */
export const ms = (x: number) =>
  Number.isNaN(x) ? "-" : Math.abs(x) < 10 ? x.toFixed(2) : x.toFixed(1);

/** A rate (or a per-op cost) rounded to an integer, with an optional unit; "-" for NaN. */
export const rate = (x: number, unit = "") =>
  Number.isNaN(x) ? "-" : `${Math.round(x).toString()}${unit ? ` ${unit}` : ""}`;

/** A Markdown table; the first `textCols` columns are left-aligned, the rest right-aligned. */
export function table(header: string[], rows: string[][], textCols = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i < textCols ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  const sep = `|${widths.map((w, i) => (i < textCols ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(header), sep, ...rows.map(line)].join("\n");
}

/** "3x kind; 1x other kind". */
export function errorSummary(kinds: Map<string, number>): string {
  return [...kinds].map(([k, n]) => `${n}x ${k}`).join("; ");
}

/**
 * The progress lines of one timed run in a multi-round comparison: its
 * headline rate and latencies, then its notes and errors.
 */
export function roundLines(
  round: number,
  workload: string,
  target: string,
  r: RunResult,
  elapsedMs: number,
  widths: { workload: number; target: number },
): string {
  const head = r.measures[0];
  const l = head?.latenciesMs ?? new Float64Array();
  const lines = [
    `  round ${round + 1} ${workload.padEnd(widths.workload)} ${target.padEnd(widths.target)} ${rate(head?.rate ?? Number.NaN, head?.unit).padStart(12)}/s  ` +
      `p50 ${ms(percentile(l, 50))}  p99 ${ms(percentile(l, 99))}  ` +
      `max ${ms(percentile(l, 100))} ms  errors ${r.errors}  (${(elapsedMs / 1000).toFixed(1)} s)`,
    ...r.notes.map((n) => `      ${n}`),
    ...(r.errors > 0 ? [`      errors: ${errorSummary(r.errorKinds)}`] : []),
  ];
  return `${lines.join("\n")}\n`;
}
