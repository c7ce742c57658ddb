import { describe, it, expect } from 'vitest';
import { Tensor, tidy, noGrad } from '../engine/tensor.js';
import { runtime, poolStats } from '../engine/runtime.js';
import { sum, mul } from '../engine/ops/elementwise.js';
import { maxPool2d, avgPool2d, adaptiveAvgPool2d, globalAvgPool, pooledLength, forcePoolPlain } from '../engine/ops/pool.js';
import { concat, slice, permute, reshape, flatten, simplifyPermutation } from '../engine/ops/shape.js';
import { maxPool2dRef, avgPool2dRef, globalAvgPoolRef, refPooledLength } from './reference/pool_shape.js';
import { rng, randomArray } from './gradcheck/harness.js';

/** Runs fn and returns how many kernels it recorded. */
function dispatchesDuring(fn: () => void): number {
  const before = runtime().recorder.dispatches;
  fn();
  return runtime().recorder.dispatches - before;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('pooled output sizes (PyTorch formula)', () => {
  // Expected values worked out by hand from
  // out = floor((in + 2p - k + (ceil ? s - 1 : 0)) / s) + 1, minus one in ceil
  // mode when (out - 1) * s >= in + p.
  it.each([
    // [in, kernel, stride, pad, ceil, expected, what]
    [10, 2, 2, 0, true, 5, 'P-Net pool 2x2 s2 on 10'],
    [10, 3, 2, 0, true, 5, '3x3 s2 on 10: floor(8/2)+1'],
    [22, 3, 2, 0, true, 11, 'R-Net pool1 on 22: ceil(19/2)+1'],
    [22, 3, 2, 0, false, 10, 'the same in floor mode'],
    [9, 3, 2, 0, true, 4, 'R-Net pool2 on 9'],
    [46, 3, 2, 0, true, 23, 'O-Net pool1 on 46: ceil(43/2)+1'],
    [21, 3, 2, 0, true, 10, 'O-Net pool2 on 21'],
    [8, 2, 2, 0, true, 4, 'O-Net pool3 on 8'],
    [3, 2, 2, 1, true, 2, 'ceil gives 3, but window 3 would start at 4, in the right padding'],
    [5, 3, 3, 1, true, 2, 'ceil gives 3, but window 3 would start at 5, in the right padding'],
    [7, 3, 2, 0, true, 3, 'odd size: the windows tile 7 exactly, ceil changes nothing'],
    [8, 3, 2, 0, true, 4, '8 -> 4: a last window hanging over the edge'],
    [8, 3, 2, 0, false, 3, '8 -> 3 in floor mode'],
  ])('in %i, k %i, s %i, p %i, ceil %s -> %i (%s)', (size, k, s, p, ceil, expected) => {
    expect(pooledLength(size, k, s, p, ceil)).toBe(expected);
    expect(refPooledLength(size, k, s, p, ceil)).toBe(expected);
  });

  it('gives maxPool2d and avgPool2d outputs of those shapes', () => {
    tidy(() => {
      expect(maxPool2d(Tensor.empty([1, 10, 10, 10]), { kernel: 2, stride: 2, ceilMode: true }).shape).toEqual([1, 5, 5, 10]);
      expect(maxPool2d(Tensor.empty([2, 22, 22, 28]), { kernel: 3, stride: 2, ceilMode: true }).shape).toEqual([2, 11, 11, 28]);
      expect(maxPool2d(Tensor.empty([1, 46, 46, 32]), { kernel: 3, stride: 2, ceilMode: true }).shape).toEqual([1, 23, 23, 32]);
      expect(maxPool2d(Tensor.empty([1, 7, 9, 3]), { kernel: 3, stride: 2, ceilMode: true }).shape).toEqual([1, 3, 4, 3]);
      expect(maxPool2d(Tensor.empty([1, 8, 10, 3]), { kernel: 3, stride: 2, ceilMode: true }).shape).toEqual([1, 4, 5, 3]);
      expect(avgPool2d(Tensor.empty([1, 3, 5, 4]), { kernel: 2, stride: 2, padding: 1, ceilMode: true }).shape).toEqual([1, 2, 3, 4]);
      expect(maxPool2d(Tensor.empty([1, 8, 6, 1]), { kernel: [3, 2], stride: [2, 1], padding: [1, 0] }).shape).toEqual([1, 4, 5, 1]);
    });
  });
});

describe('pooling against the CPU reference at network sizes', () => {
  const rand = rng(7);
  it.each([
    // [shape, kernel, stride, padding, ceil] -- C = 3 runs the one-channel kernels, C = 10 the vec2 ones, the others vec4.
    [[1, 46, 46, 32], 3, 2, 0, true],
    [[2, 22, 22, 28], 3, 2, 0, true],
    [[1, 30, 41, 10], 2, 2, 0, true],
    [[1, 17, 17, 12], 3, 2, 1, false],
    [[3, 25, 19, 3], 3, 2, 1, true],
  ] as [number[], number, number, number, boolean][])('max and avg %j k%i s%i p%i ceil %s', async (shape, kernel, stride, padding, ceilMode) => {
    const host = randomArray(shape.reduce((a, d) => a * d, 1), rand);
    const opts = { kernel: [kernel, kernel] as [number, number], stride: [stride, stride] as [number, number], padding: [padding, padding] as [number, number], ceilMode };
    const x = Tensor.from(host, shape);
    const [ym, ya] = [maxPool2d(x, opts), avgPool2d(x, opts)];
    const refMax = maxPool2dRef(host, shape, opts);
    const refAvg = avgPool2dRef(host, shape, opts);
    expect(ym.shape).toEqual(refMax.shape);
    // Max picks an element, so it is exact; the average sums at most 9 values.
    expect(maxAbsDiff(await ym.data(), refMax.data)).toBe(0);
    expect(maxAbsDiff(await ya.data(), refAvg.data)).toBeLessThan(1e-6);
    for (const t of [x, ym, ya]) t.dispose();
  });

  it('dispatches batches over 65535 images in several grids, forward and backward', async () => {
    const n = 70000;
    const host = randomArray(n * 4, rand);
    const x = Tensor.from(host, [n, 2, 2, 1]).requireGrad();
    const y = maxPool2d(x, { kernel: 2 });
    const ref = maxPool2dRef(host, [n, 2, 2, 1], { kernel: [2, 2], stride: [2, 2], padding: [0, 0], ceilMode: false });
    expect(maxAbsDiff(await y.data(), ref.data)).toBe(0);
    const seed = Tensor.from(new Float32Array(n).fill(1), y.shape);
    y.backward(seed);
    const g = (await x.grad!.data()) as Float32Array;
    // Every image's gradient went to exactly one of its four pixels, the last image's too.
    let ones = 0;
    for (let i = 0; i < g.length; i++) ones += g[i];
    expect(ones).toBe(n);
    expect(g.slice(-4).reduce((a, v) => a + v, 0)).toBe(1);
    x.grad!.dispose();
    for (const t of [x, y, seed]) t.dispose();
  });

  it('globalAvgPool over a 56x56 image (several reduction passes) stays within 1e-6', async () => {
    const shape = [2, 56, 56, 12];
    const host = randomArray(shape.reduce((a, d) => a * d, 1), rand);
    const x = Tensor.from(host, shape);
    const y = globalAvgPool(x);
    expect(y.shape).toEqual([2, 12]);
    expect(maxAbsDiff(await y.data(), globalAvgPoolRef(host, shape).data)).toBeLessThan(1e-6);
    x.dispose();
    y.dispose();
  });
});

describe('maxPool2d ties and argmax', () => {
  async function gradOf(values: number[], shape: number[], kernel: number): Promise<number[]> {
    const x = Tensor.from(values, shape).requireGrad();
    tidy(() => sum(maxPool2d(x, { kernel })).backward());
    const g = Array.from(await x.grad!.data());
    x.grad!.dispose();
    x.dispose();
    return g;
  }

  it('gives a tied gradient to the first maximum in row-by-row scan order', async () => {
    // 2x2 window [[1, 3], [3, 2]]: the 3 at (0, 1) comes before the 3 at (1, 0).
    expect(await gradOf([1, 3, 3, 2], [1, 2, 2, 1], 2)).toEqual([0, 1, 0, 0]);
    // All equal: the top-left element takes it all.
    expect(await gradOf([5, 5, 5, 5], [1, 2, 2, 1], 2)).toEqual([1, 0, 0, 0]);
  });

  it('breaks ties per channel in the vec4 kernel too', async () => {
    // Four channels, pixels in scan order; channel k has its tied maximum at
    // pixels {k, 3} (channel 3: all four pixels equal).
    const pixels = [
      [9, 0, 0, 7],
      [0, 9, 0, 7],
      [0, 0, 9, 7],
      [9, 9, 9, 7],
    ];
    const g = await gradOf(pixels.flat(), [1, 2, 2, 4], 2);
    const perPixel = [0, 1, 2, 3].map((p) => g.slice(p * 4, p * 4 + 4));
    expect(perPixel).toEqual([
      [1, 0, 0, 1],
      [0, 1, 0, 0],
      [0, 0, 1, 0],
      [0, 0, 0, 0],
    ]);
  });

  it('sums the gradients of overlapping windows that share a maximum', async () => {
    // 1x3 row, kernel 1x2 stride 1: both windows pick the 4 in the middle.
    const x = Tensor.from([1, 4, 2], [1, 1, 3, 1]).requireGrad();
    const w = Tensor.from([10, 100], [1, 1, 2, 1]);
    tidy(() => sum(mul(maxPool2d(x, { kernel: [1, 2], stride: 1 }), w)).backward());
    expect(Array.from(await x.grad!.data())).toEqual([0, 110, 0]);
    x.grad!.dispose();
    x.dispose();
    w.dispose();
  });

  it('treats padding as -inf, so a negative input still wins over it', async () => {
    const x = Tensor.from([-3, -2, -5, -1], [1, 2, 2, 1]);
    const y = maxPool2d(x, { kernel: 2, stride: 1, padding: 1 });
    expect(y.shape).toEqual([1, 3, 3, 1]);
    expect(Array.from(await y.data())).toEqual([-3, -2, -2, -3, -1, -1, -5, -1, -1]);
    x.dispose();
    y.dispose();
  });

  it('keeps no argmax and records no graph in inference', () => {
    const x = Tensor.from([1, 2, 3, 4], [1, 2, 2, 1]).requireGrad();
    const y = noGrad(() => maxPool2d(x, { kernel: 2 }));
    expect(y.node).toBeNull();
    x.dispose();
    y.dispose();
  });

  it('frees its argmax with the tidy scope of a training step', async () => {
    const x = Tensor.from(randomArray(2 * 8 * 8 * 4, rng(3)), [2, 8, 8, 4]).requireGrad();
    const step = () => {
      tidy(() => sum(avgPool2d(maxPool2d(x, { kernel: 3, stride: 2, ceilMode: true }), { kernel: 2 })).backward());
      x.zeroGrad();
    };
    step();
    await x.data();
    const before = poolStats();
    for (let i = 0; i < 5; i++) step();
    await x.data();
    // <=, not ==: the GC may release tensors an earlier test dropped while this one runs.
    expect(poolStats().liveBytes).toBeLessThanOrEqual(before.liveBytes);
    x.dispose();
  });
});

describe('avg pooling details', () => {
  it('divides by the window clipped to the padded input, or to the input with countIncludePad false', async () => {
    // 1x3 row [3, 6, 9], kernel 1x3, stride 2, padding 1, ceil: windows start at
    // -1 and 1. Window 2 covers 1..3: clipped to the padded input (1..3) it has
    // 3 slots with countIncludePad, 2 real ones without.
    const x = Tensor.from([3, 6, 9], [1, 1, 3, 1]);
    const opts = { kernel: [1, 3] as [number, number], stride: [1, 2] as [number, number], padding: [0, 1] as [number, number], ceilMode: true };
    const incl = avgPool2d(x, opts);
    const excl = avgPool2d(x, { ...opts, countIncludePad: false });
    expect(Array.from(await incl.data())).toEqual([3, 5]);
    expect(Array.from(await excl.data())).toEqual([4.5, 7.5]);
    for (const t of [x, incl, excl]) t.dispose();
  });

  it('adaptiveAvgPool2d to the input size is the identity', async () => {
    const host = randomArray(2 * 3 * 5 * 4, rng(11));
    const x = Tensor.from(host, [2, 3, 5, 4]);
    const y = adaptiveAvgPool2d(x, [3, 5]);
    expect(maxAbsDiff(await y.data(), host)).toBe(0);
    x.dispose();
    y.dispose();
  });
});

describe('shape errors name the op and the shapes, before any dispatch', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['maxPool2d rank', () => maxPool2d(Tensor.empty([5, 5, 3]), { kernel: 2 }), /maxPool2d: input \[5, 5, 3\] must be an NHWC image batch \(rank 4\)/],
    ['maxPool2d padding', () => maxPool2d(Tensor.empty([1, 8, 8, 3]), { kernel: 3, padding: 2 }), /maxPool2d: kernel \[3, 3\], stride \[3, 3\], padding \[2, 2\]: padding must be at most half the kernel/],
    ['avgPool2d too small', () => avgPool2d(Tensor.empty([1, 2, 2, 3]), { kernel: 3 }), /avgPool2d: kernel \[3, 3\], stride \[3, 3\], padding \[0, 0\] leaves no output for input \[1, 2, 2, 3\]/],
    ['avgPool2d stride', () => avgPool2d(Tensor.empty([1, 4, 4, 3]), { kernel: 2, stride: 0 }), /avgPool2d: invalid kernel \[2, 2\], stride \[0, 0\]/],
    ['maxPool2d grid', () => maxPool2d(Tensor.empty([1, 70000, 1, 1]), { kernel: 1 }), /maxPool2d: input \[1, 70000, 1, 1\] to \[70000, 1\] needs 1 x 70000 workgroups per image, over the adapter's \d+ per dimension/],
    ['maxPool2d dtype', () => maxPool2d(Tensor.empty([1, 4, 4, 1], 'i32'), { kernel: 2 }), /maxPool2d: input \[1, 4, 4, 1\] is i32/],
    ['adaptive size', () => adaptiveAvgPool2d(Tensor.empty([1, 4, 4, 3]), [0, 2]), /adaptiveAvgPool2d: output size \[0, 2\] .*\[1, 4, 4, 3\]/],
    ['globalAvgPool rank', () => globalAvgPool(Tensor.empty([4, 3])), /globalAvgPool: input \[4, 3\] must be an NHWC/],
    ['concat mismatch', () => concat([Tensor.empty([1, 4, 4, 3]), Tensor.empty([1, 5, 4, 2])]), /concat: tensor 1 \[1, 5, 4, 2\] does not match tensor 0 \[1, 4, 4, 3\] outside axis 3/],
    ['concat axis', () => concat([Tensor.empty([2, 3])], 2), /concat: axis 2 is out of range for \[2, 3\]/],
    ['permute axes', () => permute(Tensor.empty([2, 3, 4]), [0, 0, 1]), /permute: axes \[0, 0, 1\] are not a permutation of the 3 axes of \[2, 3, 4\]/],
    ['slice box', () => slice(Tensor.empty([2, 3, 4]), [0, 2, 0], [1, 2, -1]), /slice: begin \[0, 2, 0\], size \[1, 2, -1\] is outside \[2, 3, 4\]/],
    ['slice rank', () => slice(Tensor.empty([2, 3]), [0], [1]), /slice: begin \[0\], size \[1\] must have one entry per axis of \[2, 3\]/],
    ['reshape', () => reshape(Tensor.empty([2, 3]), [4, -1]), /reshape: cannot reshape \[2, 3\] \(6 elements\) to \[4, -1\]/],
    ['flatten', () => flatten(Tensor.empty([2, 3]), 1, 0), /flatten: start axis 1 comes after end axis 0 in \[2, 3\]/],
  ];
  it.each(cases)('%s', (_name, fn, message) => {
    tidy(() => {
      const before = runtime().recorder.dispatches;
      expect(fn).toThrow(message);
      expect(runtime().recorder.dispatches).toBe(before);
    });
  });
});

