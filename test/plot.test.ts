// tools/plot.ts and tools/font.ts: charts come out as PNGs of the requested
// size with lines, bars and text where they belong.
import { describe, expect, it } from 'vitest';
import { GLYPH_HEIGHT, GLYPH_WIDTH, glyphPixel, glyphRows } from '../tools/font.js';
import { decodeImage, type RgbaImage } from '../tools/image.js';
import { PALETTE, barChart, drawBox, drawPoint, drawText, lineChart, textWidth, type Rgb } from '../tools/plot.js';

const INK: Rgb = [34, 34, 34]; // the charts' text colour

/** Coordinates of the pixels that are exactly `colour`. */
function pixelsOf(img: RgbaImage, colour: Rgb, region = [0, 0, img.width, img.height]): [number, number][] {
  const out: [number, number][] = [];
  for (let y = region[1]; y < region[3]; y++) {
    for (let x = region[0]; x < region[2]; x++) {
      const i = (y * img.width + x) * 4;
      if (img.data[i] === colour[0] && img.data[i + 1] === colour[1] && img.data[i + 2] === colour[2]) out.push([x, y]);
    }
  }
  return out;
}

/** Least-squares line y = a + b x through the pixels, and the largest |residual|. */
function fitLine(points: [number, number][]): { slope: number; maxResidual: number } {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  const slope = sxy / sxx;
  const maxResidual = Math.max(...points.map(([x, y]) => Math.abs(y - (my + slope * (x - mx)))));
  return { slope, maxResidual };
}

function decodePng(bytes: Uint8Array): RgbaImage {
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return decodeImage(bytes, 'chart.png');
}

describe('font', () => {
  const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));

  it('has a distinct, non-empty glyph for every printable ASCII character but space', () => {
    const seen = new Map<string, string>();
    for (const char of printable.slice(1)) {
      const key = glyphRows(char).join(',');
      expect(key, `glyph for ${char}`).not.toBe('0,0,0,0,0,0,0,0');
      expect(seen.get(key), `${char} looks like ${seen.get(key)}`).toBeUndefined();
      seen.set(key, char);
    }
    expect(glyphRows(' ').every((r) => r === 0)).toBe(true);
  });

  it('uses the descender row only for , _ g j p q y |', () => {
    const descending = printable.filter((c) => glyphRows(c)[GLYPH_HEIGHT - 1] !== 0).join('');
    expect(descending).toBe(',_gjpqy|');
  });

  it('draws "0" as its documented bitmap, and unknown characters as "?"', () => {
    const w = 6;
    const h = 9;
    const rgba = new Uint8Array(w * h * 4).fill(255);
    drawText(rgba, w, h, 0, 0, '0', [0, 0, 0]);
    const rows = [];
    for (let y = 0; y < 7; y++) {
      let row = '';
      for (let x = 0; x < GLYPH_WIDTH; x++) row += rgba[(y * w + x) * 4] === 0 ? '#' : '.';
      rows.push(row);
    }
    expect(rows).toEqual(['.###.', '#...#', '#..##', '#.#.#', '##..#', '#...#', '.###.']);
    expect(glyphRows('é')).toEqual(glyphRows('?'));
    expect(glyphPixel(glyphRows('0'), 1, 0)).toBe(true);
  });
});

describe('drawing on images', () => {
  const black = (w: number, h: number) => new Uint8Array(w * h * 4).map((_, i) => (i % 4 === 3 ? 255 : 0));
  const at = (rgba: Uint8Array, w: number, x: number, y: number) => [...rgba.subarray((y * w + x) * 4, (y * w + x) * 4 + 3)];

  it('drawBox outlines [x1, y1, x2, y2) with lines inside the box', () => {
    const rgba = black(20, 20);
    drawBox(rgba, 20, 20, [2, 3, 12, 15], [0, 255, 0], 2);
    for (const [x, y] of [[2, 3], [11, 3], [2, 14], [11, 14], [3, 4], [10, 13], [7, 3], [2, 9]]) {
      expect(at(rgba, 20, x, y), `(${x},${y})`).toEqual([0, 255, 0]);
    }
    for (const [x, y] of [[1, 3], [12, 3], [2, 2], [2, 15], [4, 5], [7, 9], [9, 12]]) {
      expect(at(rgba, 20, x, y), `(${x},${y})`).toEqual([0, 0, 0]);
    }
  });

  it('drawBox clips boxes that stick out of the image', () => {
    const rgba = black(10, 10);
    drawBox(rgba, 10, 10, [-8.3, -2, 4, 30], [255, 0, 0], 1);
    expect(at(rgba, 10, 3, 5)).toEqual([255, 0, 0]); // right edge x = 4 - 1
    expect(at(rgba, 10, 0, 5)).toEqual([0, 0, 0]); // left edge is outside
  });

  it('drawPoint fills a disc around the point', () => {
    const rgba = black(20, 20);
    drawPoint(rgba, 20, 20, 10, 10, [255, 0, 0], 3);
    expect(at(rgba, 20, 10, 10)).toEqual([255, 0, 0]);
    expect(at(rgba, 20, 8, 10)).toEqual([255, 0, 0]);
    expect(at(rgba, 20, 15, 10)).toEqual([0, 0, 0]);
    expect(at(rgba, 20, 13, 13)).toEqual([0, 0, 0]);
  });

  it('drawText scales glyphs and paints an optional background', () => {
    const w = 40;
    const h = 30;
    const rgba = black(w, h);
    drawText(rgba, w, h, 5, 5, 'I', [255, 255, 255], 2, [0, 0, 200]);
    // 'I' top row is .###. -> at scale 2, x = 5 + 2..7, y = 5..6 white.
    expect(at(rgba, w, 7, 5)).toEqual([255, 255, 255]);
    expect(at(rgba, w, 12, 6)).toEqual([255, 255, 255]);
    expect(at(rgba, w, 5, 5)).toEqual([0, 0, 200]); // background inside the text box
    expect(at(rgba, w, 3, 3)).toEqual([0, 0, 200]); // one font pixel of margin
    expect(at(rgba, w, 2, 2)).toEqual([0, 0, 0]);
    expect(textWidth('ab', 2)).toBe(22);
  });

  it('rejects a buffer that does not match the size', () => {
    expect(() => drawBox(new Uint8Array(12), 2, 2, [0, 0, 1, 1], [0, 0, 0])).toThrow(/2x2 RGBA needs 16 bytes, got 12/);
  });
});

