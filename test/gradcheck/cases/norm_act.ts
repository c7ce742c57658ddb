import { rng, type GradCase, type InputSpec } from '../harness.js';
import { batchNorm } from '../../../engine/ops/batchnorm.js';
import { relu, relu6, prelu } from '../../../engine/ops/activation.js';
import { dropout } from '../../../engine/ops/dropout.js';
import * as ref from '../../reference/norm_act.js';

const size = (shape: number[]) => shape.reduce((a, d) => a * d, 1);

/**
 * Uniform values in [lo, hi] at least `margin` away from every kink, so the
 * finite differences (step 1e-2 < margin) never straddle one.
 */
function awayFromKinks(shape: number[], lo: number, hi: number, kinks: number[], seed: number, margin = 0.05): number[] {
  const rand = rng(seed);
  return Array.from({ length: size(shape) }, () => {
    for (;;) {
      const v = lo + (hi - lo) * rand();
      if (kinks.every((k) => Math.abs(v - k) > margin)) return v;
    }
  });
}

// ---- batch normalisation ---------------------------------------------------------

function batchNormCase(op: 'batchnorm2d' | 'batchnorm1d', shape: number[], training: boolean, note = ''): GradCase {
  const C = shape[shape.length - 1];
  const inputs: InputSpec[] = [
    { shape },
    { shape: [C], range: [0.5, 1.5] }, // gamma
    { shape: [C] }, // beta
    // Running statistics: state, not differentiated. Training updates them in
    // place on every call, which leaves its output unchanged.
    { shape: [C], grad: false, range: [-0.5, 0.5] },
    { shape: [C], grad: false, range: [0.5, 1.5] },
  ];
  return {
    op,
    case: `${training ? 'training' : 'eval'} [${shape}]${note}`,
    inputs,
    forward: (x, gamma, beta, runningMean, runningVar) => batchNorm(x, gamma, beta, runningMean, runningVar, { training }),
    reference: (x, gamma, beta, runningMean, runningVar) =>
      training ? ref.batchNormTraining(x, C, gamma, beta).y : ref.batchNormEval(x, C, gamma, beta, runningMean, runningVar),
  };
}

// ---- activations ---------------------------------------------------------------

function reluCase(shape: number[], note: string): GradCase {
  return {
    op: 'relu',
    case: `[${shape}] ${note}`,
    inputs: [{ shape, data: awayFromKinks(shape, -1, 1, [0], 11) }],
    forward: (x) => relu(x),
    reference: (x) => ref.relu(x),
  };
}

function relu6Case(shape: number[], note: string): GradCase {
  return {
    op: 'relu6',
    case: `[${shape}] ${note}`,
    inputs: [{ shape, data: awayFromKinks(shape, -1, 7, [0, 6], 12) }],
    forward: (x) => relu6(x),
    reference: (x) => ref.relu6(x),
  };
}

function preluCase(shape: number[], alphaShape: number[], note: string): GradCase {
  return {
    op: 'prelu',
    case: `[${shape}] alpha [${alphaShape}] ${note}`,
    inputs: [{ shape, data: awayFromKinks(shape, -1, 1, [0], 13) }, { shape: alphaShape, range: [0.05, 0.5] }],
    forward: (x, alpha) => prelu(x, alpha),
    reference: (x, alpha) => ref.prelu(x, alpha),
  };
}

// ---- dropout -------------------------------------------------------------------

function dropoutCase(shape: number[], note: string): GradCase {
  const p = 0.3;
  const seed = 1234567;
  return {
    op: 'dropout',
    case: `p=${p} seed=${seed} [${shape}] ${note}`,
    inputs: [{ shape }],
    forward: (x) => dropout(x, p, { training: true, seed }),
    reference: (x) => ref.dropout(x, p, seed),
  };
}

export const cases: GradCase[] = [
  batchNormCase('batchnorm2d', [2, 3, 3, 4], true, ' vec4, 2 row chunks'),
  batchNormCase('batchnorm2d', [2, 16, 17, 4], true, ' merge tree'),
  batchNormCase('batchnorm2d', [2, 3, 3, 3], true, ' f32'),
  batchNormCase('batchnorm2d', [2, 3, 3, 4], false),
  batchNormCase('batchnorm1d', [6, 5], true),
  batchNormCase('batchnorm1d', [6, 5], false),
  reluCase([3, 5, 4], 'vec4'),
  reluCase([7, 3], 'f32'),
  relu6Case([4, 6], 'vec4'),
  relu6Case([5, 3], 'f32'),
  preluCase([2, 3, 3, 4], [4], 'per channel, vec4'),
  preluCase([2, 5, 3], [3], 'per channel, f32'),
  preluCase([2, 3, 3, 4], [1], 'shared, vec4'),
  preluCase([3, 5], [1], 'shared, f32'),
  dropoutCase([4, 8, 5], 'vec4'),
  dropoutCase([7, 3], 'f32'),
];
