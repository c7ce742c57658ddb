// PNG charts (training curves, ROC curves, benchmark bars) and annotations
// on photos (detection boxes, landmarks, labels), drawn straight into RGBA
// buffers with the bitmap font in font.ts: no canvas or font dependencies.

import { CELL_HEIGHT, CELL_WIDTH, GLYPH_HEIGHT, GLYPH_WIDTH, glyphPixel, glyphRows } from './font.js';
import { encodePng } from './image.js';

export type Rgb = readonly [number, number, number];

/** Distinct colours for series and bars (Tableau 10). */
export const PALETTE: readonly Rgb[] = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];

const WHITE: Rgb = [255, 255, 255];
const INK: Rgb = [34, 34, 34];
const GRID: Rgb = [228, 228, 228];
const AXIS: Rgb = [90, 90, 90];

// ---------------------------------------------------------------------------
// Drawing on RGBA buffers. Coordinates are pixels, (0, 0) the top-left
// corner; anything outside the image is clipped, so boxes may stick out.

interface Surface {
  data: Uint8Array;
  width: number;
  height: number;
}

function surface(rgba: Uint8Array, width: number, height: number): Surface {
  if (rgba.length !== width * height * 4) {
    throw new Error(`drawing on ${width}x${height} RGBA needs ${width * height * 4} bytes, got ${rgba.length}`);
  }
  return { data: rgba, width, height };
}

/** Blends `colour` over the pixel with opacity `alpha` (0-1); alpha stays opaque. */
function blend(s: Surface, x: number, y: number, colour: Rgb, alpha = 1): void {
  if (x < 0 || y < 0 || x >= s.width || y >= s.height || alpha <= 0) return;
  const i = (y * s.width + x) * 4;
  const a = Math.min(alpha, 1);
  for (let c = 0; c < 3; c++) s.data[i + c] = Math.round(s.data[i + c] + (colour[c] - s.data[i + c]) * a);
  s.data[i + 3] = 255;
}

/** Fills the pixels with x in [x0, x1) and y in [y0, y1). */
function fillRect(s: Surface, x0: number, y0: number, x1: number, y1: number, colour: Rgb): void {
  const xa = Math.max(0, Math.round(x0));
  const xb = Math.min(s.width, Math.round(x1));
  const ya = Math.max(0, Math.round(y0));
  const yb = Math.min(s.height, Math.round(y1));
  for (let y = ya; y < yb; y++) for (let x = xa; x < xb; x++) blend(s, x, y, colour);
}

/**
 * Outlines box [x1, y1, x2, y2] (corners in pixels, as detectors return
 * them) with lines `thickness` pixels wide drawn inside the box edges.
 */
export function drawBox(
  rgba: Uint8Array, width: number, height: number,
  box: readonly [number, number, number, number], colour: Rgb, thickness = 2,
): void {
  const s = surface(rgba, width, height);
  const [x1, y1, x2, y2] = box.map(Math.round);
  const t = Math.max(1, Math.round(thickness));
  fillRect(s, x1, y1, x2, y1 + t, colour);
  fillRect(s, x1, y2 - t, x2, y2, colour);
  fillRect(s, x1, y1, x1 + t, y2, colour);
  fillRect(s, x2 - t, y1, x2, y2, colour);
}

/** A filled, anti-aliased disc centred on (x, y), e.g. a facial landmark. */
export function drawPoint(
  rgba: Uint8Array, width: number, height: number, x: number, y: number, colour: Rgb, radius = 2,
): void {
  fillDisc(surface(rgba, width, height), x, y, radius, colour);
}

function fillDisc(s: Surface, cx: number, cy: number, radius: number, colour: Rgb): void {
  for (let y = Math.floor(cy - radius - 1); y <= Math.ceil(cy + radius + 1); y++) {
    for (let x = Math.floor(cx - radius - 1); x <= Math.ceil(cx + radius + 1); x++) {
      const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
      blend(s, x, y, colour, radius + 0.5 - d);
    }
  }
}

/** Width in pixels of `text` (its longest line) at an integer `scale`. */
export function textWidth(text: string, scale = 1): number {
  const longest = Math.max(...text.split('\n').map((line) => line.length));
  return longest === 0 ? 0 : (longest * CELL_WIDTH - 1) * textScale(scale);
}

