import { describe, it, expect } from 'vitest';
import { Tensor, tidy } from '../engine/tensor.js';
import { runtime } from '../engine/runtime.js';
import { matmul, linear, matmulVariants, defaultMatmulVariant, rowGroups, type MatmulVariant } from '../engine/ops/matmul.js';
import { matmulRef, linearRef } from './reference/matmul.js';
import { rng, randomArray } from './gradcheck/harness.js';

const rand = rng(1234);
const values = (shape: number[]) => randomArray(shape.reduce((p, d) => p * d, 1), rand);

// f32 accumulation of K products of values in [-1, 1]: rounding grows with K.
// A wrong index gives errors of order 1, far above this.
const tolerance = (k: number) => 1e-5 + 2e-6 * k;

function maxAbsDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let e = 0;
  for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i] - want[i]));
  return e;
}

interface Case {
  aShape: number[];
  bShape: number[];
  transposeA?: boolean;
  transposeB?: boolean;
}

async function checkAgainstCpu(variant: MatmulVariant, c: Case): Promise<void> {
  const A = values(c.aShape);
  const B = values(c.bShape);
  const ref = matmulRef(A, c.aShape, B, c.bShape, c);
  const [a, b] = [Tensor.from(A, c.aShape), Tensor.from(B, c.bShape)];
  const y = matmul(a, b, { ...c, variant });
  expect(y.shape).toEqual(ref.shape);
  const k = c.transposeA ? c.aShape[c.aShape.length - 2] : c.aShape[c.aShape.length - 1];
  const err = maxAbsDiff(await y.data(), ref.data);
  [a, b, y].forEach((t) => t.dispose());
  expect(err, `${variant} ${JSON.stringify(c)}`).toBeLessThanOrEqual(tolerance(k));
}

// [M, N, K]: odd everything; aligned but not whole tiles (edge clamping on
// the fast path); aligned M, N with odd K (the K tail); a large aligned one;
// odd sizes with 7 full 64-row blocks and 2 rows. The subgroup kernel runs
// its 16-row tiles on 32 rows and 24-row ones on the rest (64-row tiles are
// for large aligned products only: see the test below).
const SIZES: [number, number, number][] = [
  [67, 130, 45],
  [36, 20, 44],
  [32, 8, 5],
  [256, 256, 256],
  [450, 37, 13],
];
const FLAGS = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;

