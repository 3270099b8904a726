// A small line chart drawn straight into a PNG (pngjs + the package's 5×7 bitmap font, as the embedding
// map is): one line per series with a ±std band, axes with ticks, a legend.
import { PNG } from 'pngjs';
import { drawText, GLYPH_HEIGHT, textWidth } from './bitmap-font';
import { TABLEAU_10, whiteCanvas } from './canvas';

export interface ChartSeries {
  name: string;
  x: readonly number[];
  mean: readonly number[];
  /** Half-height of the shaded band around the line (e.g. the std over seeds). */
  spread: readonly number[];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  /** Tick label of a y value; default a percentage (accuracies in [0, 1]). */
  yLabelOf?: (y: number) => string;
}

/** Up to this many x values get a tick each and a dot on every line; longer curves get about 10 round ticks. */
const MAX_MARKED_POINTS = 30;

/** About `count` round tick positions (1, 2 or 5 × 10^k apart) covering [low, high]. */
export function roundTicks(low: number, high: number, count = 10): number[] {
  const raw = (high - low) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((candidate) => candidate >= raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let tick = Math.ceil(low / step) * step; tick <= high + 1e-9; tick += step) ticks.push(Number(tick.toPrecision(12)));
  return ticks;
}

/** Tableau 10 with its grey first: the first series is usually the baseline (random sampling, random init). */
const PALETTE = [TABLEAU_10[7], ...TABLEAU_10.slice(0, 7)];

/**
 * One line per series (with its ±spread band) over shared axes, a legend on the right: learning curves,
 * collapse diagnostics over training steps.
 */
export function lineChartPng(series: readonly ChartSeries[], options: LineChartOptions): Buffer {
  const width = options.width ?? 1000;
  const height = options.height ?? 560;
  const left = 70;
  const right = width - 330;
  const top = 64;
  const bottom = height - 56;
  const { png, blend } = whiteCanvas(width, height);
  const xs = series.flatMap((s) => s.x);
  const lows = series.flatMap((s) => s.mean.map((m, i) => m - s.spread[i]));
  const highs = series.flatMap((s) => s.mean.map((m, i) => m + s.spread[i]));
  const [xMin, xMax] = [Math.min(...xs), Math.max(...xs)];
  const yStep = 0.05;
  const yMin = Math.floor(Math.min(...lows) / yStep) * yStep;
  const yMax = Math.ceil(Math.max(...highs) / yStep) * yStep;
  const px = (x: number) => left + ((x - xMin) / Math.max(xMax - xMin, 1e-9)) * (right - left);
  const py = (y: number) => bottom - ((y - yMin) / Math.max(yMax - yMin, 1e-9)) * (bottom - top);
  const ink = [40, 40, 40];
  const grid = [225, 225, 225];

  const yLabelOf = options.yLabelOf ?? ((y: number) => `${Math.round(100 * y)}`);
  const distinctXs = [...new Set(xs)];
  const marked = distinctXs.length <= MAX_MARKED_POINTS;
  for (let y = yMin; y <= yMax + 1e-9; y += yStep) {
    for (let x = left; x <= right; x++) blend(x, py(y), grid, 1);
    const label = yLabelOf(y);
    drawText(label, left - 8 - textWidth(label, 2), py(y) - GLYPH_HEIGHT, 2, (a, b) => blend(a, b, ink, 1));
  }
  for (const x of marked ? distinctXs : roundTicks(xMin, xMax)) {
    for (let y = bottom; y <= bottom + 5; y++) blend(px(x), y, ink, 1);
    const label = `${x}`;
    drawText(label, px(x) - textWidth(label, 2) / 2, bottom + 10, 2, (a, b) => blend(a, b, ink, 1));
  }
  for (let x = left; x <= right; x++) blend(x, bottom, ink, 1);
  for (let y = top; y <= bottom; y++) blend(left, y, ink, 1);
  drawText(options.title, left, 12, 2, (a, b) => blend(a, b, ink, 1));
  drawText(options.xLabel, (left + right) / 2 - textWidth(options.xLabel, 2) / 2, bottom + 32, 2, (a, b) => blend(a, b, ink, 1));
  drawText(options.yLabel, 6, top - 26, 2, (a, b) => blend(a, b, ink, 1));

  series.forEach((s, index) => {
    const color = PALETTE[index % PALETTE.length];
    // The band: for each pixel column between two points, the interpolated mean ± spread, lightly shaded.
    for (let i = 0; i + 1 < s.x.length; i++) {
      const [x0, x1] = [px(s.x[i]), px(s.x[i + 1])];
      for (let x = Math.ceil(x0); x < x1; x++) {
        const t = (x - x0) / (x1 - x0);
        const mean = s.mean[i] + t * (s.mean[i + 1] - s.mean[i]);
        const spread = s.spread[i] + t * (s.spread[i + 1] - s.spread[i]);
        for (let y = Math.round(py(mean + spread)); y <= Math.round(py(mean - spread)); y++) blend(x, y, color, 0.1);
      }
    }
    for (let i = 0; i + 1 < s.x.length; i++) {
      const [x0, y0, x1, y1] = [px(s.x[i]), py(s.mean[i]), px(s.x[i + 1]), py(s.mean[i + 1])];
      const steps = Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0)));
      for (let k = 0; k <= steps; k++) {
        const [x, y] = [x0 + ((x1 - x0) * k) / steps, y0 + ((y1 - y0) * k) / steps];
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) if (dx * dx + dy * dy <= 1) blend(x + dx, y + dy, color, 1);
      }
    }
    for (let i = 0; marked && i < s.x.length; i++) {
      for (let dy = -3; dy <= 3; dy++)
        for (let dx = -3; dx <= 3; dx++) if (dx * dx + dy * dy <= 9) blend(px(s.x[i]) + dx, py(s.mean[i]) + dy, color, 1);
    }
    const legendTop = top + 6 + index * 26;
    for (let y = legendTop; y < legendTop + 14; y++) for (let x = right + 24; x < right + 38; x++) blend(x, y, color, 1);
    drawText(s.name, right + 46, legendTop, 2, (a, b) => blend(a, b, ink, 1));
  });
  return PNG.sync.write(png);
}