/** Height in pixels of `text` at an integer `scale` (descender row included). */
export function textHeight(text: string, scale = 1): number {
  const lines = text.split('\n').length;
  return (lines * CELL_HEIGHT - 1) * textScale(scale);
}

function textScale(scale: number): number {
  return Math.max(1, Math.round(scale));
}

/**
 * Writes `text` with its top-left corner at (x, y), each font pixel a
 * scale x scale square. `background` fills a box behind it (with a margin of
 * one font pixel) so labels stay readable on photos. '\n' starts a new line.
 */
export function drawText(
  rgba: Uint8Array, width: number, height: number, x: number, y: number,
  text: string, colour: Rgb, scale = 1, background?: Rgb,
): void {
  const s = surface(rgba, width, height);
  const k = textScale(scale);
  if (background) {
    fillRect(s, x - k, y - k, x + textWidth(text, k) + k, y + textHeight(text, k) + k, background);
  }
  text.split('\n').forEach((line, row) => {
    [...line].forEach((char, col) => {
      drawGlyph(s, glyphRows(char), Math.round(x) + col * CELL_WIDTH * k, Math.round(y) + row * CELL_HEIGHT * k, k, colour, false);
    });
  });
}

/**
 * One glyph at (x, y). Upright, (x, y) is its top-left corner. `rotated`
 * turns it 90 degrees counter-clockwise (text reading upwards, as on a
 * y axis); (x, y) is then its bottom-left corner.
 */
function drawGlyph(s: Surface, rows: readonly number[], x: number, y: number, k: number, colour: Rgb, rotated: boolean): void {
  for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
    for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
      if (!glyphPixel(rows, gx, gy)) continue;
      const px = rotated ? x + gy * k : x + gx * k;
      const py = rotated ? y - (gx + 1) * k : y + gy * k;
      fillRect(s, px, py, px + k, py + k, colour);
    }
  }
}

/** Text reading upwards whose left end is at the bottom: (x, y) is the bottom-left corner. */
function drawTextUpwards(s: Surface, x: number, y: number, text: string, colour: Rgb, k: number): void {
  [...text].forEach((char, i) => drawGlyph(s, glyphRows(char), x, y - i * CELL_WIDTH * k, k, colour, true));
}

/**
 * An anti-aliased line segment `lineWidth` pixels wide, drawn only inside
 * `clip` ([x0, y0, x1, y1], pixels). Coverage of each pixel comes from its
 * centre's distance to the segment.
 */
function strokeSegment(
  s: Surface, ax: number, ay: number, bx: number, by: number, colour: Rgb, lineWidth: number,
  clip: readonly [number, number, number, number],
): void {
  const r = lineWidth / 2;
  const xa = Math.max(clip[0], Math.floor(Math.min(ax, bx) - r - 1));
  const xb = Math.min(clip[2], Math.ceil(Math.max(ax, bx) + r + 1));
  const ya = Math.max(clip[1], Math.floor(Math.min(ay, by) - r - 1));
  const yb = Math.min(clip[3], Math.ceil(Math.max(ay, by) + r + 1));
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  for (let y = ya; y < yb; y++) {
    for (let x = xa; x < xb; x++) {
      const px = x + 0.5 - ax;
      const py = y + 0.5 - ay;
      const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, (px * dx + py * dy) / len2));
      const d = Math.hypot(px - t * dx, py - t * dy);
      blend(s, x, y, colour, r + 0.5 - d);
    }
  }
}

// ---------------------------------------------------------------------------
// Axes

/** Tick positions at 1, 2 or 5 times a power of ten, and the step. */
function niceTicks(lo: number, hi: number, approxCount: number): { ticks: number[]; step: number } {
  const raw = (hi - lo) / Math.max(1, approxCount);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / magnitude;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
  const ticks: number[] = [];
  for (let i = Math.ceil(lo / step - 1e-9); i * step <= hi + step * 1e-9; i++) ticks.push(i * step);
  return { ticks, step };
}