describe('matmul kernels against the CPU reference', () => {
  for (const variant of ['plain', 'blocked', 'subgroup', 'tiled'] as MatmulVariant[]) {
    describe(variant, () => {
      // Checked when the tests run: the adapter is only known after init().
      const runs = () => matmulVariants().includes(variant);

      it.for(SIZES)('2-D %ix%ix%i (M x N x K), every transpose combination', async ([m, n, k], { skip }) => {
        if (!runs()) skip();
        for (const [transposeA, transposeB] of FLAGS) {
          await checkAgainstCpu(variant, {
            aShape: transposeA ? [k, m] : [m, k],
            bShape: transposeB ? [n, k] : [k, n],
            transposeA,
            transposeB,
          });
        }
      });

      it('batched: both 3-D, shared b (with and without transposeA), shared a', async ({ skip }) => {
        if (!runs()) skip();
        await checkAgainstCpu(variant, { aShape: [3, 17, 9], bShape: [3, 9, 13] });
        await checkAgainstCpu(variant, { aShape: [2, 20, 16], bShape: [2, 12, 16], transposeB: true });
        await checkAgainstCpu(variant, { aShape: [4, 18, 8], bShape: [8, 36] });
        await checkAgainstCpu(variant, { aShape: [3, 8, 19], bShape: [8, 7], transposeA: true });
        await checkAgainstCpu(variant, { aShape: [5, 12], bShape: [2, 12, 10] });
      });

      it('backward matches the CPU: dA = g op(B)^T, dB = op(A)^T g (transposed, batched, shared b)', async ({ skip }) => {
        if (!runs()) skip();
        for (const c of [
          { aShape: [13, 9], bShape: [9, 6] },
          { aShape: [8, 12], bShape: [16, 8], transposeA: true, transposeB: true },
          { aShape: [2, 12, 8], bShape: [8, 20] },
        ] as Case[]) {
          const A = values(c.aShape), B = values(c.bShape);
          const a = Tensor.from(A, c.aShape).requireGrad();
          const b = Tensor.from(B, c.bShape).requireGrad();
          const y = matmul(a, b, { ...c, variant });
          const G = values([...y.shape]);
          tidy(() => y.backward(Tensor.from(G, y.shape)));
          // Reference gradients via the reference matmul itself, written out per flag.
          const flat = (s: number[]) => (s.length === 3 ? [s[0] * s[1], s[2]] : s);
          const shared = c.aShape.length === 3 && c.bShape.length === 2;
          const gShape = shared ? flat([...y.shape]) : [...y.shape];
          const aS = shared ? flat(c.aShape) : c.aShape;
          const dA = c.transposeA
            ? matmulRef(B, c.bShape, G, gShape, { transposeA: c.transposeB, transposeB: true }).data
            : matmulRef(G, gShape, B, c.bShape, { transposeB: !c.transposeB }).data;
          const dB = c.transposeB
            ? matmulRef(G, gShape, A, aS, { transposeA: true, transposeB: c.transposeA }).data
            : matmulRef(A, aS, G, gShape, { transposeA: !c.transposeA }).data;
          expect(a.grad!.shape).toEqual(c.aShape);
          expect(b.grad!.shape).toEqual(c.bShape);
          expect(maxAbsDiff(await a.grad!.data(), dA)).toBeLessThanOrEqual(tolerance(20));
          expect(maxAbsDiff(await b.grad!.data(), dB)).toBeLessThanOrEqual(tolerance(24));
          [a, b, y].forEach((t) => {
            t.zeroGrad();
            t.dispose();
          });
        }
      });

      it('linear: 3-D input with bias, and without', async ({ skip }) => {
        if (!runs()) skip();
        for (const [xShape, inF, outF, withBias] of [
          [[2, 5, 12], 12, 8, true],
          [[7, 9], 9, 5, false],
        ] as [number[], number, number, boolean][]) {
          const X = values(xShape), W = values([inF, outF]), Bias = values([outF]);
          const x = Tensor.from(X, xShape), w = Tensor.from(W, [inF, outF]), bias = Tensor.from(Bias, [outF]);
          const y = linear(x, w, withBias ? bias : null, { variant });
          expect(y.shape).toEqual([...xShape.slice(0, -1), outF]);
          const err = maxAbsDiff(await y.data(), linearRef(X, xShape, W, [inF, outF], withBias ? Bias : undefined));
          [x, w, bias, y].forEach((t) => t.dispose());
          expect(err).toBeLessThanOrEqual(tolerance(inF));
        }
      });
    });
  }

  it('the subgroup kernel picks its tile height by the rows it would waste', () => {
    // The SIZES above rely on these to run every tile height.
    expect([32, 67, 36, 256, 450, 1024, 8, 25088].map((m) => rowGroups(m))).toEqual([2, 3, 3, 8, 8, 8, 2, 8]);
    expect([32, 67, 1024].map((m) => rowGroups(m, false))).toEqual([2, 3, 3]);
  });

  it('subgroup kernel, 64-row tiles: 1000x132x1024 (a partial last row block), plain and both operands transposed', async ({ skip }) => {
    if (!matmulVariants().includes('subgroup')) skip();
    // Aligned and past 2^27 multiply-adds: the size that gets 64-row tiles.
    // (A's and B's loads are separate code paths, so these two cover all four;
    // each variant takes seconds to compile on lavapipe.)
    const [m, n, k] = [1000, 132, 1024];
    expect(m * n * k).toBeGreaterThan(2 ** 27);
    expect(rowGroups(m)).toBe(8);
    for (const [transposeA, transposeB] of [[false, false], [true, true]]) {
      await checkAgainstCpu('subgroup', { aShape: transposeA ? [k, m] : [m, k], bShape: transposeB ? [n, k] : [k, n], transposeA, transposeB });
    }
  });

  it('splits grids over 65535 row blocks into several dispatches', async () => {
    // 'plain' covers 8 rows per workgroup: 530000 rows need 66250 row blocks.
    const m = 530_000, k = 4, n = 4;
    const A = values([m, k]), B = values([k, n]);
    const a = Tensor.from(A, [m, k]), b = Tensor.from(B, [k, n]);
    const before = runtime().recorder.dispatches;
    const y = matmul(a, b, { variant: 'plain' });
    expect(runtime().recorder.dispatches - before).toBe(2);
    const got = await y.data();
    for (const row of [0, 65535 * 8 - 1, 65535 * 8, m - 1]) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) s += A[row * k + q] * B[q * n + j];
        expect(Math.abs(got[row * n + j] - s)).toBeLessThanOrEqual(tolerance(k));
      }
    }
    [a, b, y].forEach((t) => t.dispose());
  });
});

