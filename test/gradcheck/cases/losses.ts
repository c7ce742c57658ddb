// Gradient checks for softmax / log_softmax, l2_normalize and the losses.
// Labels, masks and weights are fixed `data` with grad: false. Inputs of the
// ops with kinks (triplet hinge, top-k cut-off) are built so that no value is
// within reach of the kink under the finite-difference step.
import { rng, randomArray, type GradCase, type InputSpec } from '../harness.js';
import { softmax, logSoftmax } from '../../../engine/ops/softmax.js';
import { l2Normalize } from '../../../engine/ops/normalize.js';
import { crossEntropy, bceWithLogits, maskedMse, tripletLoss, topKMean, type Reduction } from '../../../engine/ops/losses.js';
import {
  softmaxRef, l2NormalizeRef, crossEntropyRef, bceWithLogitsRef, maskedMseRef, tripletRef, topKMeanRef, type TripletRefOptions,
} from '../../reference/losses.js';

const softmaxCase = (log: boolean, shape: number[], axis: number, label: string, range?: [number, number], atol?: number): GradCase => ({
  op: 'softmax',
  case: `${log ? 'log_softmax' : 'softmax'} ${label} [${shape}] axis ${axis}`,
  inputs: [{ shape, range }],
  forward: (x) => (log ? logSoftmax : softmax)(x, axis),
  reference: (x) => softmaxRef(x, shape, axis, log),
  atol,
});

const l2Case = (shape: number[], axis: number, label: string, eps?: number, data?: number[]): GradCase => ({
  op: 'l2_normalize',
  case: `${label} [${shape}] axis ${axis}${eps ? ` eps ${eps}` : ''}`,
  inputs: [{ shape, data }],
  forward: (x) => l2Normalize(x, axis, eps),
  reference: (x) => l2NormalizeRef(x, shape, axis, eps),
});

const labels = (n: number, values: number[]): InputSpec => ({ shape: [n], data: values, dtype: 'i32', grad: false });
const constant = (shape: number[], values: number[]): InputSpec => ({ shape, data: values, grad: false });

const ceCase = (n: number, c: number, lab: number[], label: string, reduction: Reduction, opts: { weight?: number[]; ignoreIndex?: number } = {}): GradCase => ({
  op: 'cross_entropy',
  case: `${label} [${n}, ${c}] ${reduction}`,
  inputs: [{ shape: [n, c], range: [-3, 3] }, labels(n, lab), ...(opts.weight ? [constant([n], opts.weight)] : [])],
  forward: (x, y, w) => crossEntropy(x, y, { reduction, ignoreIndex: opts.ignoreIndex, weight: w }),
  reference: (x, y) => crossEntropyRef(x, y, n, c, { reduction, ...opts }),
});

const bceCase = (shape: number[], label: string, reduction: Reduction, weight?: { shape: number[]; data: number[] }, range: [number, number] = [-4, 4]): GradCase => ({
  op: 'bce_with_logits',
  case: `${label} [${shape}] ${reduction}`,
  inputs: [{ shape, range }, { shape, range: [0, 1], grad: false }, ...(weight ? [constant(weight.shape, weight.data)] : [])],
  forward: (x, t, w) => bceWithLogits(x, t, { reduction, weight: w }),
  reference: (x, t) => bceWithLogitsRef(x, t, { reduction, weight: weight?.data }),
});

const mseCase = (n: number, d: number, mask: number[], label: string, reduction: Reduction): GradCase => ({
  op: 'masked_mse',
  case: `${label} [${n}, ${d}] ${reduction}`,
  // The target gets a gradient too (-dpred), so it is checked as well.
  inputs: [{ shape: [n, d] }, { shape: [n, d] }, constant([n], mask)],
  forward: (p, t, m) => maskedMse(p, t, m, { reduction }),
  reference: (p, t, m) => maskedMseRef(p, t, m, n, d, reduction),
});

/**
 * Triplets whose hinge d_p - d_n + margin is at least `clearance` away from 0,
 * alternately active (> 0) and inactive, so a finite-difference step of 1e-2
 * (which moves a squared distance by at most ~0.08 here) never crosses it.
 */
function tripletData(n: number, d: number, opts: TripletRefOptions, seed: number, clearance = 0.15): number[][] {
  const rand = rng(seed);
  const out: number[][] = [[], [], []];
  for (let i = 0; i < n; i++) {
    for (;;) {
      const [a, p, ng] = [0, 1, 2].map(() => Array.from(randomArray(d, rand)));
      const h = hinge(a, p, ng, opts);
      const wantActive = i % 2 === 0;
      if (Math.abs(h) >= clearance && h > 0 === wantActive) {
        out[0].push(...a);
        out[1].push(...p);
        out[2].push(...ng);
        break;
      }
    }
  }
  return out;
}

/** d_p - d_n + margin of one triplet, before max(0, .). */
function hinge(a: number[], p: number[], ng: number[], opts: TripletRefOptions): number {
  const dist = (u: number[], v: number[]) => {
    const s = u.reduce((acc, x, j) => acc + (x - v[j]) ** 2, 0);
    return (opts.squared ?? true) ? s : Math.sqrt(s);
  };
  return dist(a, p) - dist(a, ng) + (opts.margin ?? 0.2);
}

