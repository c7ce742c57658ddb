import { describe, it, expect } from 'vitest';
import { Tensor, tidy, noGrad } from '../engine/tensor.js';
import { poolStats } from '../engine/runtime.js';
import { sum, mul } from '../engine/ops/elementwise.js';
import { batchNorm } from '../engine/ops/batchnorm.js';
import { relu, relu6, prelu } from '../engine/ops/activation.js';
import { dropout } from '../engine/ops/dropout.js';
import { rng, randomArray } from './gradcheck/harness.js';
import * as ref from './reference/norm_act.js';

const size = (shape: number[]) => shape.reduce((a, d) => a * d, 1);

/** Largest |a - b| / (1 + |b|). */
function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return e;
}

async function read(t: Tensor): Promise<Float32Array> {
  return (await t.data()) as Float32Array;
}

describe('batchNorm', () => {
  // Covers both kernel widths and the statistics' merge tree (more than 32 row chunks).
  const shapes = [[2, 5, 5, 8], [40, 5], [3000, 8], [20000, 3]];

  it.each(shapes.map((s) => [s]))('running mean and unbiased variance after two training steps match the reference, %j', async (shape) => {
    const C = shape[shape.length - 1];
    const rand = rng(size(shape));
    const momentum = 0.25;
    const gamma = randomArray(C, rand, 0.5, 1.5);
    const beta = randomArray(C, rand);
    let runMean: Float64Array = Float64Array.from(randomArray(C, rand));
    let runVar: Float64Array = Float64Array.from(randomArray(C, rand, 0.5, 2));
    const g = Tensor.from(gamma), b = Tensor.from(beta);
    const rm = Tensor.from(runMean), rv = Tensor.from(runVar);
    for (let step = 0; step < 2; step++) {
      // Channels with different offsets and spreads, so a mixed-up channel shows.
      const x = randomArray(size(shape), rand, -1, 1).map((v, i) => 3 * (i % C) - 2 + v * (1 + (i % C)));
      const xt = Tensor.from(x, shape);
      const y = batchNorm(xt, g, b, rm, rv, { training: true, momentum });
      const want = ref.batchNormTraining(x, C, gamma, beta);
      // f32 statistics over up to 20000 rows: 1e-4 relative.
      expect(maxRelErr(await read(y), want.y)).toBeLessThan(1e-4);
      runMean = ref.runningUpdate(runMean, want.mean, momentum);
      runVar = ref.runningUpdate(runVar, want.unbiasedVariance, momentum);
      xt.dispose();
      y.dispose();
    }
    expect(maxRelErr(await read(rm), runMean)).toBeLessThan(1e-5);
    expect(maxRelErr(await read(rv), runVar)).toBeLessThan(1e-5);
    for (const t of [g, b, rm, rv]) t.dispose();
  });

  // Channel groups (3 vec4s, 10 scalars) that do not divide the thread count,
  // over enough rows that each thread of the elementwise kernels walks several.
  it.each([[[2, 33, 17, 12]], [[5, 41, 10]]])('training forward and backward, and evaluation, match the references on %j', async (shape) => {
    const C = shape[shape.length - 1];
    const rand = rng(size(shape) + 1);
    const x = randomArray(size(shape), rand, -1, 1).map((v, i) => 2 * (i % C) - 3 + v * (1 + (i % C)));
    const gOut = randomArray(size(shape), rand, -1, 1);
    const gamma = randomArray(C, rand, 0.5, 1.5), beta = randomArray(C, rand);
    const runMean = randomArray(C, rand), runVar = randomArray(C, rand, 0.5, 2);
    const xt = Tensor.from(x, shape).requireGrad();
    const gt = Tensor.from(gamma).requireGrad(), bt = Tensor.from(beta).requireGrad();
    const rm = Tensor.from(new Float32Array(C)), rv = Tensor.from(new Float32Array(C).fill(1));
    let y!: Tensor;
    tidy(() => {
      y = batchNorm(xt, gt, bt, rm, rv, { training: true });
      y.backward(Tensor.from(gOut, shape));
      return y;
    });
    const want = ref.batchNormTrainingBackward(x, gOut, C, gamma);
    expect(maxRelErr(await read(y), ref.batchNormTraining(x, C, gamma, beta).y)).toBeLessThan(1e-4);
    expect(maxRelErr(await read(xt.grad!), want.dx)).toBeLessThan(1e-3);
    expect(maxRelErr(await read(gt.grad!), want.dgamma)).toBeLessThan(1e-3);
    expect(maxRelErr(await read(bt.grad!), want.dbeta)).toBeLessThan(1e-4);
    const frozenMean = Tensor.from(runMean), frozenVar = Tensor.from(runVar);
    const yEval = noGrad(() => batchNorm(xt, gt, bt, frozenMean, frozenVar, { training: false }));
    expect(maxRelErr(await read(yEval), ref.batchNormEval(x, C, gamma, beta, runMean, runVar))).toBeLessThan(1e-5);
    for (const t of [xt, gt, bt, rm, rv, y, yEval, frozenMean, frozenVar, xt.grad!, gt.grad!, bt.grad!]) t.dispose();
  });

  it('keeps the variance accurate when the mean dwarfs the spread', async () => {
    // mean 1000, std ~0.01: E[x^2] - E[x]^2 in f32 would lose every digit.
    const rows = 4096, C = 4;
    const rand = rng(7);
    const x = Float32Array.from({ length: rows * C }, () => 1000 + 0.02 * (rand() - 0.5));
    const xt = Tensor.from(x, [rows, C]);
    const g = Tensor.from([1, 1, 1, 1]), b = Tensor.from([0, 0, 0, 0]);
    const rm = Tensor.from([0, 0, 0, 0]), rv = Tensor.from([0, 0, 0, 0]);
    const y = batchNorm(xt, g, b, rm, rv, { training: true, momentum: 1 });
    const want = ref.batchNormTraining(x, C, [1, 1, 1, 1], [0, 0, 0, 0]);
    const got = await read(rv);
    // The inputs' own f32 rounding (ulp 6e-5 at 1000) limits this to ~1e-3.
    for (let c = 0; c < C; c++) expect(Math.abs(got[c] - want.unbiasedVariance[c]) / want.unbiasedVariance[c]).toBeLessThan(1e-3);
    // y = fma(x, scale, shift) with |x * scale| ~ 1000 / std ~ 1.7e5, where an f32 ulp is 0.016:
    // allow 3 ulps for the rounding of scale, shift and the result.
    const ulp = 2 ** (Math.floor(Math.log2(1000 / Math.sqrt(want.variance[0]))) - 23);
    expect(maxRelErr(await read(y), want.y)).toBeLessThan(3 * ulp);
    for (const t of [xt, g, b, rm, rv, y]) t.dispose();
  });

  it('gives the same training output on repeated calls although it updates the running statistics', async () => {
    const shape = [2, 4, 4, 6];
    const rand = rng(3);
    const x = Tensor.from(randomArray(size(shape), rand), shape);
    const g = Tensor.from(randomArray(6, rand, 0.5, 1.5)), b = Tensor.from(randomArray(6, rand));
    const rm = Tensor.from(new Float32Array(6)), rv = Tensor.from(new Float32Array(6).fill(1));
    const y1 = batchNorm(x, g, b, rm, rv, { training: true });
    const rm1 = Array.from(await read(rm));
    const y2 = batchNorm(x, g, b, rm, rv, { training: true });
    expect(Array.from(await read(y2))).toEqual(Array.from(await read(y1)));
    expect(Array.from(await read(rm))).not.toEqual(rm1);
    for (const t of [x, g, b, rm, rv, y1, y2]) t.dispose();
  });

  it('uses the running statistics in eval mode and leaves them unchanged', async () => {
    for (const shape of [[3, 4, 4, 8], [10, 5]]) {
      const C = shape[shape.length - 1];
      const rand = rng(C);
      const x = randomArray(size(shape), rand, -2, 2);
      const gamma = randomArray(C, rand, 0.5, 1.5), beta = randomArray(C, rand);
      const runMean = randomArray(C, rand), runVar = randomArray(C, rand, 0.5, 2);
      const xt = Tensor.from(x, shape), g = Tensor.from(gamma), b = Tensor.from(beta);
      const rm = Tensor.from(runMean), rv = Tensor.from(runVar);
      const y = batchNorm(xt, g, b, rm, rv, { training: false });
      expect(maxRelErr(await read(y), ref.batchNormEval(x, C, gamma, beta, runMean, runVar))).toBeLessThan(1e-5);
      // Batch statistics would give something else.
      expect(maxRelErr(await read(y), ref.batchNormTraining(x, C, gamma, beta).y)).toBeGreaterThan(0.05);
      expect(Array.from(await read(rm))).toEqual(Array.from(runMean));
      expect(Array.from(await read(rv))).toEqual(Array.from(runVar));
      for (const t of [xt, g, b, rm, rv, y]) t.dispose();
    }
  });

  it('fuses relu and relu6 for inference, and keeps their gradients when a graph is recorded', async () => {
    const shape = [2, 3, 3, 4], C = 4;
    const rand = rng(5);
    const x = randomArray(size(shape), rand, -3, 3);
    const gamma = Float32Array.from([4, 4, 4, 4]), beta = Float32Array.from([1, 0, 2, -1]);
    const runMean = new Float32Array(C), runVar = new Float32Array(C).fill(1);
    const xt = Tensor.from(x, shape), g = Tensor.from(gamma), b = Tensor.from(beta);
    const rm = Tensor.from(runMean), rv = Tensor.from(runVar);
    const plain = ref.batchNormEval(x, C, gamma, beta, runMean, runVar);
    const yr = batchNorm(xt, g, b, rm, rv, { training: false, activation: 'relu' });
    const y6 = batchNorm(xt, g, b, rm, rv, { training: false, activation: 'relu6' });
    expect(maxRelErr(await read(yr), ref.relu(plain))).toBeLessThan(1e-5);
    expect(maxRelErr(await read(y6), ref.relu6(plain))).toBeLessThan(1e-5);
    g.requireGrad();
    const y = noGrad(() => batchNorm(xt, g, b, rm, rv, { training: false, activation: 'relu' }));
    expect(y.node).toBeNull();
    for (const t of [xt, g, b, rm, rv, yr, y6, y]) t.dispose();
  });

  it('fused relu / relu6 in training and evaluation give the gradients of batchnorm then the activation op', async () => {
    // [3, 4, 4, 8] (vec4 kernels) and [6, 5] (f32 kernels); values spread so both clips are hit.
    for (const [shape, C] of [[[3, 4, 4, 8], 8], [[6, 5], 5]] as [number[], number][]) {
      const rand = rng(17 + C);
      const xh = randomArray(size(shape), rand, -3, 3);
      const gh = randomArray(size(shape), rand);
      const gammaH = randomArray(C, rand, 2, 4), betaH = randomArray(C, rand, -1, 3);
      for (const training of [true, false]) {
        for (const activation of ['relu', 'relu6'] as const) {
          const grads: Float32Array[][] = [];
          for (const fused of [true, false]) {
            const x = Tensor.from(xh, shape).requireGrad();
            const gamma = Tensor.from(gammaH).requireGrad(), beta = Tensor.from(betaH).requireGrad();
            const rm = Tensor.from(new Float32Array(C)), rv = Tensor.from(new Float32Array(C).fill(1));
            tidy(() => {
              const y = fused
                ? batchNorm(x, gamma, beta, rm, rv, { training, activation })
                : (activation === 'relu' ? relu : relu6)(batchNorm(x, gamma, beta, rm, rv, { training }));
              y.backward(Tensor.from(gh, shape));
            });
            grads.push([await read(x.grad!), await read(gamma.grad!), await read(beta.grad!)]);
            for (const t of [x, gamma, beta]) t.grad?.dispose();
            for (const t of [x, gamma, beta, rm, rv]) t.dispose();
          }
          for (let k = 0; k < 3; k++) expect(maxRelErr(grads[0][k], grads[1][k])).toBeLessThan(1e-5);
          // Some outputs were clipped: the mask did something (in eval mode dx is 0 there).
          if (!training) expect(Array.from(grads[0][0]).some((v) => v === 0)).toBe(true);
        }
      }
    }
  });

  it('gives gradients only to the inputs that need them', async () => {
    const shape = [4, 6];
    const rand = rng(9);
    const x = Tensor.from(randomArray(24, rand), shape).requireGrad();
    const g = Tensor.from(randomArray(6, rand, 0.5, 1.5));
    const b = Tensor.from(randomArray(6, rand)).requireGrad();
    const rm = Tensor.from(new Float32Array(6)), rv = Tensor.from(new Float32Array(6).fill(1));
    tidy(() => sum(batchNorm(x, g, b, rm, rv, { training: true })).backward());
    expect(g.grad).toBeNull();
    // d sum(y) / d beta = rows; d sum(y) / dx = 0 (normalised values sum to zero per channel).
    expect(Array.from(await read(b.grad!))).toEqual([4, 4, 4, 4, 4, 4]);
    for (const v of await read(x.grad!)) expect(Math.abs(v)).toBeLessThan(1e-5);
    for (const t of [x, g, b, rm, rv]) { t.zeroGrad(); t.dispose(); }
  });

  it('does not grow the buffer pool over repeated training steps', async () => {
    const shape = [2, 8, 8, 8];
    const rand = rng(4);
    const x = Tensor.from(randomArray(size(shape), rand), shape).requireGrad();
    const g = Tensor.from(randomArray(8, rand, 0.5, 1.5)).requireGrad();
    const b = Tensor.from(randomArray(8, rand)).requireGrad();
    const rm = Tensor.from(new Float32Array(8)), rv = Tensor.from(new Float32Array(8).fill(1));
    const w = Tensor.from(randomArray(size(shape), rand), shape);
    const step = () => {
      tidy(() => sum(mul(relu(batchNorm(x, g, b, rm, rv, { training: true })), w)).backward());
      for (const t of [x, g, b]) t.zeroGrad();
    };
    step();
    await read(rm);
    const before = poolStats();
    for (let i = 0; i < 10; i++) step();
    await read(rm);
    const after = poolStats();
    // <=, not ==: the GC may release tensors an earlier test dropped while this one runs.
    expect(after.liveBytes).toBeLessThanOrEqual(before.liveBytes);
    expect(after.allocations).toBe(before.allocations);
    for (const t of [x, g, b, rm, rv, w]) t.dispose();
  });

  it('rejects mismatched shapes before dispatching, naming the op and the shapes', () => {
    const x = Tensor.empty([2, 3, 3, 4]);
    const c4 = Tensor.empty([4]), c4b = Tensor.empty([4]), c4c = Tensor.empty([4]), c3 = Tensor.empty([3]);
    expect(() => batchNorm(x, c3, c4, c4b, c4c, { training: true })).toThrow('batchNorm: gamma [3] does not match the 4 channels of x [2, 3, 3, 4]; expected [4]');
    expect(() => batchNorm(x, c4, c4b, c4c, c3, { training: false })).toThrow(/batchNorm: runningVar \[3\] does not match the 4 channels of x \[2, 3, 3, 4\]/);
    expect(() => batchNorm(x, c4, c4b, c4c, c4c, { training: true })).toThrow(/runningMean and runningVar must be different tensors/);
    const oneRow = Tensor.empty([1, 4]), c4d = Tensor.empty([4]);
    expect(() => batchNorm(oneRow, c4, c4b, c4c, c4d, { training: true })).toThrow(/batchNorm: training needs more than one value per channel, x \[1, 4\]/);
    for (const t of [x, c4, c4b, c4c, c4d, c3, oneRow]) t.dispose();
  });
});

