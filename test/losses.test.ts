import { describe, it, expect } from 'vitest';
import { Tensor, tidy, noGrad } from '../engine/tensor.js';
import { runtime, poolStats } from '../engine/runtime.js';
import { kernel, dispatch, grid1d } from '../engine/kernel.js';
import { softmax, logSoftmax } from '../engine/ops/softmax.js';
import { l2Normalize } from '../engine/ops/normalize.js';
import { crossEntropy, bceWithLogits, maskedMse, tripletLoss, topKMean } from '../engine/ops/losses.js';
import { rng, randomArray } from './gradcheck/harness.js';
import { softmaxRef, crossEntropyRef } from './reference/losses.js';

const values = async (t: Tensor) => Array.from(await t.data());
/** For comparisons where the sign of a zero does not matter (-0 from 0 * negative). */
const magnitudes = async (t: Tensor) => Array.from(await t.data(), Math.abs);
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** Runs fn and reports how many dispatches it recorded. */
function dispatchesDuring(fn: () => void): number {
  const before = runtime().recorder.dispatches;
  try {
    fn();
  } catch {
    /* the caller checks the message separately */
  }
  return runtime().recorder.dispatches - before;
}

describe('softmax', () => {
  it('stays finite for logits around 1000 and +-1e4', async () => {
    const x = Tensor.from([1000, 1001, 999, -1e4, 0, 1e4], [2, 3]);
    const p = await values(softmax(x));
    const lp = await values(logSoftmax(x));
    expect(p.every(Number.isFinite)).toBe(true);
    expect(lp.every(Number.isFinite)).toBe(true);
    // Tolerance: float32 rounding of x - max, relative 1e-6 of values up to 2e4.
    expect(maxAbsDiff(p, softmaxRef([1000, 1001, 999, -1e4, 0, 1e4], [2, 3]))).toBeLessThan(1e-6);
    expect(maxAbsDiff(lp, softmaxRef([1000, 1001, 999, -1e4, 0, 1e4], [2, 3], -1, true))).toBeLessThan(2e-3);
  });

  it('handles 10k-class rows', async () => {
    const wide = randomArray(3 * 10000, rng(7), -8, 8);
    const y = await values(softmax(Tensor.from(wide, [3, 10000])));
    // Tolerance: probabilities are ~1e-4 each; float32 sums of 10k terms.
    expect(maxAbsDiff(y, softmaxRef(wide, [3, 10000]))).toBeLessThan(1e-7);
  });

  it('runs both kernel variants right past 65535 workgroups (rows spill into the grid\'s y)', async () => {
    // The op picks one variant per adapter, so both kernels are dispatched here directly.
    const rows = 70000, len = 65;
    const data = randomArray(rows * len, rng(8), -3, 3);
    const x = Tensor.from(data, [rows, len]);
    for (const [entry, wg] of [['forward_rows', 64], ['forward_wg', 32]] as const) {
      const y = Tensor.empty([rows, len]);
      const k = kernel('softmax.wgsl', entry, entry === 'forward_wg' ? { WG: wg } : {});
      dispatch(k, { x, y, rows, len, inner: 1 }, grid1d(entry === 'forward_wg' ? rows * wg : rows, wg));
      const out = (await y.data()) as Float32Array;
      for (const r of [0, 65535, 65536, rows - 1]) {
        const ref = softmaxRef(data.subarray(r * len, (r + 1) * len), [len]);
        expect(maxAbsDiff(out.subarray(r * len, (r + 1) * len), ref), `${entry} row ${r}`).toBeLessThan(1e-6);
      }
      y.dispose();
    }
    x.dispose();
  });

  it('rejects an axis out of range, naming op and shape, before dispatching', () => {
    const x = Tensor.from([1, 2, 3, 4], [2, 2]);
    expect(() => softmax(x, 2)).toThrow('softmax: axis 2 out of range for [2, 2]');
    expect(() => logSoftmax(x, -3)).toThrow('log_softmax: axis -3 out of range for [2, 2]');
    expect(dispatchesDuring(() => softmax(x, 2))).toBe(0);
  });
});

