import { describe, it, expect } from 'vitest';
import { Tensor, tidy, noGrad } from '../engine/tensor.js';
import { runtime } from '../engine/runtime.js';
import { conv2d, depthwiseConv2d, forceDirectPlain, forwardRowGroups, forceDepthwiseStrip, type ConvVariant, type Conv2dOptions, type DepthwiseStripMode } from '../engine/ops/conv.js';
import { prelu } from '../engine/ops/activation.js';
import { maxPool2d } from '../engine/ops/pool.js';
import { conv2dRef, conv2dBackwardRef, depthwiseConv2dRef, type ConvRefParams } from './reference/conv.js';
import { rng, randomArray } from './gradcheck/harness.js';

const rand = rng(20261123);
const size = (shape: number[]) => shape.reduce((a, d) => a * d, 1);
const random = (shape: number[]) => randomArray(size(shape), rand);

/** Largest |got - want| / (1 + |want|): an error relative to the value's scale. */
function maxScaledError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let e = 0;
  for (let i = 0; i < got.length; i++) e = Math.max(e, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
  return e;
}

// float32 sums of a few hundred products of values in [-1, 1] stay within ~1e-5
// of the float64 reference; 1e-4 leaves room without hiding a wrong tap.
const TOL = 1e-4;

/** Runs `fn` and says how many dispatches it recorded (0 = it threw before touching the GPU). */
function dispatchesDuring(fn: () => void): number {
  const before = runtime().recorder.dispatches;
  try {
    fn();
  } catch {
    /* the caller checks the error separately */
  }
  return runtime().recorder.dispatches - before;
}

describe('conv2d argument checks', () => {
  const cases: [string, number[], number[], Conv2dOptions, number[] | null, RegExp][] = [
    ['channel mismatch', [1, 5, 5, 3], [3, 3, 4, 8], {}, null, /conv2d: input \[1, 5, 5, 3\] has 3 channels, weight \[3, 3, 4, 8\] expects 4/],
    ['kernel larger than the padded input', [1, 4, 4, 3], [7, 7, 3, 8], { padding: 1 }, null, /conv2d: kernel 7x7 .*weight \[7, 7, 3, 8\].* larger than the padded input 6x6 \(input \[1, 4, 4, 3\], padding \[1, 1\]\)/],
    ['groups not dividing the channels', [1, 5, 5, 6], [3, 3, 2, 8], { groups: 3 }, null, /conv2d: groups 3 .*dividing.* \(input \[1, 5, 5, 6\], weight \[3, 3, 2, 8\]\)/],
    ['groups zero', [1, 5, 5, 6], [3, 3, 6, 8], { groups: 0 }, null, /conv2d: groups 0 must be a positive integer/],
    ['weight per-group channels wrong', [1, 5, 5, 8], [3, 3, 8, 8], { groups: 2 }, null, /conv2d: input \[1, 5, 5, 8\] has 8 channels, weight \[3, 3, 8, 8\] expects 16 \(8 per group x 2 groups\)/],
    ['bias of the wrong length', [1, 5, 5, 3], [3, 3, 3, 8], {}, [5], /conv2d: bias \[5\] must be f32 \[8\].*weight \[3, 3, 3, 8\]/],
    ['input not NHWC', [5, 5, 3], [3, 3, 3, 8], {}, null, /conv2d: input \[5, 5, 3\] must be an NHWC image batch/],
    ['weight of rank 3', [1, 5, 5, 3], [3, 3, 3], {}, null, /conv2d: weight \[3, 3, 3\] must be \[kh, kw, Cin\/groups, Cout\]/],
    ['zero stride', [1, 5, 5, 3], [3, 3, 3, 8], { stride: 0 }, null, /conv2d: stride must be positive integers, got 0/],
    ['negative padding', [1, 5, 5, 3], [3, 3, 3, 8], { padding: [1, -1] }, null, /conv2d: padding must be non-negative integers, got \[1,-1\]/],
  ];
  it.each(cases)('%s', (_name, xs, ws, opts, bs, message) => {
    const x = Tensor.empty(xs);
    const w = Tensor.empty(ws);
    const b = bs ? Tensor.empty(bs) : null;
    expect(() => conv2d(x, w, b, opts)).toThrow(message);
    expect(dispatchesDuring(() => conv2d(x, w, b, opts))).toBe(0);
    [x, w, b].forEach((t) => t?.dispose());
  });

  it('refuses a fused activation when gradients are wanted, and allows it under noGrad', () => {
    const x = Tensor.from(random([1, 4, 4, 4]), [1, 4, 4, 4]);
    const w = Tensor.from(random([3, 3, 4, 4]), [3, 3, 4, 4]).requireGrad();
    expect(() => conv2d(x, w, null, { activation: 'relu' })).toThrow(/conv2d: the fused relu is inference-only/);
    const y = noGrad(() => conv2d(x, w, null, { activation: 'relu' }));
    expect(y.shape).toEqual([1, 2, 2, 4]);
    [x, w, y].forEach((t) => t.dispose());
  });
});

