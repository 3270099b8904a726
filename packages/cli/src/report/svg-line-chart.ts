import { escapeHtml } from './escape-html';

export interface ChartPoint {
  x: number;
  y: number;
}

export interface ChartSeries {
  label: string;
  points: ChartPoint[];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel?: string;
  /** Draw y on a log10 scale; falls back to linear when any value is not positive. */
  logY?: boolean;
  /** Fix the y range (e.g. [0, 1] for accuracies) instead of fitting it to the data. */
  yDomain?: [number, number];
  width?: number;
  height?: number;
  /** Format tick and tooltip values, e.g. as percentages. */
  formatY?: (value: number) => string;
}

// Colour-blind-safe (Okabe–Ito) palette so series stay distinguishable in print and for most readers.
const SERIES_COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];

const MARGIN = { top: 28, right: 16, bottom: 40, left: 64 };

/**
 * Renders a static line chart as an inline SVG string: axes with rounded ticks, one path per series and a
 * legend. No script runs in the report, so everything (including per-point tooltips via <title>) is markup.
 * Non-finite values are dropped: a NaN loss would otherwise stretch the axis to nothing.
 */
export function renderLineChart(series: readonly ChartSeries[], options: LineChartOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 280;
  const formatY = options.formatY ?? formatNumber;
  const cleanSeries = series
    .map((entry) => ({ label: entry.label, points: entry.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)) }))
    .filter((entry) => entry.points.length > 0);
  const allPoints = cleanSeries.flatMap((entry) => entry.points);
  const heading = `<text class="chart-title" x="${MARGIN.left}" y="18">${escapeHtml(options.title)}</text>`;
  if (allPoints.length === 0) {
    return `<svg class="chart chart-empty" role="img" aria-label="${escapeHtml(options.title)}: no data" width="${width}" height="${height / 2}" viewBox="0 0 ${width} ${height / 2}" xmlns="http://www.w3.org/2000/svg">${heading}<text x="${MARGIN.left}" y="${height / 4 + 10}" class="chart-note">no data logged</text></svg>`;
  }
  const logY = options.logY === true && allPoints.every((p) => p.y > 0);
  const toScaleY = (y: number) => (logY ? Math.log10(y) : y);
  const fromScaleY = (y: number) => (logY ? 10 ** y : y);

  let [xMin, xMax] = extent(allPoints.map((p) => p.x));
  let [yMin, yMax] = options.yDomain ? options.yDomain.map(toScaleY) : extent(allPoints.map((p) => toScaleY(p.y)));
  if (xMin === xMax) [xMin, xMax] = [xMin - 1, xMax + 1];
  if (yMin === yMax) [yMin, yMax] = [yMin - Math.max(Math.abs(yMin) * 0.1, 1e-3), yMax + Math.max(Math.abs(yMax) * 0.1, 1e-3)];
  const xTicks = niceTicks(xMin, xMax, 6);
  const yTicks = logY ? logTicks(yMin, yMax) : niceTicks(yMin, yMax, 5);
  if (!options.yDomain && !logY) [yMin, yMax] = [Math.min(yMin, yTicks[0]), Math.max(yMax, yTicks[yTicks.length - 1])];

  const plotWidth = width - MARGIN.left - MARGIN.right;
  const plotHeight = height - MARGIN.top - MARGIN.bottom;
  const px = (x: number) => MARGIN.left + ((x - xMin) / (xMax - xMin)) * plotWidth;
  const py = (y: number) => MARGIN.top + (1 - (toScaleY(y) - yMin) / (yMax - yMin)) * plotHeight;

  const parts: string[] = [heading];
  parts.push(`<g class="axis">`);
  for (const tick of yTicks) {
    if (tick < yMin - 1e-12 || tick > yMax + 1e-12) continue;
    const y = py(fromScaleY(tick)).toFixed(1);
    parts.push(
      `<line class="grid" x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${y}" y2="${y}"/>`,
      `<text class="tick" x="${MARGIN.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeHtml(formatY(fromScaleY(tick)))}</text>`,
    );
  }
  for (const tick of xTicks) {
    if (tick < xMin || tick > xMax) continue;
    const x = px(tick).toFixed(1);
    parts.push(
      `<text class="tick" x="${x}" y="${height - MARGIN.bottom + 16}" text-anchor="middle">${escapeHtml(formatNumber(tick))}</text>`,
    );
  }
  parts.push(
    `<line class="frame" x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${height - MARGIN.bottom}"/>`,
    `<line class="frame" x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${height - MARGIN.bottom}" y2="${height - MARGIN.bottom}"/>`,
    `<text class="axis-label" x="${MARGIN.left + plotWidth / 2}" y="${height - 6}" text-anchor="middle">${escapeHtml(options.xLabel)}</text>`,
  );
  if (options.yLabel) {
    parts.push(
      `<text class="axis-label" transform="translate(14 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(options.yLabel)}${logY ? ' (log)' : ''}</text>`,
    );
  }
  parts.push(`</g>`);

  cleanSeries.forEach((entry, index) => {
    const colour = SERIES_COLOURS[index % SERIES_COLOURS.length];
    const sorted = [...entry.points].sort((a, b) => a.x - b.x);
    const d = sorted.map((p, i) => `${i === 0 ? 'M' : 'L'}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join('');
    parts.push(`<g class="series" data-series="${escapeHtml(entry.label)}">`);
    parts.push(`<path class="line" d="${d}" stroke="${colour}"/>`);
    // Markers only when few points: they make short curves (per-epoch kNN) readable and give tooltips.
    if (sorted.length <= 60) {
      for (const p of sorted) {
        parts.push(
          `<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="2.5" fill="${colour}"><title>${escapeHtml(`${entry.label} @ ${options.xLabel} ${formatNumber(p.x)}: ${formatY(p.y)}`)}</title></circle>`,
        );
      }
    }
    parts.push(`</g>`);
  });

  if (cleanSeries.length > 1) {
    cleanSeries.forEach((entry, index) => {
      const colour = SERIES_COLOURS[index % SERIES_COLOURS.length];
      const x = MARGIN.left + 8 + index * 130;
      parts.push(
        `<g class="legend"><rect x="${x}" y="${MARGIN.top + 2}" width="10" height="10" fill="${colour}"/><text x="${x + 14}" y="${MARGIN.top + 11}">${escapeHtml(entry.label)}</text></g>`,
      );
    });
  }

  return `<svg class="chart" role="img" aria-label="${escapeHtml(options.title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg">${parts.join('')}</svg>`;
}

function extent(values: number[]): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const value of values) {
    if (value < min) min = value;
    if (value > max) max = value;
  }
  return [min, max];
}

/** Round tick positions (1, 2, 5 × 10^k steps) covering [min, max], as in Heckbert's "nice numbers". */
export function niceTicks(min: number, max: number, count: number): number[] {
  const rawStep = (max - min) / Math.max(count - 1, 1);
  const magnitude = 10 ** Math.floor(Math.log10(rawStep));
  const fraction = rawStep / magnitude;
  const step = (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10) * magnitude;
  const ticks: number[] = [];
  for (let tick = Math.floor(min / step) * step; tick <= max + step * 0.5; tick += step) {
    // Snap away float noise (0.30000000000000004) so labels stay short.
    ticks.push(Number(tick.toPrecision(12)));
  }
  return ticks;
}

function logTicks(minExponent: number, maxExponent: number): number[] {
  const ticks: number[] = [];
  for (let exponent = Math.floor(minExponent); exponent <= Math.ceil(maxExponent); exponent++) ticks.push(exponent);
  return ticks.length >= 2 ? ticks : niceTicks(minExponent, maxExponent, 4);
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude >= 1e5 || magnitude < 1e-3)) return value.toExponential(2);
  return Number(value.toPrecision(4)).toString();
}
