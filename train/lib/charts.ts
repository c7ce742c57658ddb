// Training charts as PNG files (tools/plot.ts draws them), written atomically
// so a viewer never opens a half-written image.
import { lineChart, type LineChartOptions } from '../../tools/plot.js';
import { writeFileAtomic } from '../../engine/io.js';

export async function writeLineChart(path: string, opts: LineChartOptions): Promise<void> {
  await writeFileAtomic(path, lineChart(opts));
}

/** Mean of each point with the `window - 1` before it: readable curves from noisy per-step values. */
export function movingAverage(points: readonly (readonly [number, number])[], window: number): [number, number][] {
  const out: [number, number][] = [];
  let sum = 0;
  const finite: number[] = [];
  for (const [x, y] of points) {
    if (!Number.isFinite(y)) continue;
    finite.push(y);
    sum += y;
    if (finite.length > window) sum -= finite[finite.length - window - 1];
    out.push([x, sum / Math.min(finite.length, window)]);
  }
  return out;
}