describe('shape ops', () => {
  it('matches torch flatten order of permute(0,3,2,1) on NCHW via permute [0,2,1,3] on NHWC', async () => {
    // MTCNN's R-Net/O-Net flatten torch's x.permute(0, 3, 2, 1) of an NCHW
    // tensor, i.e. element order [n][w][h][c].
    const [n, c, h, w] = [2, 3, 4, 5];
    const nchw = Float32Array.from({ length: n * c * h * w }, (_, i) => i);
    const at = (b: number, ch: number, y: number, x: number) => nchw[((b * c + ch) * h + y) * w + x];
    const nhwc: number[] = [];
    for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) nhwc.push(at(b, ch, y, x));
    const torchOrder: number[] = [];
    for (let b = 0; b < n; b++) for (let x = 0; x < w; x++) for (let y = 0; y < h; y++) for (let ch = 0; ch < c; ch++) torchOrder.push(at(b, ch, y, x));
    const t = Tensor.from(nhwc, [n, h, w, c]);
    const flat = tidy(() => flatten(permute(t, [0, 2, 1, 3])));
    expect(flat.shape).toEqual([n, w * h * c]);
    expect(Array.from(await flat.data())).toEqual(torchOrder);
    t.dispose();
    flat.dispose();
  });

  it('simplifies permutations by dropping size-1 axes and merging neighbours', () => {
    expect(simplifyPermutation([2, 3, 4, 5], [0, 2, 3, 1])).toEqual({ shape: [2, 3, 20], axes: [0, 2, 1] });
    expect(simplifyPermutation([2, 1, 3], [1, 0, 2])).toEqual({ shape: [6], axes: [0] });
    expect(simplifyPermutation([2, 3, 4, 5], [0, 3, 2, 1])).toEqual({ shape: [2, 3, 4, 5], axes: [0, 3, 2, 1] });
  });

  it('an identity permutation is a buffer copy, not a kernel', async () => {
    const x = Tensor.from([1, 2, 3, 4, 5, 6], [1, 2, 3, 1]);
    let y: Tensor | null = null;
    expect(dispatchesDuring(() => (y = permute(x, [3, 1, 2, 0])))).toBe(0);
    expect(y!.shape).toEqual([1, 2, 3, 1]);
    expect(Array.from(await y!.data())).toEqual([1, 2, 3, 4, 5, 6]);
    x.dispose();
    y!.dispose();
  });

  it('slices whole images with a buffer copy and channels with one row-copy kernel', async () => {
    const host = Float32Array.from({ length: 3 * 2 * 2 * 8 }, (_, i) => i);
    const x = Tensor.from(host, [3, 2, 2, 8]);
    let images: Tensor | null = null;
    let channels: Tensor | null = null;
    expect(dispatchesDuring(() => (images = slice(x, [1, 0, 0, 0], [2, -1, -1, -1])))).toBe(0);
    expect(dispatchesDuring(() => (channels = slice(x, [0, 0, 0, 4], [-1, -1, -1, 4])))).toBe(1);
    expect(Array.from(await images!.data())).toEqual(Array.from(host.slice(32)));
    const want = Array.from(host).filter((_, i) => i % 8 >= 4);
    expect(Array.from(await channels!.data())).toEqual(want);
    for (const t of [x, images!, channels!]) t.dispose();
  });

  it('moves i32 words unchanged through permute, concat and slice', async () => {
    const a = Tensor.from([-1, 2147483647, -2147483648, 7, 0, 1], [2, 3], 'i32');
    const b = Tensor.from([42, -42], [2, 1], 'i32');
    const out = tidy(() => {
      const p = permute(a, [1, 0]);
      const c = concat([a, b], 1);
      return { p, c, s: slice(c, [0, 1], [2, 3]) };
    });
    expect(out.p.dtype).toBe('i32');
    expect(Array.from(await out.p.data())).toEqual([-1, 7, 2147483647, 0, -2147483648, 1]);
    expect(Array.from(await out.c.data())).toEqual([-1, 2147483647, -2147483648, 42, 7, 0, 1, -42]);
    expect(Array.from(await out.s.data())).toEqual([2147483647, -2147483648, 42, 0, 1, -42]);
    for (const t of [a, b, out.p, out.c, out.s]) t.dispose();
  });

  it('concat gives no gradient to inputs that do not need one', async () => {
    const a = Tensor.from([1, 2], [1, 2]).requireGrad();
    const b = Tensor.from([3], [1, 1]);
    const w = Tensor.from([10, 20, 30], [1, 3]);
    tidy(() => sum(mul(concat([a, b]), w)).backward());
    expect(Array.from(await a.grad!.data())).toEqual([10, 20]);
    expect(b.grad).toBeNull();
    a.grad!.dispose();
    for (const t of [a, b, w]) t.dispose();
  });

  it('flatten and reshape keep the elements in order', async () => {
    const x = Tensor.from(Array.from({ length: 24 }, (_, i) => i), [2, 3, 4]);
    const out = tidy(() => ({ f: flatten(x), g: flatten(x, 0, 1), r: reshape(x, [-1, 6]) }));
    expect(out.f.shape).toEqual([2, 12]);
    expect(out.g.shape).toEqual([6, 4]);
    expect(out.r.shape).toEqual([4, 6]);
    expect(Array.from(await out.r.data())).toEqual(Array.from({ length: 24 }, (_, i) => i));
    for (const t of [x, out.f, out.g, out.r]) t.dispose();
  });
});