/** Widens [lo, hi] to whole tick steps; a zero-width range becomes one around the value. */
function niceDomain(lo: number, hi: number, approxCount: number): [number, number] {
  if (!(hi > lo)) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    [lo, hi] = [lo - pad, hi + pad];
  }
  const { step } = niceTicks(lo, hi, approxCount);
  return [Math.floor(lo / step + 1e-9) * step, Math.ceil(hi / step - 1e-9) * step];
}

function formatTick(v: number, step: number): string {
  if (Math.abs(v) < step * 1e-6) return '0';
  const abs = Math.abs(v);
  if (abs >= 1e6 || abs < 1e-4) return v.toExponential(1).replace('.0e', 'e').replace('e+', 'e');
  return v.toFixed(Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
}

/** A number in about 4 significant digits, for value labels. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

interface Axis {
  /** Data value -> pixel coordinate. */
  toPixel(v: number): number;
  ticks: { value: number; label: string; major: boolean }[];
}

function linearAxis(lo: number, hi: number, p0: number, p1: number, ticks: number[], step: number): Axis {
  return {
    toPixel: (v) => p0 + ((v - lo) / (hi - lo)) * (p1 - p0),
    ticks: ticks.map((value) => ({ value, label: formatTick(value, step), major: true })),
  };
}

/** Log10 axis over whole decades; minor ticks at 2-9 when it spans few decades. */
function logAxis(lo: number, hi: number, p0: number, p1: number): Axis {
  const d0 = Math.floor(Math.log10(lo) + 1e-9);
  let d1 = Math.ceil(Math.log10(hi) - 1e-9);
  if (d1 === d0) d1 = d0 + 1;
  const ticks: Axis['ticks'] = [];
  const every = Math.ceil((d1 - d0) / 8); // at most ~8 labelled decades
  for (let d = d0; d <= d1; d++) {
    const value = 10 ** d;
    ticks.push({ value, label: (d - d0) % every === 0 ? formatLogTick(d) : '', major: true });
    if (d < d1 && d1 - d0 <= 4) for (let m = 2; m <= 9; m++) ticks.push({ value: m * value, label: '', major: false });
  }
  const l0 = d0;
  const l1 = d1;
  return { toPixel: (v) => p0 + ((Math.log10(v) - l0) / (l1 - l0)) * (p1 - p0), ticks };
}

function formatLogTick(decade: number): string {
  return decade >= -4 && decade <= 5 ? String(Number((10 ** decade).toPrecision(1))) : `1e${decade}`;
}

// ---------------------------------------------------------------------------
// Charts

export interface LineSeries {
  name: string;
  points: readonly (readonly [number, number])[];
  colour?: Rgb;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  width?: number;
  height?: number;
  /** Logarithmic y axis; points with y <= 0 are left out (the line breaks there). */
  logY?: boolean;
  /** Fixed axis ranges, e.g. [0, 1] for ROC curves; default: the data's, widened to whole ticks. */
  xRange?: readonly [number, number];
  yRange?: readonly [number, number];
}

const TITLE_SCALE = 2;
const LABEL_SCALE = 2;
const TICK_SCALE = 1;
const LEGEND_SCALE = 1;

/**
 * A line chart as PNG bytes: one line per series (non-finite points break the
 * line), ticks at round numbers, a legend in the plot corner that covers
 * the least data. Series with at most 40 points also get a dot per point.
 */
