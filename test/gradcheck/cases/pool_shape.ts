import { rng, type GradCase } from '../harness.js';
import { maxPool2d, avgPool2d, adaptiveAvgPool2d, globalAvgPool } from '../../../engine/ops/pool.js';
import { concat, slice, permute, reshape, flatten } from '../../../engine/ops/shape.js';
import {
  maxPool2dRef, avgPool2dRef, adaptiveAvgPool2dRef, globalAvgPoolRef, concatRef, sliceRef, permuteRef, type PoolRefOptions,
} from '../../reference/pool_shape.js';

/**
 * A shuffled ramp of distinct values 0.05 apart. Max pooling is only
 * differentiable away from ties: with a finite-difference step of 1e-2 no
 * perturbation can reorder values 0.05 apart, so the argmax stays put.
 */
function distinctValues(n: number, seed: number): Float32Array {
  const rand = rng(seed);
  const v = Float32Array.from({ length: n }, (_, i) => (i - n / 2) * 0.05);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [v[i], v[j]] = [v[j], v[i]];
  }
  return v;
}

const size = (s: number[]) => s.reduce((a, d) => a * d, 1);

type Win = { kernel: [number, number]; stride: [number, number]; padding?: [number, number]; ceilMode?: boolean; countIncludePad?: boolean };

function refOptions(o: Win): PoolRefOptions {
  return { kernel: o.kernel, stride: o.stride, padding: o.padding ?? [0, 0], ceilMode: o.ceilMode ?? false, countIncludePad: o.countIncludePad };
}

function describe(o: Win): string {
  const parts = [`k${o.kernel.join('x')}`, `s${o.stride.join('x')}`];
  if (o.padding) parts.push(`p${o.padding.join('x')}`);
  if (o.ceilMode) parts.push('ceil');
  if (o.countIncludePad === false) parts.push('excl pad');
  return parts.join(' ');
}

const maxCase = (shape: number[], o: Win, seed: number): GradCase => ({
  op: 'maxpool2d',
  case: `[${shape}] ${describe(o)}`,
  inputs: [{ shape, data: distinctValues(size(shape), seed) }],
  forward: (x) => maxPool2d(x, o),
  reference: (x) => maxPool2dRef(x, shape, refOptions(o)).data,
});

const avgCase = (shape: number[], o: Win): GradCase => ({
  op: 'avgpool2d',
  case: `[${shape}] ${describe(o)}`,
  inputs: [{ shape }],
  forward: (x) => avgPool2d(x, o),
  reference: (x) => avgPool2dRef(x, shape, refOptions(o)).data,
});

const adaptiveCase = (shape: number[], out: [number, number]): GradCase => ({
  op: 'adaptive_avgpool',
  case: `[${shape}] -> ${out.join('x')}`,
  inputs: [{ shape }],
  forward: (x) => adaptiveAvgPool2d(x, out),
  reference: (x) => adaptiveAvgPool2dRef(x, shape, out).data,
});

const globalCase = (shape: number[], note = ''): GradCase => ({
  op: 'global_avgpool',
  case: `[${shape}]${note}`,
  inputs: [{ shape }],
  forward: (x) => globalAvgPool(x),
  reference: (x) => globalAvgPoolRef(x, shape).data,
});

const concatCase = (shapes: number[][], axis: number, note = ''): GradCase => ({
  op: 'concat',
  case: `${shapes.map((s) => `[${s}]`).join(' ')} axis ${axis}${note}`,
  inputs: shapes.map((shape) => ({ shape })),
  forward: (...xs) => concat(xs, axis),
  reference: (...xs) => concatRef(xs, shapes, axis).data,
});

const sliceCase = (shape: number[], begin: number[], extent: number[], note = ''): GradCase => ({
  op: 'slice',
  case: `[${shape}] begin [${begin}] size [${extent}]${note}`,
  inputs: [{ shape }],
  forward: (x) => slice(x, begin, extent),
  reference: (x) => sliceRef(x, shape, begin, extent).data,
});

const permuteCase = (shape: number[], axes: number[], note = ''): GradCase => ({
  op: 'permute',
  case: `[${shape}] by [${axes}]${note}`,
  inputs: [{ shape }],
  forward: (x) => permute(x, axes),
  reference: (x) => permuteRef(x, shape, axes).data,
});