describe('depthwiseConv2d argument checks', () => {
  it('names the op and both shapes on a channel mismatch, before dispatching', () => {
    const x = Tensor.empty([1, 5, 5, 6]);
    const w = Tensor.empty([3, 3, 4]);
    expect(() => depthwiseConv2d(x, w)).toThrow(/depthwiseConv2d: input \[1, 5, 5, 6\] has 6 channels, weight \[3, 3, 4\] has 4/);
    expect(dispatchesDuring(() => depthwiseConv2d(x, w))).toBe(0);
    [x, w].forEach((t) => t.dispose());
  });

  it('rejects a kernel larger than the padded input, a 4-D weight, and a fast variant it cannot run', () => {
    const x = Tensor.empty([1, 2, 12, 4]);
    const big = Tensor.empty([5, 5, 4]);
    const w4 = Tensor.empty([3, 3, 1, 4]);
    const wide = Tensor.empty([1, 9, 4]);
    expect(() => depthwiseConv2d(x, big, null, { padding: 1 })).toThrow(/depthwiseConv2d: kernel 5x5 .* larger than the padded input 4x14/);
    expect(() => depthwiseConv2d(x, w4)).toThrow(/depthwiseConv2d: weight \[3, 3, 1, 4\] must be \[kh, kw, C\]/);
    expect(() => depthwiseConv2d(x, wide, null, { variant: 'fast' })).toThrow(/depthwiseConv2d: the fast variant takes kernels at most 7 wide, weight \[1, 9, 4\]/);
    [x, big, w4, wide].forEach((t) => t.dispose());
  });
});

interface Problem {
  x: number[];
  w: number[];
  p: ConvRefParams;
  bias: boolean;
}

/** Forward and (with `backward`) both gradients on the GPU against the CPU reference. */
async function checkConv(pr: Problem, variant: ConvVariant, backward: boolean): Promise<{ fwd: number; gx: number; gw: number; gb: number }> {
  const xh = random(pr.x);
  const wh = random(pr.w);
  const bh = pr.bias ? random([pr.w[3]]) : null;
  const ref = conv2dRef(xh, pr.x, wh, pr.w, bh, pr.p);
  const gyh = random(ref.shape);
  const x = Tensor.from(xh, pr.x).requireGrad(backward);
  const w = Tensor.from(wh, pr.w).requireGrad(backward);
  const b = bh ? Tensor.from(bh, [pr.w[3]]).requireGrad(backward) : null;
  const opts = { stride: pr.p.stride, padding: pr.p.padding, groups: pr.p.groups, activation: pr.p.activation, variant };
  const y = conv2d(x, w, b, opts);
  expect(y.shape).toEqual(ref.shape);
  const fwd = maxScaledError(await y.data(), ref.data);
  let gx = 0, gw = 0, gb = 0;
  if (backward) {
    tidy(() => y.backward(Tensor.from(gyh, ref.shape)));
    const want = conv2dBackwardRef(xh, pr.x, wh, pr.w, gyh, pr.p);
    gx = maxScaledError(await x.grad!.data(), want.gx);
    gw = maxScaledError(await w.grad!.data(), want.gw);
    if (b) {
      const C = pr.w[3];
      const sums = new Float64Array(C);
      gyh.forEach((v, i) => (sums[i % C] += v));
      gb = maxScaledError(await b.grad!.data(), sums);
    }
  }
  for (const t of [x, w, b, y]) {
    t?.grad?.dispose();
    t?.dispose();
  }
  return { fwd, gx, gw, gb };
}