export function lineChart(opts: LineChartOptions): Uint8Array {
  const { width = 800, height = 500, logY = false } = opts;
  checkChartSize('lineChart', width, height);
  const s: Surface = { data: new Uint8Array(width * height * 4).fill(255), width, height };

  // Keep only drawable points; NaN separates runs so lines break at gaps.
  const series = opts.series.map((sr, i) => ({
    name: sr.name,
    colour: sr.colour ?? PALETTE[i % PALETTE.length],
    points: sr.points.map(([x, y]) =>
      Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0) ? ([x, y] as const) : ([NaN, NaN] as const),
    ),
  }));
  const finite = series.flatMap((sr) => sr.points.filter(([x]) => !Number.isNaN(x)));

  // Layout: title on top, y label and tick labels on the left, x below.
  const titleBottom = opts.title ? 12 + textHeight(opts.title, TITLE_SCALE) : 0;
  const tickH = textHeight('0', TICK_SCALE);
  const plotTop = titleBottom + 16;
  const plotBottom = height - (12 + textHeight(opts.xLabel || '0', LABEL_SCALE) + 8 + tickH + 8);
  const plotRight = width - 24;
  if (plotBottom - plotTop < 40) throw new Error(`lineChart: height ${height} leaves no room for the plot`);

  for (const [name, range] of [['xRange', opts.xRange], ['yRange', opts.yRange]] as const) {
    if (range && !(range[1] > range[0])) throw new Error(`lineChart: ${name} must be [low, high] with low < high, got [${range}]`);
  }
  if (logY && opts.yRange && opts.yRange[0] <= 0) throw new Error(`lineChart: logY needs yRange above 0, got [${opts.yRange}]`);
  const yExtent = extent(finite.map(([, y]) => y), logY ? [0.1, 1] : [0, 1]);
  let yAxis: Axis;
  if (logY) {
    yAxis = logAxis(...(opts.yRange ?? yExtent), plotBottom, plotTop);
  } else {
    const approx = Math.max(2, Math.round((plotBottom - plotTop) / 50));
    const [lo, hi] = opts.yRange ?? niceDomain(...yExtent, approx);
    const { ticks, step } = niceTicks(lo, hi, approx);
    yAxis = linearAxis(lo, hi, plotBottom, plotTop, ticks, step);
  }
  const yTickWidth = Math.max(...yAxis.ticks.map((t) => textWidth(t.label, TICK_SCALE)));
  const plotLeft = 12 + (opts.yLabel ? textHeight(opts.yLabel, LABEL_SCALE) + 10 : 0) + yTickWidth + 8;
  if (plotRight - plotLeft < 40) throw new Error(`lineChart: width ${width} leaves no room for the plot`);
  const xApprox = Math.max(2, Math.round((plotRight - plotLeft) / 90));
  const [xLo, xHi] = opts.xRange ?? niceDomain(...extent(finite.map(([x]) => x), [0, 1]), xApprox);
  const xTicks = niceTicks(xLo, xHi, xApprox);
  const xAxis = linearAxis(xLo, xHi, plotLeft, plotRight, xTicks.ticks, xTicks.step);
  const clip = [plotLeft, plotTop, plotRight + 1, plotBottom + 1] as const;

  drawTitle(s, opts.title);
  // Grid and ticks.
  for (const t of yAxis.ticks) {
    const py = Math.round(yAxis.toPixel(t.value));
    if (py < plotTop - 0.5 || py > plotBottom + 0.5) continue;
    fillRect(s, plotLeft, py, plotRight + 1, py + 1, t.major ? GRID : [242, 242, 242]);
    fillRect(s, plotLeft - (t.major ? 5 : 3), py, plotLeft, py + 1, AXIS);
    if (t.label) {
      drawTextOn(s, plotLeft - 8 - textWidth(t.label, TICK_SCALE), py - Math.floor(7 * TICK_SCALE / 2), t.label, INK, TICK_SCALE);
    }
  }
  for (const t of xAxis.ticks) {
    const px = Math.round(xAxis.toPixel(t.value));
    if (px < plotLeft - 0.5 || px > plotRight + 0.5) continue;
    fillRect(s, px, plotTop, px + 1, plotBottom + 1, GRID);
    fillRect(s, px, plotBottom + 1, px + 1, plotBottom + 6, AXIS);
    drawTextOn(s, px - textWidth(t.label, TICK_SCALE) / 2, plotBottom + 8, t.label, INK, TICK_SCALE);
  }
  fillRect(s, plotLeft, plotTop, plotLeft + 1, plotBottom + 1, AXIS);
  fillRect(s, plotLeft, plotBottom, plotRight + 1, plotBottom + 1, AXIS);
  // Axis labels.
  if (opts.xLabel) {
    const w = textWidth(opts.xLabel, LABEL_SCALE);
    drawTextOn(s, (plotLeft + plotRight - w) / 2, height - 12 - textHeight(opts.xLabel, LABEL_SCALE), opts.xLabel, INK, LABEL_SCALE);
  }
  if (opts.yLabel) {
    const w = textWidth(opts.yLabel, LABEL_SCALE);
    drawTextUpwards(s, 12, Math.round((plotTop + plotBottom + w) / 2), opts.yLabel, INK, LABEL_SCALE);
  }

  // Data.
  const pixelSeries = series.map((sr) => ({
    ...sr,
    pixels: sr.points.map(([x, y]) => (Number.isNaN(x) ? null : ([xAxis.toPixel(x), yAxis.toPixel(y)] as const))),
  }));
  for (const sr of pixelSeries) {
    for (let i = 1; i < sr.pixels.length; i++) {
      const a = sr.pixels[i - 1];
      const b = sr.pixels[i];
      if (a && b) strokeSegment(s, a[0], a[1], b[0], b[1], sr.colour, 2, clip);
    }
    const drawn = sr.pixels.filter((p) => p !== null);
    if (drawn.length <= 40) {
      for (const [px, py] of drawn) if (px >= clip[0] && px < clip[2] && py >= clip[1] && py < clip[3]) fillDisc(s, px, py, 2.5, sr.colour);
    }
  }
  if (finite.length === 0) drawCentred(s, (plotLeft + plotRight) / 2, (plotTop + plotBottom) / 2, '(no data)', AXIS, 2);

  const named = pixelSeries.filter((sr) => sr.name);
  if (named.length > 0) drawLineLegend(s, named, [plotLeft, plotTop, plotRight, plotBottom]);
  return encodePng(s.data, width, height);
}