export const cases: GradCase[] = [
  // C = 3 runs the one-channel kernels, C = 2 or 6 the vec2 ones, C % 4 == 0 the vec4 ones.
  maxCase([2, 6, 8, 3], { kernel: [2, 2], stride: [2, 2] }, 1),
  maxCase([2, 6, 8, 4], { kernel: [2, 2], stride: [2, 2] }, 2),
  maxCase([1, 5, 7, 4], { kernel: [2, 2], stride: [2, 2], ceilMode: true }, 3), // 5x7 -> 3x4 (floor: 2x3)
  maxCase([1, 7, 9, 3], { kernel: [3, 3], stride: [2, 2], ceilMode: true }, 4), // 7x9 -> 3x4, as in floor mode
  maxCase([1, 8, 10, 3], { kernel: [3, 3], stride: [2, 2], ceilMode: true }, 5), // 8x10 -> 4x5 (floor: 3x4)
  maxCase([2, 8, 10, 8], { kernel: [3, 3], stride: [2, 2], ceilMode: true }, 6),
  maxCase([2, 6, 6, 3], { kernel: [3, 3], stride: [2, 2], padding: [1, 1] }, 7),
  maxCase([1, 6, 5, 4], { kernel: [3, 2], stride: [1, 2], padding: [1, 1], ceilMode: true }, 8),
  maxCase([2, 5, 7, 6], { kernel: [2, 2], stride: [2, 2], ceilMode: true }, 9),

  avgCase([2, 7, 7, 3], { kernel: [3, 3], stride: [2, 2], padding: [1, 1] }),
  avgCase([2, 7, 7, 3], { kernel: [3, 3], stride: [2, 2], padding: [1, 1], countIncludePad: false }),
  avgCase([1, 6, 6, 4], { kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: true }), // last window past the padding
  avgCase([1, 6, 6, 4], { kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: true, countIncludePad: false }),
  avgCase([2, 5, 7, 6], { kernel: [2, 3], stride: [2, 2], ceilMode: true }),
  avgCase([1, 5, 5, 8], { kernel: [3, 3], stride: [1, 1], padding: [1, 1], countIncludePad: false }),

  adaptiveCase([2, 5, 7, 3], [2, 3]),
  adaptiveCase([1, 5, 7, 4], [3, 4]),
  adaptiveCase([1, 3, 2, 2], [4, 5]), // more outputs than inputs: windows repeat elements

  globalCase([2, 5, 6, 3]),
  globalCase([2, 3, 3, 8]),
  globalCase([2, 4, 4, 10]),
  globalCase([1, 40, 40, 4], ' (several reduction passes)'),

  concatCase([[2, 3, 4, 3], [2, 3, 4, 5], [2, 3, 4, 8]], -1, ' (channels)'),
  concatCase([[2, 2, 3, 4], [2, 1, 3, 4], [2, 3, 3, 4]], 1),
  concatCase([[1, 3, 4], [2, 3, 4]], 0, ' (block copies)'),

  sliceCase([3, 5, 6, 4], [1, 1, 2, 0], [2, 3, -1, 3], ' (general box)'),
  sliceCase([4, 3, 5], [1, 0, 0], [2, -1, -1], ' (contiguous block)'),
  sliceCase([2, 4, 3, 6], [0, 0, 0, 2], [-1, -1, -1, 3], ' (channels: rows)'),
  sliceCase([2, 5, 4, 8], [1, 0, 0, 4], [1, -1, -1, 4], ' (one image, channels: vec4 rows)'),

  permuteCase([2, 3, 4, 5], [0, 3, 2, 1]),
  permuteCase([2, 3, 4, 8], [0, 2, 1, 3], ' (NHWC -> NWHC)'),
  permuteCase([2, 1, 3, 4, 1, 2], [5, 3, 1, 0, 4, 2], ' (rank 6, size-1 axes)'),

  {
    op: 'reshape',
    case: '[2,3,4] -> [4,-1]',
    inputs: [{ shape: [2, 3, 4] }],
    forward: (x) => reshape(x, [4, -1]),
    reference: (x) => Array.from(x),
  },
  {
    op: 'reshape',
    case: 'flatten [2,3,4,5] from axis 1',
    inputs: [{ shape: [2, 3, 4, 5] }],
    forward: (x) => flatten(x),
    reference: (x) => Array.from(x),
  },
];