const s2p1 = (groups = 1): ConvRefParams => ({ stride: [2, 2], padding: [1, 1], groups });

describe('conv2d against the CPU reference', () => {
  const variants: ConvVariant[] = ['fast', 'plain'];

  it.each(variants)('N2 33x29 16->32 3x3 s2 p1, forward and backward (%s)', async (variant) => {
    const e = await checkConv({ x: [2, 33, 29, 16], w: [3, 3, 16, 32], p: s2p1(), bias: true }, variant, true);
    expect(e.fwd).toBeLessThan(TOL);
    expect(e.gx).toBeLessThan(TOL);
    // dw sums over all 2*17*15 output pixels: more terms, more rounding.
    expect(e.gw).toBeLessThan(5 * TOL);
    expect(e.gb).toBeLessThan(5 * TOL);
  });

  it.each(variants)('tile edges: 40 output channels, 3 row blocks, 5x3 kernel, stride [1, 2], groups 2 (%s)', async (variant) => {
    const e = await checkConv({ x: [1, 9, 11, 24], w: [5, 3, 12, 40], p: { stride: [1, 2], padding: [2, 1], groups: 2 }, bias: false }, variant, true);
    expect(e.fwd).toBeLessThan(TOL);
    expect(e.gx).toBeLessThan(TOL);
    expect(e.gw).toBeLessThan(5 * TOL);
  });

  it.each(variants)('Cin=3 Cout=10 (padded weights in the fast kernels) forward and backward (%s)', async (variant) => {
    const e = await checkConv({ x: [2, 12, 12, 3], w: [3, 3, 3, 10], p: { stride: [1, 1], padding: [0, 0], groups: 1 }, bias: true }, variant, true);
    expect(e.fwd).toBeLessThan(TOL);
    expect(e.gx).toBeLessThan(TOL);
    expect(e.gw).toBeLessThan(5 * TOL);
    expect(e.gb).toBeLessThan(5 * TOL);
  });

  it.each(variants)('odd channel counts in groups: 3 groups of 5 -> 7, stride 2 (%s)', async (variant) => {
    const e = await checkConv({ x: [2, 10, 9, 15], w: [3, 3, 5, 21], p: s2p1(3), bias: true }, variant, true);
    expect(e.fwd).toBeLessThan(TOL);
    expect(e.gx).toBeLessThan(TOL);
    expect(e.gw).toBeLessThan(5 * TOL);
    expect(e.gb).toBeLessThan(5 * TOL);
  });

  it.each(variants)('pointwise 1x1 (gradients as matmuls in the fast path): N2 7x9 24->20 and 5->36 (%s)', async (variant) => {
    for (const [cin, cout] of [[24, 20], [5, 36]]) {
      const e = await checkConv({ x: [2, 7, 9, cin], w: [1, 1, cin, cout], p: { stride: [1, 1], padding: [0, 0], groups: 1 }, bias: true }, variant, true);
      expect(e.fwd).toBeLessThan(TOL);
      expect(e.gx).toBeLessThan(TOL);
      expect(e.gw).toBeLessThan(5 * TOL);
      expect(e.gb).toBeLessThan(5 * TOL);
    }
  });

  // The fast forward reads input pixel p for output pixel p when the kernel is
  // 1x1 at stride 1 without padding (POINTWISE); grouped, it still offsets by
  // the group, and a strided or padded 1x1 keeps the coordinate arithmetic.
  it.each(variants)('1x1 kernels off the plain GEMM path: 2 groups of 12->20, stride 2, padding 1 (%s)', async (variant) => {
    for (const p of [{ stride: [1, 1], padding: [0, 0], groups: 2 }, { stride: [2, 2], padding: [0, 0], groups: 1 }, { stride: [1, 1], padding: [1, 1], groups: 1 }] as ConvRefParams[]) {
      const w = [1, 1, p.groups === 2 ? 12 : 24, 40];
      const e = await checkConv({ x: [2, 7, 9, 24], w, p, bias: true }, variant, true);
      expect(e.fwd).toBeLessThan(TOL);
      expect(e.gx).toBeLessThan(TOL);
      expect(e.gw).toBeLessThan(5 * TOL);
    }
  });

  it.each(variants)('split last column block: 28->48 (R-Net conv2, 16-channel tail), 2 groups of 12->40, rows not a multiple of 48 (%s)', async (variant) => {
    for (const [x, w, groups] of [[[5, 11, 11, 28], [3, 3, 28, 48], 1], [[1, 9, 7, 24], [3, 3, 12, 80], 2]] as [number[], number[], number][]) {
      const e = await checkConv({ x, w, p: { stride: [1, 1], padding: [1, 0], groups }, bias: true }, variant, false);
      expect(e.fwd).toBeLessThan(TOL);
    }
  });

  it('more than 65535 row blocks: the fast grid spills into z', async () => {
    // 4,198,401 output pixels / 64 per lane group = 65,601 row blocks.
    expect(forwardRowGroups(2049 * 2049)).toBe(8);
    const e = await checkConv({ x: [1, 2049, 2049, 1], w: [1, 1, 1, 4], p: { stride: [1, 1], padding: [0, 0], groups: 1 }, bias: false }, 'fast', false);
    expect(e.fwd).toBeLessThan(TOL);
  });

  it('the forward tile height follows the pixel count', () => {
    // The cases above rely on these to run every height: 64 rows (16->32 s2,
    // 510 pixels; the 40-channel groups, 54; 28->48, 495), 24 (Cin=3, 200)
    // and 32 (the 5x5 images below, 25).
    expect([510, 54, 495, 200, 25088, 25].map(forwardRowGroups)).toEqual([8, 8, 8, 3, 8, 4]);
  });

  it.each(variants)('one 32-row tile for 25 output pixels: 1x1 and 3x3 on 5x5 images (%s)', async (variant) => {
    for (const [w, padding] of [[[1, 1, 24, 40], 0], [[3, 3, 24, 40], 1]] as [number[], number][]) {
      const e = await checkConv({ x: [1, 5, 5, 24], w, p: { stride: [1, 1], padding: [padding, padding], groups: 1 }, bias: true }, variant, false);
      expect(e.fwd).toBeLessThan(TOL);
    }
  });

  it.each(variants)('fused relu and relu6 match conv + activation of the reference (%s)', async (variant) => {
    for (const activation of ['relu', 'relu6'] as const) {
      // Inputs in [-1, 1] with Cin=16 give outputs well past 6, so relu6 clips on both sides.
      const e = await checkConv({ x: [1, 8, 7, 16], w: [3, 3, 16, 8], p: { stride: [1, 1], padding: [1, 1], groups: 1, activation }, bias: true }, variant, false);
      expect(e.fwd).toBeLessThan(TOL);
    }
  });

  it('fused relu6 output actually clips at 0 and 6', async () => {
    const x = Tensor.from(new Float32Array(4 * 4 * 4).fill(1), [1, 4, 4, 4]);
    const w = Tensor.from(Float32Array.from({ length: 4 * 4 }, (_, i) => (i % 4 === 0 ? 3 : i % 4 === 1 ? -3 : 0.1)), [1, 1, 4, 4]);
    const y = conv2d(x, w, null, { activation: 'relu6' });
    const v = await y.data();
    // Per pixel: channel 0 = 4*3 -> 6, channel 1 = -12 -> 0, channels 2, 3 = 0.4.
    expect(Array.from(v.slice(0, 4)).map((a) => +a.toFixed(5))).toEqual([6, 0, 0.4, 0.4]);
    [x, w, y].forEach((t) => t.dispose());
  });

  it('handles an empty batch: empty output, zero weight and bias gradients', async () => {
    const x = Tensor.empty([0, 6, 6, 4]).requireGrad();
    const w = Tensor.from(random([3, 3, 4, 8]), [3, 3, 4, 8]).requireGrad();
    const b = Tensor.from(random([8]), [8]).requireGrad();
    const y = conv2d(x, w, b, { padding: 1 });
    expect(y.shape).toEqual([0, 6, 6, 8]);
    y.backward(Tensor.empty([0, 6, 6, 8]));
    expect(Array.from(await w.grad!.data()).every((v) => v === 0)).toBe(true);
    expect(Array.from(await b.grad!.data()).every((v) => v === 0)).toBe(true);
    expect(x.grad!.shape).toEqual([0, 6, 6, 4]);
    for (const t of [x, w, b, y]) {
      t.grad?.dispose();
      t.dispose();
    }
  });
});

