const svgNs = "http://www.w3.org/2000/svg";

/** One line of a chart: its name and values (undefined leaves a gap). */
export interface ChartLine {
  name: string;
  values: ReadonlyArray<number | undefined>;
}

/** Line colours, in order (CSS variables, so both themes fit). */
const colours = ["var(--accent)", "var(--ok)", "var(--warn)", "var(--bad)", "var(--muted)"];

/**
 * A small line chart in hand-written SVG: every line scaled to the largest
 * value shown, newest at the right; no library, no request anywhere.
 * `format` writes the maximum on the axis.
 */
export function lineChart(
  title: string,
  lines: readonly ChartLine[],
  format: (v: number) => string,
  size = { width: 280, height: 80 },
): SVGSVGElement {
  const { width, height } = size;
  const svg = document.createElementNS(svgNs, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("class", "chart");
  const max = Math.max(
    0,
    ...lines.flatMap((l) => l.values.filter((v): v is number => v !== undefined)),
  );
  const label = document.createElementNS(svgNs, "title");
  label.textContent = `${title}: max ${format(max)}`;
  svg.append(label);
  const top = max === 0 ? 1 : max * 1.1;
  lines.forEach((line, i) => {
    const n = line.values.length;
    const step = n > 1 ? width / (n - 1) : width;
    let d = "";
    let pen = false;
    line.values.forEach((v, j) => {
      if (v === undefined) {
        pen = false;
        return;
      }
      const x = (j * step).toFixed(1);
      const y = (height - 2 - (v / top) * (height - 14)).toFixed(1);
      d += `${pen ? "L" : "M"}${x} ${y} `;
      pen = true;
    });
    const path = document.createElementNS(svgNs, "path");
    path.setAttribute("d", d.trim());
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", colours[i % colours.length] as string);
    path.setAttribute("stroke-width", "1.5");
    path.setAttribute("data-line", line.name);
    svg.append(path);
  });
  const axis = document.createElementNS(svgNs, "text");
  axis.setAttribute("x", "2");
  axis.setAttribute("y", "10");
  axis.setAttribute("class", "chart-axis");
  axis.textContent = format(max);
  svg.append(axis);
  return svg;
}