// Inference max pooling runs max_forward_rows (strips of 4 output rows x 4
// outputs along x per thread; the cases end strips part-way, 1, 2 and 3 rows in);
// it must equal the one-output-per-thread kernel and the reference exactly,
// ties and NaN included, over kernels, strides, padding, ceil mode and the
// f32 / vec2 / vec4 channel layouts.
describe('maxPool2d inference row kernel', () => {
  const cases: [number[], number, number, number, boolean][] = [
    [[2, 11, 13, 1], 3, 2, 0, true],
    [[1, 9, 10, 2], 3, 2, 1, false],
    [[3, 7, 9, 4], 2, 2, 0, true],
    [[1, 8, 11, 6], 3, 1, 1, false],
    [[2, 10, 17, 8], 5, 3, 2, true],
    [[1, 12, 12, 10], 2, 2, 0, true],
  ];
  it.each(cases)('x %j kernel %i stride %i padding %i ceil %s: rows == plain == reference', async (shape, k, s, p, ceilMode) => {
    const n = shape.reduce((a, d) => a * d, 1);
    // Small integers: many ties; a few NaNs.
    const xd = Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 13) - 6);
    for (let i = 5; i < n; i += 97) xd[i] = NaN;
    const x = Tensor.from(xd, shape);
    const opts = { kernel: k, stride: s, padding: p, ceilMode };
    forcePoolPlain(true);
    const plain = noGrad(() => maxPool2d(x, opts));
    forcePoolPlain(false);
    const rows = noGrad(() => maxPool2d(x, opts));
    const a = await plain.data(), b = await rows.data();
    expect(b.length).toBe(a.length);
    for (let i = 0; i < a.length; i++) expect(Object.is(a[i], b[i]) || a[i] === b[i]).toBe(true);
    const clean = xd.map((v) => (Number.isNaN(v) ? -7 : v));
    const xc = Tensor.from(clean, shape);
    const yc = noGrad(() => maxPool2d(xc, opts));
    const ref = maxPool2dRef(clean, shape, { kernel: [k, k], stride: [s, s], padding: [p, p], ceilMode });
    expect(maxAbsDiff(await yc.data(), ref.data)).toBe(0);
    [x, plain, rows, xc, yc].forEach((t) => t.dispose());
  });
});