describe('lineChart', () => {
  it('is a PNG of the requested size with each series in its own colour along its data', () => {
    const img = decodePng(
      lineChart({
        title: 'Loss',
        xLabel: 'step',
        yLabel: 'loss',
        width: 640,
        height: 400,
        xRange: [0, 10],
        yRange: [0, 10],
        // 50 points each, so no dots are drawn at the points (only up to 40).
        series: [
          { name: '', points: Array.from({ length: 50 }, (_, i) => [i / 4.9, i / 4.9] as [number, number]) },
          { name: '', points: Array.from({ length: 50 }, (_, i) => [i / 4.9, 2] as [number, number]) },
        ],
      }),
    );
    expect([img.width, img.height]).toEqual([640, 400]);
    const rising = pixelsOf(img, PALETTE[0]);
    const flat = pixelsOf(img, PALETTE[1]);
    expect(rising.length).toBeGreaterThan(300);
    expect(flat.length).toBeGreaterThan(300);
    // The rising series goes up to the right (y decreases) in a straight line.
    const fit = fitLine(rising);
    expect(fit.slope).toBeLessThan(-0.3);
    expect(fit.maxResidual).toBeLessThan(2);
    // The flat one lies on rows at 20% of the plot's height from its bottom.
    const rows = new Set(flat.map(([, y]) => y));
    expect(rows.size).toBeLessThanOrEqual(2);
    const flatRow = Math.min(...rows);
    const top = Math.min(...rising.map(([, y]) => y));
    const bottom = Math.max(...rising.map(([, y]) => y));
    expect(Math.abs(flatRow - (bottom - 0.2 * (bottom - top)))).toBeLessThan(3);
  });

  it('draws a straight line for exponential decay on a log y axis', () => {
    const points = Array.from({ length: 50 }, (_, i) => [i, 10 ** (-i / 10)] as [number, number]);
    const img = decodePng(lineChart({ title: '', xLabel: 'x', yLabel: 'y', logY: true, series: [{ name: '', points }] }));
    expect([img.width, img.height]).toEqual([800, 500]);
    const fit = fitLine(pixelsOf(img, PALETTE[0]));
    expect(fit.maxResidual).toBeLessThan(4); // dots at the 50 points widen the line a little
  });

  it('renders the title centred at the top, and a legend with the series names', () => {
    const series = [{ name: 'train', points: [[0, 1], [1, 0.5]] as [number, number][] }];
    const withTitle = decodePng(lineChart({ title: 'A title', xLabel: 'x', yLabel: 'y', series }));
    const without = decodePng(lineChart({ title: '', xLabel: 'x', yLabel: 'y', series }));
    const band = [150, 0, 650, 32]; // above the plot, clear of tick labels and legend
    const titleInk = pixelsOf(withTitle, INK, band);
    expect(titleInk.length).toBeGreaterThan(50);
    expect(pixelsOf(without, INK, band).length).toBe(0);
    const xs = titleInk.map(([x]) => x);
    expect(Math.abs((Math.min(...xs) + Math.max(...xs)) / 2 - 400)).toBeLessThan(4);
    // Legend: more ink with a named series than with an unnamed one.
    const unnamed = decodePng(lineChart({ title: '', xLabel: 'x', yLabel: 'y', series: [{ ...series[0], name: '' }] }));
    expect(pixelsOf(without, INK).length - pixelsOf(unnamed, INK).length).toBeGreaterThan(40);
  });

  it('survives NaN, Infinity and empty input', () => {
    const img = decodePng(
      lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [[0, 1], [1, NaN], [2, Infinity], [3, 2], [4, 3]] }] }),
    );
    expect(pixelsOf(img, PALETTE[0]).length).toBeGreaterThan(30);
    const empty = decodePng(lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [] }));
    expect([empty.width, empty.height]).toEqual([800, 500]);
    const allBad = decodePng(lineChart({ title: '', xLabel: 'x', yLabel: 'y', logY: true, series: [{ name: '', points: [[0, 0], [1, -1]] }] }));
    expect(pixelsOf(allBad, PALETTE[0]).length).toBe(0);
  });

  it('handles long training runs (150k points)', () => {
    const points = Array.from({ length: 150_000 }, (_, i) => [i, 1 / (1 + i / 1000)] as [number, number]);
    const img = decodePng(lineChart({ title: 'long', xLabel: 'step', yLabel: 'loss', series: [{ name: 'train', points }] }));
    expect(pixelsOf(img, PALETTE[0]).length).toBeGreaterThan(500);
  });

  it('refuses a size too small to lay out, and bad ranges', () => {
    expect(() => lineChart({ title: '', xLabel: '', yLabel: '', series: [], width: 50, height: 50 })).toThrow(/at least 200x120, got 50x50/);
    expect(() => lineChart({ title: '', xLabel: '', yLabel: '', series: [], xRange: [1, 1] })).toThrow(/xRange must be \[low, high\] with low < high, got \[1,1\]/);
    expect(() => lineChart({ title: '', xLabel: '', yLabel: '', series: [], logY: true, yRange: [0, 1] })).toThrow(/logY needs yRange above 0/);
  });
});

