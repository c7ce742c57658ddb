import type { GradCase } from '../harness.js';
import { matmul, linear } from '../../../engine/ops/matmul.js';
import { matmulRef, linearRef } from '../../reference/matmul.js';

const mm = (label: string, aShape: number[], bShape: number[], transposeA = false, transposeB = false): GradCase => ({
  op: 'matmul',
  case: `${label} [${aShape}]${transposeA ? '^T' : ''} x [${bShape}]${transposeB ? '^T' : ''}`,
  inputs: [{ shape: aShape }, { shape: bShape }],
  forward: (a, b) => matmul(a, b, { transposeA, transposeB }),
  reference: (a, b) => matmulRef(a, aShape, b, bShape, { transposeA, transposeB }).data,
});

const lin = (label: string, xShape: number[], inF: number, outF: number, withBias: boolean): GradCase => ({
  op: 'linear',
  case: `${label} [${xShape}] x [${inF},${outF}]${withBias ? ' + bias' : ''}`,
  inputs: withBias ? [{ shape: xShape }, { shape: [inF, outF] }, { shape: [outF] }] : [{ shape: xShape }, { shape: [inF, outF] }],
  forward: (x, w, b) => linear(x, w, b),
  reference: (x, w, b) => linearRef(x, xShape, w, [inF, outF], b),
});

// Odd sizes take the kernels' unaligned paths; multiples of 4 the aligned
// (fast) ones. Each case runs the adapter's default kernel;
// test/matmul.test.ts covers every kernel against the CPU.
export const cases: GradCase[] = [
  mm('odd sizes', [5, 7], [7, 3]),
  mm('aligned', [8, 16], [16, 12]),
  mm('transposeA', [7, 5], [7, 3], true),
  mm('transposeB', [8, 16], [12, 16], false, true),
  mm('both transposed, odd', [6, 5], [3, 6], true, true),
  mm('batched', [2, 5, 8], [2, 8, 4]),
  mm('batched, shared b', [3, 4, 6], [6, 5]),
  mm('batched, shared b, transposeA', [2, 6, 4], [6, 5], true),
  mm('batched, shared a, transposeB', [4, 8], [2, 3, 8], false, true),
  lin('3-D input', [2, 3, 8], 8, 6, true),
  lin('odd, no bias', [5, 7], 7, 3, false),
];