const tripletCase = (n: number, d: number, opts: TripletRefOptions & { reduction: Reduction }, seed: number): GradCase => {
  const [a, p, ng] = tripletData(n, d, opts, seed);
  return {
    op: 'triplet_loss',
    case: `[${n}, ${d}] ${opts.squared === false ? 'plain' : 'squared'} margin ${opts.margin ?? 0.2}${opts.hardOnly ? ' hardOnly' : ''} ${opts.reduction}`,
    inputs: [{ shape: [n, d], data: a }, { shape: [n, d], data: p }, { shape: [n, d], data: ng }],
    forward: (x, y, z) => tripletLoss(x, y, z, opts),
    reference: (x, y, z) => tripletRef(x, y, z, n, d, opts),
  };
};

/** Distinct values 0.1 apart in a shuffled order, so the top-k cut-off is never within a step of 1e-2. */
function spacedValues(n: number, seed: number): number[] {
  const rand = rng(seed);
  const v = Array.from({ length: n }, (_, i) => -0.5 + 0.1 * i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [v[i], v[j]] = [v[j], v[i]];
  }
  return v;
}

const topKCase = (n: number, fraction: number, mask: number[] | null, seed: number): GradCase => ({
  op: 'top_k_mean',
  case: `[${n}] fraction ${fraction}${mask ? ` mask of ${mask.filter((m) => m).length}` : ''}`,
  inputs: [{ shape: [n], data: spacedValues(n, seed) }, ...(mask ? [constant([n], mask)] : [])],
  forward: (x, m) => topKMean(x, fraction, m),
  reference: (x, m) => [topKMeanRef(x, fraction, m)],
});

export const cases: GradCase[] = [
  softmaxCase(false, [3, 5], -1, 'short rows'),
  softmaxCase(false, [2, 100], -1, 'long rows', [-4, 4]),
  softmaxCase(false, [2, 4, 3], 1, 'middle axis'),
  softmaxCase(false, [3, 70, 2], 1, 'long middle axis'),
  softmaxCase(true, [6, 2], -1, 'MTCNN 2 classes', [-3, 3]),
  softmaxCase(true, [2, 130], -1, 'long rows', [-4, 4]),
  softmaxCase(true, [3, 4], 0, 'first axis'),
  // Many long rows: one thread per row on the software adapter, a workgroup per
  // row on GPUs. Probabilities of ~1/70 have gradients of ~1e-2, so a tighter atol.
  softmaxCase(false, [130, 70], -1, 'many long rows', [-4, 4], 2e-4),

  l2Case([3, 5], -1, 'short rows'),
  l2Case([2, 130], -1, 'long rows (embeddings)'),
  l2Case([4, 3, 2], 1, 'middle axis'),
  l2Case([130, 70], -1, 'many long rows'),
  // Row 0's norm (~0.17) is under eps, so it is divided by eps; row 1's (~1.9) is not.
  l2Case([2, 3], -1, 'one row under eps', 0.5, [0.1, -0.1, 0.08, 1.2, -0.9, 1.1]),

  ceCase(4, 3, [0, 2, 1, 2], 'plain', 'mean'),
  ceCase(8, 2, [1, 0, -1, -2, 0, 1, -1, 1], 'MTCNN labels, part/landmark (-1/-2) skipped', 'mean'),
  ceCase(3, 100, [7, 99, 0], 'long rows', 'sum'),
  ceCase(4, 3, [0, 2, 1, 5], 'label 5 out of range', 'none'),
  ceCase(130, 70, Array.from({ length: 130 }, (_, i) => (i * 37) % 70), 'many long rows', 'none'),
  ceCase(5, 3, [0, 2, 1, 2, 1], 'weights with ignoreIndex 2', 'mean', { weight: [1, 0.5, 0, 1, 2], ignoreIndex: 2 }),

  bceCase([6], 'plain', 'mean'),
  bceCase([3, 4], 'per-sample weight', 'sum', { shape: [3], data: [1, 0, 0.5] }),
  bceCase([2, 3], 'elementwise weight', 'none', { shape: [2, 3], data: [1, 0, 1, 2, 1, 0.5] }),
  bceCase([8], 'large logits', 'mean', undefined, [-40, 40]),

  mseCase(5, 4, [1, 0, 1, 1, 0], 'mask with zeros', 'mean'),
  mseCase(4, 10, [0, 1, 1, 0], 'landmarks', 'sum'),
  mseCase(3, 4, [1, 0, 1], 'mask with zeros', 'none'),

  tripletCase(6, 4, { squared: true, hardOnly: false, reduction: 'mean' }, 1),
  tripletCase(6, 4, { squared: true, hardOnly: true, reduction: 'mean' }, 2),
  tripletCase(6, 4, { squared: false, hardOnly: true, margin: 0.3, reduction: 'mean' }, 3),
  tripletCase(5, 3, { squared: false, hardOnly: false, reduction: 'none' }, 4),
  tripletCase(4, 8, { squared: true, hardOnly: true, margin: 0.5, reduction: 'sum' }, 5),

  topKCase(10, 0.7, null, 1),
  topKCase(12, 0.5, [1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 0, 0], 2),
  topKCase(5, 1, null, 3),
];
