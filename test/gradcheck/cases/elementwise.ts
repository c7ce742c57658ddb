import type { GradCase } from '../harness.js';
import { add, sub, mul, scale, sum, mean } from '../../../engine/ops/elementwise.js';
import { broadcastBinary, sumAxes } from '../../reference/elementwise.js';

const binary = (op: 'add' | 'sub' | 'mul', a: number[], b: number[], label: string): GradCase => ({
  op,
  case: `${op} ${label} [${a}] (.) [${b}]`,
  inputs: [{ shape: a }, { shape: b }],
  forward: (x, y) => (op === 'add' ? add : op === 'sub' ? sub : mul)(x, y),
  reference: (x, y) => broadcastBinary(x, a, y, b, op === 'add' ? (p, q) => p + q : op === 'sub' ? (p, q) => p - q : (p, q) => p * q).data,
});

export const cases: GradCase[] = [
  binary('add', [2, 3, 5], [2, 3, 5], 'same shape'),
  binary('add', [2, 4, 4, 6], [6], 'per channel'),
  binary('add', [3, 1, 5], [4, 1], 'both broadcast'),
  binary('sub', [2, 3, 4], [2, 1, 4], 'middle axis'),
  binary('mul', [7, 5], [7, 5], 'same shape'),
  binary('mul', [2, 3, 3, 4], [4], 'per channel'),
  binary('mul', [4, 1, 3], [1, 5, 1], 'outer product'),
  {
    op: 'mul',
    case: 'scale x*2.5-1',
    inputs: [{ shape: [3, 7] }],
    forward: (x) => scale(x, 2.5, -1),
    reference: (x) => Array.from(x, (v) => v * 2.5 - 1),
  },
  {
    op: 'sum',
    case: 'sum all [3,4,5]',
    inputs: [{ shape: [3, 4, 5] }],
    forward: (x) => sum(x),
    reference: (x) => [x.reduce((a, v) => a + v, 0)],
  },
  {
    op: 'sum',
    case: 'sum axis 1 [3,4,5]',
    inputs: [{ shape: [3, 4, 5] }],
    forward: (x) => sum(x, 1),
    reference: (x) => sumAxes(x, [3, 4, 5], [1]),
  },
  {
    op: 'mean',
    case: 'mean axes 0,2 keepDims [3,4,5]',
    inputs: [{ shape: [3, 4, 5] }],
    forward: (x) => mean(x, [0, 2], true),
    reference: (x) => Array.from(sumAxes(x, [3, 4, 5], [0, 2]), (v) => v / 15),
  },
];