/** [min, max] of the values (a loop: spreading 100k+ training steps into Math.min overflows the stack). */
function extent(values: readonly number[], ifEmpty: [number, number]): [number, number] {
  if (values.length === 0) return ifEmpty;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

function drawTextOn(s: Surface, x: number, y: number, text: string, colour: Rgb, scale: number, background?: Rgb): void {
  drawText(s.data, s.width, s.height, Math.round(x), Math.round(y), text, colour, scale, background);
}

function drawCentred(s: Surface, cx: number, cy: number, text: string, colour: Rgb, scale: number): void {
  drawTextOn(s, cx - textWidth(text, scale) / 2, cy - textHeight(text, scale) / 2, text, colour, scale);
}

function drawTitle(s: Surface, title: string): void {
  if (title) drawTextOn(s, (s.width - textWidth(title, TITLE_SCALE)) / 2, 12, title, INK, TITLE_SCALE);
}

type PixelSeries = { name: string; colour: Rgb; pixels: (readonly [number, number] | null)[] };

/** Legend box in whichever plot corner has the fewest line pixels under it. */
function drawLineLegend(s: Surface, series: PixelSeries[], plot: [number, number, number, number]): void {
  const k = LEGEND_SCALE;
  const rowH = CELL_HEIGHT * k + 6;
  const swatch = 22;
  const boxW = 8 + swatch + 6 + Math.max(...series.map((sr) => textWidth(sr.name, k))) + 8;
  const boxH = 6 + series.length * rowH;
  const [l, t, r, b] = plot;
  const corners: [number, number][] = [
    [r - 8 - boxW, t + 8], [l + 8, t + 8], [r - 8 - boxW, b - 8 - boxH], [l + 8, b - 8 - boxH],
  ];
  const covered = ([x0, y0]: [number, number]) => {
    let n = 0;
    for (const sr of series) {
      for (let i = 1; i < sr.pixels.length; i++) {
        const a = sr.pixels[i - 1];
        const c = sr.pixels[i];
        if (!a || !c) continue;
        const steps = Math.max(1, Math.ceil(Math.hypot(c[0] - a[0], c[1] - a[1]) / 3));
        for (let j = 0; j <= steps; j++) {
          const x = a[0] + ((c[0] - a[0]) * j) / steps;
          const y = a[1] + ((c[1] - a[1]) * j) / steps;
          if (x >= x0 && x <= x0 + boxW && y >= y0 && y <= y0 + boxH) n++;
        }
      }
    }
    return n;
  };
  const scores = corners.map(covered);
  const [x0, y0] = corners[scores.indexOf(Math.min(...scores))];
  fillRect(s, x0, y0, x0 + boxW, y0 + boxH, WHITE);
  outline(s, x0, y0, x0 + boxW, y0 + boxH, [200, 200, 200]);
  series.forEach((sr, i) => {
    const cy = y0 + 6 + i * rowH + Math.floor((7 * k) / 2);
    fillRect(s, x0 + 8, cy - 1, x0 + 8 + swatch, cy + 2, sr.colour);
    drawTextOn(s, x0 + 8 + swatch + 6, cy - Math.floor((7 * k) / 2), sr.name, INK, k);
  });
}

function outline(s: Surface, x0: number, y0: number, x1: number, y1: number, colour: Rgb): void {
  drawBox(s.data, s.width, s.height, [x0, y0, x1, y1], colour, 1);
}

function checkChartSize(fn: string, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 200 || height < 120) {
    throw new Error(`${fn}: width and height must be integers of at least 200x120, got ${width}x${height}`);
  }
}

