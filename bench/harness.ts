// Benchmark plumbing: median wall time of GPU work with the queue drained
// before and after each sample, and the adapter's own peaks for reference.
import { sync as engineSync, runtime } from '../engine/runtime.js';
import { Tensor } from '../engine/tensor.js';
import { kernel, dispatch, grid1d } from '../engine/kernel.js';

export interface Timing {
  medianMs: number;
  minMs: number;
  samples: number;
}

/**
 * Times `run` (which records GPU work) including its submit and completion.
 * `inner` repetitions per sample amortise the ~0.05 ms submit round trip for
 * tiny kernels; the reported time is per repetition.
 */
export async function timeGpu(run: () => void | Promise<void>, opts: { warmup?: number; samples?: number; inner?: number; minTotalMs?: number; sync?: () => Promise<void> } = {}): Promise<Timing> {
  // A peer framework passes its own synchronisation (submit its queued work, wait for the queue).
  const sync = opts.sync ?? engineSync;
  const warmup = opts.warmup ?? 2;
  const inner = opts.inner ?? 1;
  for (let i = 0; i < warmup; i++) {
    await run();
    await sync();
  }
  const times: number[] = [];
  const maxSamples = opts.samples ?? 7;
  const minTotal = opts.minTotalMs ?? 0;
  let total = 0;
  while (times.length < maxSamples || (total < minTotal && times.length < maxSamples * 4)) {
    await sync();
    const t0 = performance.now();
    for (let k = 0; k < inner; k++) await run();
    await sync();
    const dt = (performance.now() - t0) / inner;
    times.push(dt);
    total += dt * inner;
  }
  times.sort((a, b) => a - b);
  return { medianMs: times[Math.floor(times.length / 2)], minMs: times[0], samples: times.length };
}

export interface Peaks {
  fmaGflops: number;
  copyGbps: number;
}

/** Measures the adapter's FMA throughput and copy bandwidth with two probe kernels. */
export async function measurePeaks(): Promise<Peaks> {
  const rt = runtime();
  // FMA: enough threads to fill every core, each running a long unrolled chain.
  // Long enough (~1 GFLOP x 8) that submit/wait overhead does not hide the peak:
  // on lavapipe 256 steps read ~45 GFLOP/s where 2048 read ~54 (with one step
  // per loop iteration, see bench_peak.wgsl).
  const threads = 64 * 1024;
  const iters = 2048;
  const src = Tensor.empty([threads * 4]);
  const dst = Tensor.empty([threads * 4]);
  dispatch(kernel('fill.wgsl'), { y: src, n: src.size, value: 0.5 }, grid1d(src.size, 256));
  const fma = kernel('bench_peak.wgsl', 'fma_peak');
  const tf = await timeGpu(() => dispatch(fma, { src, dst, n: threads, iters }, grid1d(threads, 64)), { samples: 7 });
  const fmaGflops = (threads * iters * 64) / (tf.medianMs * 1e6);
  src.dispose();
  dst.dispose();

  // Copy: 64 MiB each way (large enough to leave every cache), under the binding limit.
  const bytes = Math.min(64 << 20, rt.limits.maxStorageBufferBindingSize);
  const a = Tensor.empty([bytes / 4]);
  const b = Tensor.empty([bytes / 4]);
  const copy = kernel('bench_peak.wgsl', 'copy_peak');
  const n4 = bytes / 16;
  const tc = await timeGpu(() => dispatch(copy, { src: a, dst: b, n: n4, iters: 0 }, grid1d(n4 / 8, 64)), { samples: 7 });
  const copyGbps = (2 * bytes) / (tc.medianMs * 1e6);
  a.dispose();
  b.dispose();
  return { fmaGflops, copyGbps };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
