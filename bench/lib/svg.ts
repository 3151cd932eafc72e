// Small SVG charts for the evaluation report: lines, bars and scatter, with axes, ticks and a legend.

export interface Series {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
  readonly color: string;
  readonly dashed?: boolean;
}

const WIDTH = 720;
const HEIGHT = 400;
const MARGIN = { top: 40, right: 190, bottom: 50, left: 70 };
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = HEIGHT - MARGIN.top - MARGIN.bottom;

export const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf'];

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Round tick values covering [min, max]. */
function ticks(min: number, max: number, count = 5): number[] {
  if (max <= min) max = min + 1;
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= raw)!;
  const values: number[] = [];
  let value = Math.floor(min / step) * step;
  values.push(Number(value.toPrecision(12)));
  // Up to the first tick at or above the maximum, so every value is inside the axis.
  while (value < max) {
    value += step;
    values.push(Number(value.toPrecision(12)));
  }
  return values;
}

function frame(title: string, xLabel: string, yLabel: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2 - MARGIN.right / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escape(title)}</text>`,
    `<text x="${MARGIN.left + PLOT_W / 2}" y="${HEIGHT - 10}" text-anchor="middle">${escape(xLabel)}</text>`,
    `<text transform="translate(18 ${MARGIN.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle">${escape(yLabel)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function axes(xTicks: number[], yTicks: number[], x: (value: number) => number, y: (value: number) => number, xFormat: (value: number) => string = String): string[] {
  const parts: string[] = [];
  for (const value of yTicks) {
    parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + PLOT_W}" y1="${y(value)}" y2="${y(value)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${MARGIN.left - 8}" y="${y(value) + 4}" text-anchor="end">${value}</text>`);
  }
  for (const value of xTicks) {
    parts.push(`<line x1="${x(value)}" x2="${x(value)}" y1="${MARGIN.top + PLOT_H}" y2="${MARGIN.top + PLOT_H + 5}" stroke="#333"/>`);
    parts.push(`<text x="${x(value)}" y="${MARGIN.top + PLOT_H + 20}" text-anchor="middle">${escape(xFormat(value))}</text>`);
  }
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#333"/>`);
  return parts;
}

function legend(entries: ReadonlyArray<{ name: string; color: string; dashed?: boolean; dot?: boolean }>): string[] {
  return entries.flatMap((entry, index) => {
    const y = MARGIN.top + 10 + index * 20;
    const x = MARGIN.left + PLOT_W + 15;
    const mark = entry.dot === true
      ? `<circle cx="${x + 12}" cy="${y}" r="4" fill="${entry.color}"/>`
      : `<line x1="${x}" x2="${x + 24}" y1="${y}" y2="${y}" stroke="${entry.color}" stroke-width="2.5"${entry.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`;
    return [mark, `<text x="${x + 32}" y="${y + 4}">${escape(entry.name)}</text>`];
  });
}

/** Ticks and pixel mappings for x and y, covering every point of every series (y from 0). */
function scales(series: readonly Series[]): { xTicks: number[]; yTicks: number[]; x: (value: number) => number; y: (value: number) => number } {
  const xs = series.flatMap((entry) => entry.points.map(([x]) => x));
  const ys = series.flatMap((entry) => entry.points.map(([, y]) => y));
  const xTicks = ticks(Math.min(...xs), Math.max(...xs));
  const yTicks = ticks(0, Math.max(...ys, 0.001));
  return {
    xTicks,
    yTicks,
    x: (value) => MARGIN.left + ((value - xTicks[0]!) / (xTicks.at(-1)! - xTicks[0]!)) * PLOT_W,
    y: (value) => MARGIN.top + PLOT_H - (value / yTicks.at(-1)!) * PLOT_H,
  };
}

export function lineChart(options: { title: string; xLabel: string; yLabel: string; series: readonly Series[] }): string {
  const { xTicks, yTicks, x, y } = scales(options.series);
  const lines = options.series.flatMap((series) => [
    `<polyline fill="none" stroke="${series.color}" stroke-width="2.5"${series.dashed === true ? ' stroke-dasharray="6 4"' : ''} points="${series.points.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ')}"/>`,
    ...series.points.map(([px, py]) => `<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="3.5" fill="${series.color}"/>`),
  ]);
  return frame(options.title, options.xLabel, options.yLabel, [...axes(xTicks, yTicks, x, y), ...lines, ...legend(options.series)]);
}

export function barChart(options: { title: string; yLabel: string; bars: ReadonlyArray<{ label: string; value: number; color?: string }>; reference?: { value: number; label: string } }): string {
  const max = Math.max(...options.bars.map((bar) => bar.value), options.reference?.value ?? 0);
  const yTicks = ticks(0, max);
  const y = (value: number) => MARGIN.top + PLOT_H - (value / yTicks.at(-1)!) * PLOT_H;
  const slot = PLOT_W / options.bars.length;
  const parts = axes([], yTicks, () => 0, y);
  options.bars.forEach((bar, index) => {
    const left = MARGIN.left + index * slot + slot * 0.15;
    parts.push(`<rect x="${left.toFixed(1)}" y="${y(bar.value).toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${(MARGIN.top + PLOT_H - y(bar.value)).toFixed(1)}" fill="${bar.color ?? COLORS[index % COLORS.length]}"/>`);
    parts.push(`<text x="${(left + slot * 0.35).toFixed(1)}" y="${(y(bar.value) - 6).toFixed(1)}" text-anchor="middle">${escape(formatNumber(bar.value))}</text>`);
    parts.push(`<text x="${(left + slot * 0.35).toFixed(1)}" y="${MARGIN.top + PLOT_H + 20}" text-anchor="middle" font-size="11">${escape(bar.label)}</text>`);
  });
  if (options.reference !== undefined) {
    const ry = y(options.reference.value).toFixed(1);
    parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + PLOT_W}" y1="${ry}" y2="${ry}" stroke="#333" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${MARGIN.left + PLOT_W + 6}" y="${Number(ry) + 4}">${escape(options.reference.label)}</text>`);
  }
  return frame(options.title, '', options.yLabel, parts);
}

export function scatterChart(options: { title: string; xLabel: string; yLabel: string; series: readonly Series[]; marker?: { x: number; label: string } }): string {
  const { xTicks, yTicks, x, y } = scales(options.series);
  const parts = axes(xTicks, yTicks, x, y);
  if (options.marker !== undefined) {
    const mx = x(options.marker.x).toFixed(1);
    parts.push(`<line x1="${mx}" x2="${mx}" y1="${MARGIN.top}" y2="${MARGIN.top + PLOT_H}" stroke="#000" stroke-dasharray="5 3"/>`);
    parts.push(`<text x="${Number(mx) + 4}" y="${MARGIN.top + 14}">${escape(options.marker.label)}</text>`);
  }
  for (const series of options.series) {
    for (const [px, py] of series.points) parts.push(`<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="2" fill="${series.color}" fill-opacity="0.6"/>`);
  }
  return frame(options.title, options.xLabel, options.yLabel, [...parts, ...legend(options.series.map((series) => ({ ...series, dot: true })))]);
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}