describe('l2Normalize', () => {
  it('leaves an all-zero row zero with a finite gradient g / eps', async () => {
    const x = Tensor.from([0, 0, 0, 3, 4, 0], [2, 3]).requireGrad();
    const y = l2Normalize(x, -1, 1e-10);
    expect(maxAbsDiff(await values(y), [0, 0, 0, 0.6, 0.8, 0])).toBeLessThan(1e-7);
    y.backward(Tensor.from([1e-10, 0, 0, 0, 0, 0], [2, 3]));
    const g = await values(x.grad!);
    expect(g.every(Number.isFinite)).toBe(true);
    expect(g[0]).toBeCloseTo(1, 5);
  });
});

describe('crossEntropy', () => {
  it('is finite for a logit of 1000, with the exact loss and gradient', async () => {
    const logits = Tensor.from([1000, 0, -1000, 0, 1000, 0], [2, 3]).requireGrad();
    const loss = crossEntropy(logits, Tensor.from([0, 0], [2], 'i32'));
    expect(loss.shape).toEqual([]);
    // Row 0 picks its max (loss 0), row 1 is 1000 below its max (loss 1000).
    expect(await loss.item()).toBeCloseTo(500, 3);
    loss.backward();
    // (softmax - onehot) / N: row 0 [0, 0, 0], row 1 [-1, 1, 0] / 2.
    expect(maxAbsDiff(await values(logits.grad!), [0, 0, 0, -0.5, 0.5, 0])).toBeLessThan(1e-6);
  });

  it('matches the reference on 10k classes', async () => {
    const rand = rng(3);
    const x = randomArray(4 * 10000, rand, -5, 5);
    const labels = [0, 9999, 1234, 5000];
    const loss = crossEntropy(Tensor.from(x, [4, 10000]), Tensor.from(labels, [4], 'i32'), { reduction: 'none' });
    // Tolerance: float32 logsumexp over 10k terms of size ~10.
    expect(maxAbsDiff(await values(loss), crossEntropyRef(x, labels, 4, 10000, { reduction: 'none' }))).toBeLessThan(1e-4);
  });

  it('gives loss 0 and zero gradient when every label is skipped', async () => {
    const logits = Tensor.from([1, 2, 3, 4], [2, 2]).requireGrad();
    const loss = crossEntropy(logits, Tensor.from([-1, 7], [2], 'i32'));
    expect(await loss.item()).toBe(0);
    loss.backward();
    expect(await values(logits.grad!)).toEqual([0, 0, 0, 0]);
  });

  it('averages over the rows the weight mask keeps', async () => {
    const x = [2, 0, 0, 2, 1, 1];
    const loss = crossEntropy(Tensor.from(x, [3, 2]), Tensor.from([0, 0, 1], [3], 'i32'), { weight: Tensor.from([1, 0, 1]) });
    const ref = crossEntropyRef(x, [0, 0, 1], 3, 2, { weight: [1, 0, 1] })[0];
    expect(ref).toBeCloseTo((Math.log1p(Math.exp(-2)) + Math.log(2)) / 2, 12);
    expect(await loss.item()).toBeCloseTo(ref, 6);
  });

  it('names op and shapes in shape errors, before dispatching', () => {
    const logits = Tensor.empty([4, 3]);
    const bad = Tensor.from([0, 1, 2, 0, 1], [5], 'i32');
    expect(() => crossEntropy(logits, bad)).toThrow('crossEntropy: labels [5] do not match logits [4, 3] (expected [4])');
    expect(() => crossEntropy(logits, Tensor.from([0, 1, 2, 0], [4]))).toThrow('crossEntropy: labels [4] must be i32, got f32');
    expect(() => crossEntropy(Tensor.empty([12]), bad)).toThrow('crossEntropy: logits must be [N, C], got [12]');
    expect(() => crossEntropy(logits, Tensor.from([0, 1, 2, 0], [4], 'i32'), { weight: Tensor.empty([3]) })).toThrow(
      'crossEntropy: weight [3] does not match logits [4, 3] (expected [4])',
    );
    expect(dispatchesDuring(() => crossEntropy(logits, bad))).toBe(0);
  });
});