describe('conv2d direct kernel (few channels) against the CPU reference', () => {
  // 'direct' broadcasts weights with subgroup shuffles on software adapters;
  // 'direct-plain' forces the GPU form that reads them straight from memory.
  const modes = ['direct', 'direct-plain'] as const;
  const run = async (mode: (typeof modes)[number], pr: Parameters<typeof checkConv>[0], backward = false) => {
    forceDirectPlain(mode === 'direct-plain');
    try {
      return await checkConv(pr, 'direct', backward);
    } finally {
      forceDirectPlain(false);
    }
  };
  const one = (activation?: ConvRefParams['activation']): ConvRefParams => ({ stride: [1, 1], padding: [0, 0], groups: 1, activation });

  it.each(modes)('P-Net shapes 3->10, 10->16, 32->2 1x1; forward, and backward through auto (%s)', async (mode) => {
    for (const [x, w] of [[[2, 17, 23, 3], [3, 3, 3, 10]], [[1, 9, 14, 10], [3, 3, 10, 16]], [[1, 5, 7, 32], [1, 1, 32, 2]]]) {
      const e = await run(mode, { x, w, p: one(), bias: true }, true);
      expect(e.fwd).toBeLessThan(TOL);
      expect(e.gx).toBeLessThan(TOL);
      expect(e.gw).toBeLessThan(5 * TOL);
    }
  });

  it.each(modes)('channel blocks (40 outputs), 5x3 kernel, stride [2, 3], padding, width below a thread row, fused activations (%s)', async (mode) => {
    for (const [x, w, p, bias] of [
      [[2, 11, 13, 3], [5, 3, 3, 40], { stride: [2, 3], padding: [2, 1], groups: 1 }, false],
      [[1, 6, 3, 4], [3, 3, 4, 28], { stride: [1, 1], padding: [1, 1], groups: 1, activation: 'relu' }, true],
      [[3, 7, 9, 5], [2, 7, 5, 6], { stride: [1, 2], padding: [0, 3], groups: 1, activation: 'relu6' }, true],
    ] as [number[], number[], ConvRefParams, boolean][]) {
      const e = await run(mode, { x, w, p, bias });
      expect(e.fwd).toBeLessThan(TOL);
    }
  });

  it('auto takes the direct kernel for few channels and matches the fast one', async () => {
    const x = Tensor.from(random([1, 20, 30, 3]), [1, 20, 30, 3]);
    const w = Tensor.from(random([3, 3, 3, 10]), [3, 3, 3, 10]);
    const a = noGrad(() => conv2d(x, w, null, { variant: 'direct' }));
    const b = noGrad(() => conv2d(x, w, null));
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    [x, w, a, b].forEach((t) => t.dispose());
  });
});