describe('edge shapes', () => {
  it('K = 0 gives zeros (plus the bias in linear); M = 0 gives an empty result', async () => {
    for (const variant of matmulVariants()) {
      const a = Tensor.empty([3, 0]), b = Tensor.empty([0, 5]);
      const y = matmul(a, b, { variant });
      expect(Array.from(await y.data())).toEqual(new Array(15).fill(0));
      const bias = Tensor.from([1, 2, 3, 4, 5]);
      const z = linear(a, b, bias, { variant });
      expect(Array.from(await z.data())).toEqual([1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5]);
      const e = matmul(Tensor.empty([0, 4]), Tensor.empty([4, 6]), { variant });
      expect(e.shape).toEqual([0, 6]);
      [a, b, y, bias, z, e].forEach((t) => t.dispose());
    }
  });

  it('reads a buffer too short for vec4 loads correctly (falls back to the plain kernel)', async () => {
    // A tensor over a raw 12-byte buffer, as a caller outside the pool might make.
    const raw = runtime().device.createBuffer({ size: 12, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    runtime().device.queue.writeBuffer(raw, 0, new Float32Array([1, 2, 3]));
    const a = new Tensor([1, 3], 'f32', raw);
    const b = Tensor.from([1, 0, 0, 1, 1, 1], [3, 2]);
    const y = matmul(a, b, { variant: defaultMatmulVariant() });
    expect(Array.from(await y.data())).toEqual([4, 5]);
    [a, b, y].forEach((t) => t.dispose());
  });
});

describe('variant choice', () => {
  it('picks the subgroup kernel on software adapters with subgroups, tiled on GPUs', () => {
    const rt = runtime();
    const expected = rt.family === 'gpu' ? 'tiled' : rt.hasSubgroups && rt.subgroupSize >= 8 ? 'subgroup' : 'blocked';
    expect(defaultMatmulVariant()).toBe(expected);
    expect(matmulVariants()).toEqual(expect.arrayContaining(['plain', 'blocked', 'tiled']));
  });

  it('rejects an unknown variant by name', () => {
    const a = Tensor.empty([2, 2]);
    expect(() => matmul(a, a, { variant: 'fast' as MatmulVariant })).toThrow(/matmul: unknown variant 'fast'/);
    a.dispose();
  });
});

describe('shape errors name the op and both shapes, before dispatching', () => {
  const shapes = (a: number[], b: number[]) => [Tensor.empty(a), Tensor.empty(b)];
  const expectThrowNoDispatch = (fn: () => unknown, pattern: RegExp) => {
    const before = runtime().recorder.dispatches;
    expect(fn).toThrow(pattern);
    expect(runtime().recorder.dispatches).toBe(before);
  };

  it('K mismatch', () => {
    const [a, b] = shapes([5, 7], [6, 3]);
    expectThrowNoDispatch(() => matmul(a, b), /^matmul: .*a \[5, 7\].*7 columns.*b \[6, 3\].*6 rows/);
    // With transposeA the inner dimension of a is its first axis (5).
    expectThrowNoDispatch(() => matmul(a, b, { transposeA: true }), /matmul: .*a\^T of a \[5, 7\] has 5 columns/);
    a.dispose();
    b.dispose();
  });

  it('non-f32 operands', () => {
    const [a, b] = [Tensor.empty([2, 3], 'i32'), Tensor.empty([3, 2])];
    expectThrowNoDispatch(() => matmul(a, b), /matmul: a \[2, 3\] is i32; matmul takes f32/);
    [a, b].forEach((t) => t.dispose());
  });

  it('batch mismatch and bad ranks', () => {
    const [a, b] = shapes([2, 3, 4], [3, 4, 5]);
    expectThrowNoDispatch(() => matmul(a, b), /matmul: batch sizes differ: a \[2, 3, 4\].*b \[3, 4, 5\]/);
    const v = Tensor.empty([4]);
    expectThrowNoDispatch(() => matmul(v, b), /matmul: a \[4\] must be 2-D/);
    [a, b, v].forEach((t) => t.dispose());
  });

  it('linear: input features, weight rank, bias length', () => {
    const x = Tensor.empty([2, 3, 8]);
    const w = Tensor.empty([6, 4]);
    const bias = Tensor.empty([5]);
    expectThrowNoDispatch(() => linear(x, w), /linear: input \[2, 3, 8\] must end in 6 features to match weight \[6, 4\]/);
    const w8 = Tensor.empty([8, 4]);
    expectThrowNoDispatch(() => linear(x, w8, bias), /linear: bias \[5\] must be \[4\] to match weight \[8, 4\]/);
    expectThrowNoDispatch(() => linear(x, bias), /linear: weight \[5\] must be 2-D/);
    [x, w, bias, w8].forEach((t) => t.dispose());
  });
});