describe('bceWithLogits', () => {
  it('is finite and exact for logits of +-100', async () => {
    const x = Tensor.from([100, -100, 100, -100]).requireGrad();
    const loss = bceWithLogits(x, Tensor.from([1, 0, 0, 1]), { reduction: 'none' });
    // Wrong-side logits cost |x|; right-side ones exp(-100) ~ 0.
    expect(maxAbsDiff(await values(loss), [0, 0, 100, 100])).toBeLessThan(1e-5);
    loss.backward(Tensor.from([1, 1, 1, 1]));
    // sigmoid(x) - t; exp(-100) is below float32's normal range.
    expect(maxAbsDiff(await values(x.grad!), [0, 0, 1, -1])).toBeLessThan(1e-7);
  });

  it('names op and shapes in shape errors', () => {
    expect(() => bceWithLogits(Tensor.empty([2, 3]), Tensor.empty([3, 2]))).toThrow('bceWithLogits: targets [3, 2] do not match logits [2, 3]');
    expect(() => bceWithLogits(Tensor.empty([2, 3]), Tensor.empty([2, 3]), { weight: Tensor.empty([3]) })).toThrow(
      'bceWithLogits: weight [3] fits neither logits [2, 3] nor [2]',
    );
  });
});

describe('maskedMse', () => {
  it('gives 0 and zero gradients for an all-zero mask, even with NaN targets', async () => {
    const pred = Tensor.from([1, 2, 3, 4, 5, 6], [3, 2]).requireGrad();
    const target = Tensor.from([NaN, 0, 1, Infinity, 0, 0], [3, 2]).requireGrad();
    const loss = maskedMse(pred, target, Tensor.from([0, 0, 0]));
    expect(await loss.item()).toBe(0);
    loss.backward();
    expect(await values(pred.grad!)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(await magnitudes(target.grad!)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('divides by D times the number of included samples', async () => {
    const pred = Tensor.from([1, 1, 5, 5, 3, 3], [3, 2]);
    const target = Tensor.from([0, 0, NaN, NaN, 0, 1], [3, 2]);
    // Included rows 0 and 2: squared errors 1 + 1 + 9 + 4 = 15 over 2 * 2 elements.
    expect(await maskedMse(pred, target, Tensor.from([1, 0, 1])).item()).toBeCloseTo(15 / 4, 6);
    expect(await values(maskedMse(pred, target, Tensor.from([1, 0, 1]), { reduction: 'none' }))).toEqual([1, 0, 6.5]);
  });

  it('names op and shapes in shape errors', () => {
    const p = Tensor.empty([4, 2]);
    expect(() => maskedMse(p, p, Tensor.empty([3]))).toThrow('maskedMse: mask [3] does not match pred [4, 2] (expected [4])');
    expect(() => maskedMse(p, Tensor.empty([4, 3]), Tensor.empty([4]))).toThrow('maskedMse: target [4, 3] does not match pred [4, 2]');
  });
});

describe('tripletLoss', () => {
  // Anchor at the origin; positives 0.1 away, negatives 1 away: d_n - d_p = 0.99 >= margin 0.2.
  const easy = () => ({
    a: Tensor.from([0, 0, 0, 0], [2, 2]).requireGrad(),
    p: Tensor.from([0.1, 0, 0, 0.1], [2, 2]).requireGrad(),
    n: Tensor.from([1, 0, 0, -1], [2, 2]).requireGrad(),
  });

  it('gives 0 without NaN when hardOnly finds no hard triplet', async () => {
    const { a, p, n } = easy();
    const loss = tripletLoss(a, p, n, { hardOnly: true });
    expect(await loss.item()).toBe(0);
    loss.backward();
    for (const t of [a, p, n]) expect(await magnitudes(t.grad!)).toEqual([0, 0, 0, 0]);
  });

  it('averages over the hard triplets only with hardOnly', async () => {
    // Triplet 0 is easy (hinge < 0); triplet 1 has d_p = 1, d_n = 0.25: hinge 0.95.
    const a = Tensor.from([0, 0, 0, 0], [2, 2]);
    const p = Tensor.from([0.1, 0, 1, 0], [2, 2]);
    const n = Tensor.from([1, 0, 0.5, 0], [2, 2]);
    expect(await tripletLoss(a, p, n, { hardOnly: true }).item()).toBeCloseTo(0.95, 6);
    expect(await tripletLoss(a, p, n).item()).toBeCloseTo(0.95 / 2, 6);
    // Plain distances: d_p = 1, d_n = 0.5.
    expect(maxAbsDiff(await values(tripletLoss(a, p, n, { reduction: 'none', squared: false })), [0, 0.7])).toBeLessThan(1e-7);
  });

  it('names op and shapes in shape errors', () => {
    expect(() => tripletLoss(Tensor.empty([2, 4]), Tensor.empty([2, 4]), Tensor.empty([3, 4]))).toThrow(
      'tripletLoss: anchor [2, 4], positive [2, 4] and negative [3, 4] must have one shape',
    );
  });
});

describe('topKMean', () => {
  it('shares the gradient equally among values tied at the cut-off', async () => {
    const x = Tensor.from([1, 3, 1, 1, 0]).requireGrad();
    const loss = topKMean(x, 0.4); // k = 2: the 3 and one of the three 1s
    expect(await loss.item()).toBe(2);
    loss.backward();
    const g = await values(x.grad!);
    expect(maxAbsDiff(g, [1 / 6, 1 / 2, 1 / 6, 1 / 6, 0])).toBeLessThan(1e-7);
  });

  it('keeps the hardest of the masked-in samples', async () => {
    const losses = Tensor.from([5, 0.1, 9, 0.3, 0.2, 0.4]);
    // Included: 0.1, 0.3, 0.2, 0.4 (the 5 and 9 are masked out); k = round(0.5 * 4) = 2.
    expect(await topKMean(losses, 0.5, Tensor.from([0, 1, 0, 1, 1, 1])).item()).toBeCloseTo(0.35, 6);
    expect(await topKMean(losses, 0.5, Tensor.from([0, 0, 0, 0, 0, 0])).item()).toBe(0);
    // Negative values order correctly too.
    expect(await topKMean(Tensor.from([-3, -1, -2, -0.5]), 0.5).item()).toBeCloseTo(-0.75, 6);
  });

  it('rejects bad arguments naming op and shapes', () => {
    expect(() => topKMean(Tensor.empty([2, 3]), 0.5)).toThrow('topKMean: values must be [N], got [2, 3]');
    expect(() => topKMean(Tensor.empty([4]), 0)).toThrow('topKMean: fraction must be in (0, 1], got 0');
    expect(() => topKMean(Tensor.empty([4]), 0.5, Tensor.empty([5]))).toThrow('topKMean: mask [5] does not match values [4]');
  });
});

describe('reductions', () => {
  it("gives [] for 'mean'/'sum' and per-sample shapes for 'none'", () => {
    const logits = Tensor.empty([4, 3]);
    const labels = Tensor.from([0, 1, 2, 0], [4], 'i32');
    const e = Tensor.empty([4, 5]);
    const m = Tensor.from([1, 0, 1, 1]);
    expect(crossEntropy(logits, labels).shape).toEqual([]);
    expect(crossEntropy(logits, labels, { reduction: 'sum' }).shape).toEqual([]);
    expect(crossEntropy(logits, labels, { reduction: 'none' }).shape).toEqual([4]);
    expect(bceWithLogits(logits, logits, { reduction: 'none' }).shape).toEqual([4, 3]);
    expect(maskedMse(e, e, m, { reduction: 'none' }).shape).toEqual([4]);
    expect(tripletLoss(e, e, e, { reduction: 'none' }).shape).toEqual([4]);
    expect(tripletLoss(e, e, e).shape).toEqual([]);
    expect(() => crossEntropy(logits, labels, { reduction: 'avg' as 'mean' })).toThrow("crossEntropy: reduction must be 'mean', 'sum' or 'none', got 'avg'");
  });

  it('frees what the backward would have read when no graph is recorded, and everything under tidy', async () => {
    const logits = Tensor.from(randomArray(12, rng(1)), [4, 3]).requireGrad();
    const labels = Tensor.from([0, 1, 2, 0], [4], 'i32');
    const step = () => tidy(() => {
      crossEntropy(logits, labels).backward();
      tripletLoss(logits, logits, logits, { hardOnly: true }).backward();
    });
    const perSample = Tensor.from([1, 2, 3]);
    step();
    logits.zeroGrad();
    await logits.data();
    const before = poolStats().liveBytes;
    for (let i = 0; i < 3; i++) {
      step();
      logits.zeroGrad();
    }
    noGrad(() => crossEntropy(logits, labels)).dispose();
    noGrad(() => topKMean(perSample, 0.5)).dispose();
    await logits.data();
    // <=, not ==: the GC may release tensors an earlier test dropped while this one runs.
    expect(poolStats().liveBytes).toBeLessThanOrEqual(before);
  });
});