describe('conv2d fused prelu', () => {
  const cases: [string, number[], number[], ConvVariant][] = [
    ['direct 3->10', [1, 12, 13, 3], [3, 3, 3, 10], 'direct'],
    ['fast 16->32', [1, 9, 10, 16], [3, 3, 16, 32], 'fast'],
    ['plain 4->6 (prelu op after)', [1, 6, 7, 4], [3, 3, 4, 6], 'plain'],
  ];
  it.each(cases)('%s: per-channel and shared slopes equal conv + prelu', async (_name, xs, ws, variant) => {
    const x = Tensor.from(random(xs), xs);
    const w = Tensor.from(random(ws), ws);
    const b = Tensor.from(random([ws[3]]), [ws[3]]);
    for (const slopes of [Tensor.from(random([ws[3]]), [ws[3]]), Tensor.from([0.3], [1])]) {
      const fused = noGrad(() => conv2d(x, w, b, { prelu: slopes, variant }));
      const ref = noGrad(() => prelu(conv2d(x, w, b, { variant: 'plain' }), slopes));
      expect(maxScaledError(await fused.data(), await ref.data())).toBeLessThan(TOL);
      [fused, ref, slopes].forEach((t) => t.dispose());
    }
    [x, w, b].forEach((t) => t.dispose());
  });

  it('refuses prelu with an activation, with the wrong slope count, and when gradients are wanted', () => {
    const x = Tensor.from(random([1, 4, 4, 3]), [1, 4, 4, 3]);
    const w = Tensor.from(random([3, 3, 3, 4]), [3, 3, 3, 4]).requireGrad();
    const a = Tensor.from(random([4]), [4]);
    const a3 = Tensor.from(random([3]), [3]);
    expect(() => noGrad(() => conv2d(x, w, null, { prelu: a, activation: 'relu' }))).toThrow(/conv2d: prelu and activation "relu" are exclusive/);
    expect(() => noGrad(() => conv2d(x, w, null, { prelu: a3 }))).toThrow(/conv2d: prelu slopes \[3\] must be f32 \[4\] or \[1\]/);
    expect(() => conv2d(x, w, null, { prelu: a })).toThrow(/conv2d: the fused prelu is inference-only/);
    [x, w, a, a3].forEach((t) => t.dispose());
  });
});