describe('relu, relu6, prelu', () => {
  it('match the references on both kernel widths', async () => {
    const rand = rng(21);
    for (const shape of [[4, 5, 6, 8], [3, 7, 5]]) {
      const x = randomArray(size(shape), rand, -2, 8);
      const xt = Tensor.from(x, shape);
      const C = shape[shape.length - 1];
      const alpha = randomArray(C, rand, 0.05, 0.5);
      const at = Tensor.from(alpha), a1 = Tensor.from([0.2]);
      const outs = [relu(xt), relu6(xt), prelu(xt, at), prelu(xt, a1)];
      const wants = [ref.relu(x), ref.relu6(x), ref.prelu(x, alpha), ref.prelu(x, [0.2])];
      for (let k = 0; k < outs.length; k++) expect(maxRelErr(await read(outs[k]), wants[k])).toBeLessThan(1e-6);
      for (const t of [xt, at, a1, ...outs]) t.dispose();
    }
  });

  it('prelu forward and both gradients on tensors where each thread walks many rows (vec4 and scalar, per-channel and shared slope)', async () => {
    const rand = rng(23);
    // [2, 33, 17, 12]: vec4 Elems, 3 per row of slopes; [5, 40, 10]: scalar, 10 per row.
    for (const shape of [[2, 33, 17, 12], [5, 40, 10]]) {
      const C = shape[shape.length - 1];
      const x = randomArray(size(shape), rand, -2, 2);
      const g = randomArray(size(shape), rand, -1, 1);
      for (const alpha of [randomArray(C, rand, 0.05, 0.5), [0.2]]) {
        const xt = Tensor.from(x, shape).requireGrad();
        const at = Tensor.from(alpha).requireGrad();
        let y!: Tensor;
        tidy(() => {
          y = prelu(xt, at);
          y.backward(Tensor.from(g, shape));
          return y;
        });
        const slope = (i: number) => alpha[alpha.length === 1 ? 0 : i % C];
        expect(maxRelErr(await read(y), ref.prelu(x, alpha))).toBeLessThan(1e-6);
        expect(maxRelErr(await read(xt.grad!), Array.from(x, (v, i) => (v > 0 ? g[i] : g[i] * slope(i))))).toBeLessThan(1e-6);
        const dalpha = new Float64Array(alpha.length);
        x.forEach((v, i) => { if (v <= 0) dalpha[alpha.length === 1 ? 0 : i % C] += g[i] * v; });
        expect(maxRelErr(await read(at.grad!), dalpha)).toBeLessThan(1e-4);
        for (const t of [xt, at, y, xt.grad!, at.grad!]) t.dispose();
      }
    }
  });

  it('prelu rejects an alpha that is neither [1] nor [C]', () => {
    const x = Tensor.empty([2, 4]);
    const a = Tensor.empty([3]);
    expect(() => prelu(x, a)).toThrow('prelu: alpha [3] must be [1] or match the 4 channels of x [2, 4]');
    x.dispose();
    a.dispose();
  });
});