export interface Bar {
  label: string;
  value: number;
  /** A second value drawn as a thinner bar under the first (e.g. another metric). */
  secondary?: number;
}

export interface BarChartOptions {
  title: string;
  bars: readonly Bar[];
  /** Names the value axis (and the main bars in the legend when there are secondary values). */
  valueLabel: string;
  /** Names the secondary bars in the legend. */
  secondaryLabel?: string;
  width?: number;
  /** Default: enough for every bar. */
  height?: number;
  /** Right end of the value axis (e.g. 1 for a share of peak); default: the data's, rounded up. */
  maxValue?: number;
  /** Text written after each bar; default: about 4 significant digits. */
  format?: (value: number) => string;
}

const BAR_LABEL_SCALE = 1;

/**
 * Horizontal bars, one row each, labels on the left (long ones are cut with
 * '...'), the value written after each bar. Bars longer than maxValue are cut
 * at the axis end and marked with a notch.
 */
export function barChart(opts: BarChartOptions): Uint8Array {
  const { bars, width = 800, format = formatValue } = opts;
  const hasSecondary = bars.some((b) => b.secondary !== undefined);
  const k = BAR_LABEL_SCALE;
  const rowH = hasSecondary ? 30 : 22;
  const titleBottom = opts.title ? 12 + textHeight(opts.title, TITLE_SCALE) : 0;
  const legendH = hasSecondary ? CELL_HEIGHT * LEGEND_SCALE + 10 : 0;
  const plotTop = titleBottom + 12 + legendH;
  const axisH = 8 + textHeight('0', TICK_SCALE) + 10 + textHeight(opts.valueLabel || '0', LABEL_SCALE) + 12;
  const height = opts.height ?? Math.max(120, plotTop + Math.max(1, bars.length) * rowH + axisH);
  checkChartSize('barChart', width, height);
  const s: Surface = { data: new Uint8Array(width * height * 4).fill(255), width, height };
  const plotBottom = height - axisH;
  const rows = Math.max(1, bars.length);
  const rowSpace = (plotBottom - plotTop) / rows;
  if (rowSpace < CELL_HEIGHT * k) throw new Error(`barChart: height ${height} is too small for ${bars.length} bars`);

  // Label column: as wide as the longest label, but at most 45% of the image.
  const maxLabelW = Math.floor(width * 0.45);
  const labels = bars.map((b) => fitText(b.label, maxLabelW, k));
  const labelW = Math.max(0, ...labels.map((l) => textWidth(l, k)));
  const plotLeft = 12 + labelW + 10;
  const valueTextW = Math.max(0, ...bars.flatMap((b) => [b.value, b.secondary ?? 0]).map((v) => textWidth(format(v), k)));
  const plotRight = width - 16 - valueTextW - 6;
  if (plotRight - plotLeft < 40) throw new Error(`barChart: width ${width} leaves no room for bars`);

  const values = bars.flatMap((b) => [b.value, ...(b.secondary !== undefined ? [b.secondary] : [])]).filter(Number.isFinite);
  const [dataMin, dataMax] = extent(values, [0, 1]);
  const lo = Math.min(0, dataMin);
  const approx = Math.max(2, Math.round((plotRight - plotLeft) / 90));
  const hi = opts.maxValue ?? niceDomain(lo, dataMax > lo ? dataMax : lo + 1, approx)[1];
  if (!(hi > lo)) throw new Error(`barChart: maxValue ${hi} must be above the smallest value ${lo}`);
  const { ticks, step } = niceTicks(lo, hi, approx);
  const axis = linearAxis(lo, hi, plotLeft, plotRight, ticks, step);
  const clampPx = (v: number) => Math.max(plotLeft, Math.min(plotRight, axis.toPixel(v)));

  drawTitle(s, opts.title);
  if (hasSecondary) {
    const legend: [string, Rgb][] = [[opts.valueLabel, PALETTE[0]], [opts.secondaryLabel ?? 'secondary', PALETTE[1]]];
    let x = plotLeft;
    for (const [name, colour] of legend) {
      fillRect(s, x, titleBottom + 12, x + 14, titleBottom + 12 + 7 * LEGEND_SCALE, colour);
      drawTextOn(s, x + 20, titleBottom + 12, name, INK, LEGEND_SCALE);
      x += 20 + textWidth(name, LEGEND_SCALE) + 24;
    }
  }
  for (const t of ticks) {
    const px = Math.round(axis.toPixel(t));
    fillRect(s, px, plotTop, px + 1, plotBottom, GRID);
    fillRect(s, px, plotBottom, px + 1, plotBottom + 5, AXIS);
    drawTextOn(s, px - textWidth(formatTick(t, step), TICK_SCALE) / 2, plotBottom + 8, formatTick(t, step), INK, TICK_SCALE);
  }
  if (bars.length === 0) drawCentred(s, (plotLeft + plotRight) / 2, (plotTop + plotBottom) / 2, '(no data)', AXIS, 2);

  const zero = clampPx(0);
  bars.forEach((bar, i) => {
    const top = plotTop + i * rowSpace;
    const mid = top + rowSpace / 2;
    drawTextOn(s, plotLeft - 10 - textWidth(labels[i], k), mid - (7 * k) / 2, labels[i], INK, k);
    const main = hasSecondary ? [top + rowSpace * 0.12, top + rowSpace * 0.56] : [top + rowSpace * 0.18, top + rowSpace * 0.82];
    drawBar(s, bar.value, main, PALETTE[0]);
    if (bar.secondary !== undefined) drawBar(s, bar.secondary, [top + rowSpace * 0.6, top + rowSpace * 0.88], PALETTE[1]);
  });
  fillRect(s, zero, plotTop, zero + 1, plotBottom + 1, AXIS);
  fillRect(s, plotLeft, plotBottom, plotRight + 1, plotBottom + 1, AXIS);
  if (opts.valueLabel) {
    const w = textWidth(opts.valueLabel, LABEL_SCALE);
    drawTextOn(s, (plotLeft + plotRight - w) / 2, height - 12 - textHeight(opts.valueLabel, LABEL_SCALE), opts.valueLabel, INK, LABEL_SCALE);
  }
  return encodePng(s.data, width, height);

  function drawBar(surf: Surface, value: number, [y0, y1]: number[], colour: Rgb): void {
    if (!Number.isFinite(value)) {
      drawTextOn(surf, zero + 4, (y0 + y1) / 2 - (7 * k) / 2, format(value), INK, k);
      return;
    }
    const end = clampPx(value);
    fillRect(surf, Math.min(zero, end), y0, Math.max(zero, end) + (value === 0 ? 1 : 0), y1, colour);
    if (value > hi) fillRect(surf, plotRight - 6, y0, plotRight - 4, y1, WHITE); // cut-off notch
    const text = format(value);
    const tx = value >= 0 ? Math.max(zero, end) + 5 : Math.min(zero, end) - 5 - textWidth(text, k);
    drawTextOn(surf, tx, (y0 + y1) / 2 - (7 * k) / 2, text, INK, k);
  }
}

/** `text` cut to fit `maxWidth` pixels, ending in '...' when cut. */
function fitText(text: string, maxWidth: number, scale: number): string {
  if (textWidth(text, scale) <= maxWidth) return text;
  let cut = text;
  while (cut.length > 0 && textWidth(`${cut}...`, scale) > maxWidth) cut = cut.slice(0, -1);
  return `${cut}...`;
}