describe('conv2d fused max pool', () => {
  // Against conv -> prelu -> maxPool2d run as separate ops (plain conv).
  const cases: [string, number[], number[], Partial<Conv2dOptions>, 'direct' | 'direct-plain' | 'auto' | 'fast', number][] = [
    ['2x2: P-Net 3->10, odd sizes', [2, 17, 23, 3], [3, 3, 3, 10], {}, 'direct', 2],
    ['2x2: P-Net 3->10, GPU form', [1, 16, 21, 3], [3, 3, 3, 10], {}, 'direct-plain', 2],
    ['2x2: 4 channel vec4s, 2 blocks (28), padding, width below a thread row', [1, 9, 6, 4], [3, 3, 4, 28], { padding: [1, 1] }, 'direct', 2],
    ['2x2: 2x3 conv output (a last window of one column, ceil)', [1, 4, 5, 3], [3, 3, 3, 8], {}, 'direct', 2],
    ['3x3: R-Net 3->28 on 24x24 crops', [3, 24, 24, 3], [3, 3, 3, 28], {}, 'direct', 3],
    ['3x3: O-Net 3->32 on 48x48 crops, GPU form', [2, 48, 48, 3], [3, 3, 3, 32], {}, 'direct-plain', 3],
    ['3x3: odd and even sizes, 10 channels, padding', [2, 13, 10, 3], [3, 3, 3, 10], { padding: [1, 0] }, 'direct', 3],
    ['3x3: 3x4 conv output (one pooled row)', [1, 5, 6, 3], [3, 3, 3, 4], {}, 'direct', 3],
    ['3x3 after a stride-2 conv', [1, 19, 23, 3], [3, 3, 3, 12], { stride: [2, 2] }, 'direct', 3],
    ['2x2 after a stride-2 conv', [1, 19, 23, 3], [3, 3, 3, 12], { stride: [2, 2] }, 'direct', 2],
    ['not fusable (fast kernel): conv then pool', [1, 12, 13, 16], [3, 3, 16, 32], {}, 'fast', 2],
  ];
  it.each(cases)('%s', async (_name, xs, ws, extra, mode, k) => {
    const x = Tensor.from(random(xs), xs);
    const w = Tensor.from(random(ws), ws);
    const b = Tensor.from(random([ws[3]]), [ws[3]]);
    const slopes = Tensor.from(random([ws[3]]), [ws[3]]);
    forceDirectPlain(mode === 'direct-plain');
    try {
      for (const ceilMode of [true, false]) {
        const pool = { kernel: k, stride: 2, ceilMode };
        const variant = mode === 'direct-plain' ? 'direct' : mode;
        const fused = noGrad(() => conv2d(x, w, b, { ...extra, prelu: slopes, maxPool: pool, variant }));
        const ref = tidy(() => noGrad(() => maxPool2d(prelu(conv2d(x, w, b, { ...extra, variant: 'plain' }), slopes), pool)));
        expect(fused.shape).toEqual(ref.shape);
        expect(maxScaledError(await fused.data(), await ref.data())).toBeLessThan(TOL);
        [fused, ref].forEach((t) => t.dispose());
      }
    } finally {
      forceDirectPlain(false);
    }
    [x, w, b, slopes].forEach((t) => t.dispose());
  });

  it('other pools run as conv then maxPool2d; gradients are refused', async () => {
    const x = Tensor.from(random([1, 11, 11, 3]), [1, 11, 11, 3]);
    const w = Tensor.from(random([3, 3, 3, 6]), [3, 3, 3, 6]);
    for (const pool of [{ kernel: 3, stride: 1 }, { kernel: 3, stride: 2, padding: 1 }, { kernel: [2, 3] as [number, number], stride: 2 }]) {
      const fused = noGrad(() => conv2d(x, w, null, { activation: 'relu', maxPool: pool }));
      const ref = tidy(() => noGrad(() => maxPool2d(conv2d(x, w, null, { activation: 'relu', variant: 'plain' }), pool)));
      expect(maxScaledError(await fused.data(), await ref.data())).toBeLessThan(TOL);
      [fused, ref].forEach((t) => t.dispose());
    }
    const wg = Tensor.from(random([3, 3, 3, 6]), [3, 3, 3, 6]).requireGrad();
    expect(() => conv2d(x, wg, null, { maxPool: { kernel: 2 } })).toThrow(/conv2d: the fused max pool is inference-only/);
    [x, w, wg].forEach((t) => t.dispose());
  });
});