describe('dropout', () => {
  const n = 100_000;
  const p = 0.3;

  it('keeps about 1 - p of the elements, scales them by 1 / (1 - p), and matches the CPU hash exactly', async () => {
    for (const len of [n, n + 1]) {
      // Both widths: n is a multiple of 4, n + 1 is not.
      const x = Float32Array.from({ length: len }, (_, i) => 1 + (i % 7));
      const xt = Tensor.from(x);
      const y = dropout(xt, p, { training: true, seed: 42 });
      const got = await read(y);
      let kept = 0;
      const wrong: number[] = [];
      for (let i = 0; i < len; i++) {
        const keep = ref.dropoutKeeps(i, 42, p);
        if (keep) kept++;
        // Kept values within 1e-6 relative (the f32 rounding of x * scale); dropped ones exactly 0.
        const ok = keep ? Math.abs(got[i] - x[i] / (1 - p)) <= 1e-6 * got[i] : got[i] === 0;
        if (!ok) wrong.push(i);
      }
      expect(wrong.slice(0, 10)).toEqual([]);
      // Binomial std of the kept fraction is sqrt(p(1-p)/n) ~ 0.0015: 0.01 is ~7 sigma.
      expect(Math.abs(kept / len - (1 - p))).toBeLessThan(0.01);
      xt.dispose();
      y.dispose();
    }
  });

  it('gives each of the four vec4 lanes, and each seed, an independent mask', () => {
    const lanes = [0, 0, 0, 0];
    let agree = 0;
    for (let i = 0; i < n; i++) {
      const a = ref.dropoutKeeps(i, 7, p);
      if (a) lanes[i % 4]++;
      if (a === ref.dropoutKeeps(i, 8, p)) agree++;
    }
    for (const k of lanes) expect(Math.abs(k / (n / 4) - (1 - p))).toBeLessThan(0.02);
    // Independent masks agree with probability p^2 + (1-p)^2 = 0.58.
    expect(Math.abs(agree / n - 0.58)).toBeLessThan(0.01);
  });

  it('reproduces a mask from its seed and applies it in the backward', async () => {
    const x = Tensor.from(randomArray(4096, rng(1)), [64, 64]).requireGrad();
    const y1 = dropout(x, p, { training: true, seed: 99 });
    const y2 = noGrad(() => dropout(x, p, { training: true, seed: 99 }));
    const y3 = noGrad(() => dropout(x, p, { training: true, seed: 100 }));
    expect(Array.from(await read(y2))).toEqual(Array.from(await read(y1)));
    expect(Array.from(await read(y3))).not.toEqual(Array.from(await read(y1)));
    tidy(() => sum(y1).backward());
    const grad = await read(x.grad!);
    const want = Float32Array.from({ length: 4096 }, (_, i) => (ref.dropoutKeeps(i, 99, p) ? 1 / (1 - p) : 0));
    expect(Array.from(grad)).toEqual(Array.from(want));
    for (const t of [x, y1, y2, y3]) { t.zeroGrad(); t.dispose(); }
  });

  it('is the identity in eval mode and for p = 0, and zeroes everything for p = 1', async () => {
    const x = Tensor.from([1, -2, 3, 4, 5]);
    expect(dropout(x, p, { training: false })).toBe(x);
    expect(dropout(x, 0, { training: true })).toBe(x);
    const y = dropout(x, 1, { training: true, seed: 3 });
    expect(Array.from(await read(y))).toEqual([0, 0, 0, 0, 0]);
    expect(() => dropout(x, 1.5, { training: true })).toThrow('dropout: p must be in [0, 1], got 1.5');
    expect(() => dropout(x, 0.5, { training: true, seed: -1 })).toThrow(/dropout: seed must be an integer/);
    x.dispose();
    y.dispose();
  });
});