describe('barChart', () => {
  /** Lengths of the longest run of `colour` in each vertical group of rows holding it. */
  function barLengths(img: RgbaImage, colour: Rgb): number[] {
    const runs: number[] = [];
    let inBar = false;
    for (let y = 0; y < img.height; y++) {
      let longest = 0;
      let run = 0;
      for (let x = 0; x < img.width; x++) {
        const i = (y * img.width + x) * 4;
        const match = img.data[i] === colour[0] && img.data[i + 1] === colour[1] && img.data[i + 2] === colour[2];
        run = match ? run + 1 : 0;
        longest = Math.max(longest, run);
      }
      if (longest > 2) {
        if (!inBar) runs.push(0);
        runs[runs.length - 1] = Math.max(runs[runs.length - 1], longest);
        inBar = true;
      } else {
        inBar = false;
      }
    }
    return runs;
  }

  it('draws one bar per value, lengths in proportion, on an axis up to maxValue', () => {
    const img = decodePng(
      barChart({
        title: 'Share of peak',
        valueLabel: 'share',
        maxValue: 1,
        width: 700,
        bars: [
          { label: 'matmul', value: 1 },
          { label: 'conv2d', value: 0.5 },
          { label: 'softmax', value: 0.25 },
        ],
      }),
    );
    expect(img.width).toBe(700);
    const lengths = barLengths(img, PALETTE[0]);
    expect(lengths).toHaveLength(3);
    expect(lengths[1] / lengths[0]).toBeCloseTo(0.5, 1);
    expect(lengths[2] / lengths[0]).toBeCloseTo(0.25, 1);
    expect(Math.abs(lengths[1] * 2 - lengths[0])).toBeLessThanOrEqual(2);
    expect(pixelsOf(img, PALETTE[1]).length).toBe(0); // no secondary bars asked for
  });

  it('adds secondary bars, grows with the bar count, and cuts long labels', () => {
    const bars = Array.from({ length: 12 }, (_, i) => ({ label: `kernel_${i}_`.padEnd(100, 'x'), value: i + 1, secondary: 12 - i }));
    const img = decodePng(barChart({ title: 'T', valueLabel: 'ms', secondaryLabel: 'cpu ms', bars }));
    const short = decodePng(barChart({ title: 'T', valueLabel: 'ms', bars: bars.slice(0, 2) }));
    expect(img.width).toBe(800);
    expect(img.height).toBeGreaterThan(short.height + 9 * 20);
    // 12 bars + the legend swatch, for each colour.
    expect(barLengths(img, PALETTE[0])).toHaveLength(13);
    expect(barLengths(img, PALETTE[1])).toHaveLength(13);
    // Labels are cut at 45% of the width, so bars start before ~half-way.
    const barStart = Math.min(...pixelsOf(img, PALETTE[0], [0, 60, 800, img.height]).map(([x]) => x));
    expect(barStart).toBeLessThan(800 * 0.45 + 30);
    expect(barStart).toBeGreaterThan(800 * 0.3);
  });

  it('renders "(no data)" for no bars rather than failing', () => {
    const img = decodePng(barChart({ title: '', valueLabel: 'v', bars: [] }));
    expect(pixelsOf(img, PALETTE[0]).length).toBe(0);
  });
});