describe('depthwiseConv2d against the CPU reference', () => {
  it.each([['fast', 8], ['plain', 8], ['fast', 6], ['plain', 6]] as [ConvVariant, number][])('N2 17x15 3x3 s2 p1 and s1 p1, forward and backward (%s, C=%i)', async (variant, C) => {
    for (const stride of [1, 2]) {
      const shape = [2, 17, 15, C];
      const xh = random(shape), wh = random([3, 3, C]), bh = random([C]);
      const p = { stride: [stride, stride] as [number, number], padding: [1, 1] as [number, number] };
      const ref = depthwiseConv2dRef(xh, shape, wh, [3, 3, 8], bh, p);
      const gyh = random(ref.shape);
      const x = Tensor.from(xh, shape).requireGrad();
      const w = Tensor.from(wh, [3, 3, C]).requireGrad();
      const b = Tensor.from(bh, [C]);
      const y = depthwiseConv2d(x, w, b, { ...p, variant });
      expect(maxScaledError(await y.data(), ref.data)).toBeLessThan(TOL);
      tidy(() => y.backward(Tensor.from(gyh, ref.shape)));
      const want = conv2dBackwardRef(xh, shape, wh, [3, 3, 1, C], gyh, { ...p, groups: C });
      expect(maxScaledError(await x.grad!.data(), want.gx)).toBeLessThan(TOL);
      expect(maxScaledError(await w.grad!.data(), want.gw)).toBeLessThan(5 * TOL);
      for (const t of [x, w, b, y]) {
        t.grad?.dispose();
        t.dispose();
      }
    }
  });

  // Tall inputs give the weight gradient's strip kernel (stride 1) segments of
  // several output lines; 2x3 and 3x2 kernels and p0 its partial windows and
  // odd blocks; stride 2 the input gradient's row kernel.
  it.each([
    [[2, 100, 16, 64], [3, 3], 1, 1],
    [[2, 100, 16, 64], [3, 3], 2, 1],
    [[2, 41, 11, 6], [2, 3], 2, 0],
    [[1, 30, 13, 8], [3, 2], 1, 0],
  ] as [number[], [number, number], number, number][])('x %j kernel %j stride %i padding %i: forward and backward', async (shape, k, stride, pad) => {
    const C = shape[3];
    const xh = random(shape), wh = random([k[0], k[1], C]);
    const p = { stride: [stride, stride] as [number, number], padding: [pad, pad] as [number, number] };
    const ref = depthwiseConv2dRef(xh, shape, wh, [k[0], k[1], C], null, p);
    const gyh = random(ref.shape);
    const x = Tensor.from(xh, shape).requireGrad();
    const w = Tensor.from(wh, [k[0], k[1], C]).requireGrad();
    const y = depthwiseConv2d(x, w, null, p);
    expect(maxScaledError(await y.data(), ref.data)).toBeLessThan(TOL);
    tidy(() => y.backward(Tensor.from(gyh, ref.shape)));
    const want = conv2dBackwardRef(xh, shape, wh, [k[0], k[1], 1, C], gyh, { ...p, groups: C });
    expect(maxScaledError(await x.grad!.data(), want.gx)).toBeLessThan(TOL);
    expect(maxScaledError(await w.grad!.data(), want.gw)).toBeLessThan(5 * TOL);
    for (const t of [x, w, y]) {
      t.grad?.dispose();
      t.dispose();
    }
  });

  // forward_3x3_strip_wide / forward_3x3_strip / forward_3x3_s2_strip (3x3 at
  // stride 1 and 2, and the stride-1 input gradient, which runs a forward) with
  // one channel per thread (8 outputs along x at stride 1), four per thread,
  // and the row kernel they replace; short strips leave a
  // partial last strip, odd widths a partial last block (8 outputs along x at
  // stride 1, 4 at stride 2; 19 columns: two whole blocks and 3), padding 0 and
  // 2 other windows.
  it.each([
    ['scalar', 0], ['vec4', 0], ['off', 0], ['scalar', 3], ['vec4', 5],
  ] as [DepthwiseStripMode, number][])('3x3 stride 1 and 2 strip kernels (%s, %i lines per strip): forward with bias and relu6, backward', async (mode, lines) => {
    forceDepthwiseStrip(mode, lines);
    try {
      const problems: [number[], number, number][] = [
        [[2, 13, 11, 8], 1, 1], [[1, 9, 7, 6], 0, 1], [[2, 6, 5, 12], 2, 1], [[1, 17, 4, 3], 1, 1], [[1, 7, 19, 5], 1, 1],
        [[2, 13, 11, 8], 1, 2], [[1, 20, 18, 6], 0, 2], [[2, 9, 10, 12], 1, 2], [[1, 16, 16, 4], 1, 2],
      ];
      for (const [shape, pad, stride] of problems) {
        const C = shape[3];
        const xh = random(shape), wh = random([3, 3, C]), bh = random([C]);
        const p = { stride: [stride, stride] as [number, number], padding: [pad, pad] as [number, number] };
        for (const activation of ['none', 'relu6'] as const) {
          const ref = depthwiseConv2dRef(xh.map((v) => v * 4), shape, wh, [3, 3, C], bh, { ...p, activation });
          const xs = Tensor.from(xh.map((v) => v * 4), shape), ws = Tensor.from(wh, [3, 3, C]), bs = Tensor.from(bh, [C]);
          const ys = noGrad(() => depthwiseConv2d(xs, ws, bs, { ...p, activation }));
          expect(maxScaledError(await ys.data(), ref.data)).toBeLessThan(TOL);
          [xs, ws, bs, ys].forEach((t) => t.dispose());
        }
        const ref = depthwiseConv2dRef(xh, shape, wh, [3, 3, C], bh, p);
        const gyh = random(ref.shape);
        const x = Tensor.from(xh, shape).requireGrad();
        const w = Tensor.from(wh, [3, 3, C]).requireGrad();
        const y = depthwiseConv2d(x, w, null, p);
        tidy(() => y.backward(Tensor.from(gyh, ref.shape)));
        const want = conv2dBackwardRef(xh, shape, wh, [3, 3, 1, C], gyh, { ...p, groups: C });
        expect(maxScaledError(await x.grad!.data(), want.gx)).toBeLessThan(TOL);
        expect(maxScaledError(await w.grad!.data(), want.gw)).toBeLessThan(5 * TOL);
        for (const t of [x, w, y]) {
          t.grad?.dispose();
          t.dispose();
        }
      }
    } finally {
      forceDepthwiseStrip('auto');
    }
  });

  it('fused relu6 matches the reference with the activation', async () => {
    const shape = [1, 6, 6, 4];
    const xh = randomArray(size(shape), rand, -4, 4), wh = randomArray(36, rand, -2, 2);
    const ref = depthwiseConv2dRef(xh, shape, wh, [3, 3, 4], null, { stride: [1, 1], padding: [1, 1], activation: 'relu6' });
    const x = Tensor.from(xh, shape), w = Tensor.from(wh, [3, 3, 4]);
    const y = depthwiseConv2d(x, w, null, { padding: 1, activation: 'relu6' });
    expect(maxScaledError(await y.data(), ref.data)).toBeLessThan(TOL);
    expect(ref.data.some((v) => v === 6) && ref.data.some((v) => v === 0)).toBe(true);
    [x, w, y].forEach((t) => t.dispose());
  });
});
