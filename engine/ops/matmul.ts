// Matrix multiply (2-D, and batched 3-D) and linear layers.
//
// Everything is one GEMM, out[i] = op(A[i]) op(B[i]) (+ bias), with four
// kernels for it, picked per adapter:
//   subgroup  software adapters with 8-wide subgroups (lavapipe): lanes share
//             rows of A by subgroupShuffle, so few loads per fma.
//   blocked   software adapters without subgroups: 4x4 register blocks of vec4s.
//   tiled     real GPUs: 64x64 tiles staged through workgroup memory.
//   plain     one invocation per output; any shape; the obviously-correct one.
// Transposed operands are read through index math in the kernels (overrides
// A_T / B_T), so the backward pass, dA = g B^T and dB = A^T g, runs the same
// kernels with flipped flags and never materialises a transpose.
import { Tensor, record, shapeStr, type Shape } from '../tensor.js';
import { kernel, dispatch, type BufferLike } from '../kernel.js';
import { runtime } from '../runtime.js';
import { columnSum } from './elementwise.js';
import { clone, zeros } from './fill.js';

export type MatmulVariant = 'plain' | 'blocked' | 'subgroup' | 'tiled';

export interface MatmulOptions {
  /** Multiply by a^T: a is [K, M] (or [batch, K, M]). */
  transposeA?: boolean;
  /** Multiply by b^T: b is [N, K] (or [batch, N, K]). */
  transposeB?: boolean;
  /** Forces a kernel (tests, benchmarks); by default the adapter's fastest. */
  variant?: MatmulVariant;
}

/** One GEMM with every dimension spelled out. */
interface Gemm {
  batch: number;
  m: number;
  n: number;
  k: number;
  transposeA: boolean;
  transposeB: boolean;
  /** The operand is one matrix used by every batch entry. */
  aShared: boolean;
  bShared: boolean;
}

// Rows x columns of C each workgroup covers (subgroup: 16, 24 or 64 rows,
// see rowGroups); `vec4` kernels load along each
// operand's contiguous axis four at a time and take the ALIGNED override.
const KERNELS: Record<MatmulVariant, { file: string; rows: number; cols: number; vec4: boolean }> = {
  plain: { file: 'matmul_plain.wgsl', rows: 8, cols: 8, vec4: false },
  blocked: { file: 'matmul_blocked.wgsl', rows: 32, cols: 32, vec4: true },
  subgroup: { file: 'matmul_subgroup.wgsl', rows: 24, cols: 32, vec4: true },
  tiled: { file: 'matmul_tiled.wgsl', rows: 64, cols: 64, vec4: false },
};

/** The kernels that can run on this adapter. */
export function matmulVariants(): MatmulVariant[] {
  return (Object.keys(KERNELS) as MatmulVariant[]).filter((v) => v !== 'subgroup' || subgroupKernelRuns());
}

// The subgroup kernel's workgroup of 8 must be a single subgroup.
function subgroupKernelRuns(): boolean {
  const rt = runtime();
  return rt.hasSubgroups && rt.subgroupSize >= 8;
}

/** The kernel used when none is forced. */
export function defaultMatmulVariant(): MatmulVariant {
  if (runtime().family === 'gpu') return 'tiled';
  return subgroupKernelRuns() ? 'subgroup' : 'blocked';
}

function chooseVariant(op: string, forced?: MatmulVariant): MatmulVariant {
  if (!forced) return defaultMatmulVariant();
  if (!(forced in KERNELS)) throw new Error(`${op}: unknown variant '${forced}' (one of ${Object.keys(KERNELS).join(', ')})`);
  if (!matmulVariants().includes(forced)) {
    throw new Error(`${op}: variant '${forced}' needs subgroups of at least 8 lanes, which ${runtime().description} lacks`);
  }
  return forced;
}

// The subgroup kernel's tile heights (groups of 8 rows) and their time per
// row relative to 24 rows, from interleaved runs on lavapipe: 1024^3 took
// 46.9-47.7 ms with 24 rows, 43.6-46.1 with 32, 41.8-42.3 with 64, 47.5-49.7
// with 96 and ~67 with 128; 25088x128x128 20.6-22.0 (16), 19.6-21.6 (24),
// 18.3-20.3 (64); 16 rows ran 5-10% slower than 24 in earlier sessions.
const ROW_GROUP_COST: [groups: number, perRow: number][] = [[2, 1.1], [3, 1], [8, 0.88]];
// The 64-row kernel is slow to compile on lavapipe (cold shader cache, with
// bias: ~8.7 s aligned, ~13.5 s unaligned, against 2.0 and 2.7 s for 24 rows),
// so it is kept for aligned products large enough to repay that (1024^3, the
// 1x1-conv gradients of FaceNet training), not MTCNN's fully connected layers.
const TALL_TILE_MIN_MACS = 2 ** 27;

/** The subgroup kernel's tile height for M rows, in groups of 8; 64 rows only for `large` products. */
export function rowGroups(m: number, large = true): number {
  return cheapestTile(m, large ? ROW_GROUP_COST : ROW_GROUP_COST.filter(([groups]) => groups <= 3));
}

/**
 * Of tile heights [groups of 8 rows, relative time per row], the one that
 * covers `rows` rows at the least cost: rows padded to whole tiles x cost per row.
 */
export function cheapestTile(rows: number, costs: readonly [groups: number, perRow: number][]): number {
  let best = costs[0];
  let bestCost = Infinity;
  for (const c of costs) {
    const cost = Math.ceil(rows / (8 * c[0])) * 8 * c[0] * c[1];
    if (cost < bestCost) [best, bestCost] = [c, cost];
  }
  return best[0];
}

/** Records out = op(a) op(b) (+ bias[n] on every row). Nothing is checked here: callers validate shapes. */
function gemm(a: BufferLike, b: BufferLike, bias: BufferLike | null, out: Tensor, p: Gemm, variant: MatmulVariant): void {
  if (p.batch * p.m * p.n === 0) return;
  // A buffer not from the pool may be too short to read as vec4s (see asVec4s).
  if (KERNELS[variant].vec4 && !(readableAsVec4s(a) && readableAsVec4s(b))) variant = 'plain';
  const spec = KERNELS[variant];
  const overrides: Record<string, number> = { A_T: +p.transposeA, B_T: +p.transposeB, HAS_BIAS: +(bias !== null) };
  if (spec.vec4) {
    // Whole aligned vec4s along A's and B's contiguous axes and C's rows, and
    // K in whole steps of 4.
    const aligned = p.k % 4 === 0 && p.n % 4 === 0 && (!p.transposeA || p.m % 4 === 0);
    overrides.ALIGNED = +aligned;
  }
  let rows = spec.rows;
  if (variant === 'subgroup') {
    overrides.ROW_GROUPS = rowGroups(p.m, overrides.ALIGNED === 1 && p.batch * p.m * p.n * p.k >= TALL_TILE_MIN_MACS);
    rows = 8 * overrides.ROW_GROUPS;
  }
  const kern = kernel(spec.file, 'main', overrides);
  const args = {
    a: spec.vec4 ? asVec4s(a) : a,
    b: spec.vec4 ? asVec4s(b) : b,
    // Never read without HAS_BIAS, but the binding must hold some buffer.
    bias: bias ?? b,
    c: out,
    m: p.m,
    n: p.n,
    k: p.k,
    a_batch_stride: p.aShared ? 0 : p.m * p.k,
    b_batch_stride: p.bShared ? 0 : p.k * p.n,
  };
  const colBlocks = Math.ceil(p.n / spec.cols);
  const rowBlocks = Math.ceil(p.m / rows);
  const most = runtime().limits.maxComputeWorkgroupsPerDimension;
  for (let batchBase = 0; batchBase < p.batch; batchBase += most) {
    for (let rowBase = 0; rowBase < rowBlocks; rowBase += most) {
      const grid = [colBlocks, Math.min(most, rowBlocks - rowBase), Math.min(most, p.batch - batchBase)];
      dispatch(kern, { ...args, row_block_base: rowBase, batch_base: batchBase }, grid);
    }
  }
}

// The vec4 kernels bind A and B as array<vec4<f32>>, which needs a binding
// size that is a multiple of 16 bytes: bind the size rounded up. Pool buffers
// always have the room (their size classes are multiples of 256 bytes);
// elements past the tensor's end are never used.
const vec4Bytes = (t: BufferLike) => Math.max(16, Math.ceil(t.byteLength / 16) * 16);
const readableAsVec4s = (t: BufferLike) => t.buffer.size >= vec4Bytes(t);
const asVec4s = (t: BufferLike): BufferLike => ({ buffer: t.buffer, byteLength: vec4Bytes(t) });

const opName = (name: string, t: boolean) => (t ? `${name}^T` : name);

/** Shapes of a matmul, validated; throws naming both shapes before anything runs. */
function plan(a: Tensor, b: Tensor, transposeA: boolean, transposeB: boolean): { gemm: Gemm; shape: number[] } {
  for (const [name, t] of [['a', a], ['b', b]] as const) {
    if (t.dtype !== 'f32') throw new Error(`matmul: ${name} ${shapeStr(t.shape)} is ${t.dtype}; matmul takes f32`);
    if (t.rank !== 2 && t.rank !== 3) {
      throw new Error(`matmul: ${name} ${shapeStr(t.shape)} must be 2-D [rows, cols] or 3-D [batch, rows, cols]`);
    }
  }
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [m, ka] = transposeA ? [ac, ar] : [ar, ac];
  const [kb, n] = transposeB ? [bc, br] : [br, bc];
  if (ka !== kb) {
    throw new Error(
      `matmul: inner dimensions differ: ${opName('a', transposeA)} of a ${shapeStr(a.shape)} has ${ka} columns, ` +
        `${opName('b', transposeB)} of b ${shapeStr(b.shape)} has ${kb} rows`,
    );
  }
  const batchA = a.rank === 3 ? a.shape[0] : null;
  const batchB = b.rank === 3 ? b.shape[0] : null;
  if (batchA !== null && batchB !== null && batchA !== batchB) {
    throw new Error(`matmul: batch sizes differ: a ${shapeStr(a.shape)} has ${batchA}, b ${shapeStr(b.shape)} has ${batchB}`);
  }
  const batch = batchA ?? batchB;
  const shape = batch === null ? [m, n] : [batch, m, n];
  const g: Gemm = { batch: batch ?? 1, m, n, k: ka, transposeA, transposeB, aShared: batchA === null, bShared: batchB === null };
  // A batch of row-major A against one shared B is one tall GEMM: [batch*M, K] x [K, N].
  if (batchA !== null && batchB === null && !transposeA) {
    g.m *= g.batch;
    g.batch = 1;
  }
  return { gemm: g, shape };
}

/**
 * a [M, K] x b [K, N] -> [M, N]; batched: a [B, M, K] x b [B, K, N] -> [B, M, N],
 * where either operand may be 2-D and shared by the whole batch. The transpose
 * flags read a as [K, M] and/or b as [N, K] instead.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const tA = opts.transposeA ?? false;
  const tB = opts.transposeB ?? false;
  const { gemm: g, shape } = plan(a, b, tA, tB);
  const variant = chooseVariant('matmul', opts.variant);
  const y = Tensor.empty(shape);
  gemm(a, b, null, y, g, variant);
  return record(y, 'matmul', [a, b], (grad) => {
    const mm = (x: Tensor, z: Tensor, transposeA: boolean, transposeB: boolean) => matmul(x, z, { transposeA, transposeB, variant });
    // With op(X) = X or X^T: d op(A) = g op(B)^T and d op(B) = op(A)^T g, so
    //   dA = g op(B)^T   or, for tA, (g op(B)^T)^T = op(B) g^T
    //   dB = op(A)^T g   or, for tB, (op(A)^T g)^T = g^T op(A)
    // A 2-D operand shared by a batch gets the sum of its per-entry gradients.
    let dA: Tensor | null = null;
    let dB: Tensor | null = null;
    if (a.requiresGrad) {
      dA = sumBatchTo(tA ? mm(b, grad, tB, true) : mm(grad, b, false, !tB), a.shape);
    }
    if (b.requiresGrad) {
      if (a.rank === 3 && b.rank === 2 && !tA) {
        // Sum over the batch folded into K: [batch*M, K]^T x [batch*M, N].
        const rows = a.shape[0] * a.shape[1];
        const a2 = a.reshapeView([rows, a.shape[2]]);
        const g2 = grad.reshapeView([rows, shape[2]]);
        dB = tB ? mm(g2, a2, true, false) : mm(a2, g2, true, false);
      } else {
        dB = sumBatchTo(tB ? mm(grad, a, true, tA) : mm(a, grad, !tA, false), b.shape);
      }
    }
    return [dA, dB];
  });
}

/**
 * out = op(a) op(b) for 2-D operands given as buffers (any tensor or view of
 * the right size: a [m, k] or [k, m] when transposeA, b [k, n] or [n, k]),
 * written into `out` (m x n values, any shape). No graph; for ops whose
 * backward is a plain GEMM (conv2d's 1x1 gradients).
 */
export function gemmInto(a: BufferLike, b: BufferLike, out: Tensor, m: number, n: number, k: number, transposeA: boolean, transposeB: boolean): void {
  if (out.size !== m * n) throw new Error(`gemmInto: output ${shapeStr(out.shape)} does not hold ${m} x ${n}`);
  gemm(a, b, null, out, { batch: 1, m, n, k, transposeA, transposeB, aShared: true, bShared: true }, chooseVariant('gemmInto'));
}

/** Sums a [batch, r, c] gradient over the batch when its input was a shared [r, c]. */
function sumBatchTo(g: Tensor, shape: Shape): Tensor {
  if (g.rank === shape.length) return g;
  const [batch, r, c] = g.shape;
  const flat = columnSum(g, batch, r * c);
  const out = clone(flat, shape);
  flat.dispose();
  g.dispose();
  return out;
}

/**
 * y = x w + bias for x [..., in], w [in, out] (note: not PyTorch's [out, in]),
 * bias [out]; y is [..., out]. Leading axes of x are rows of one GEMM.
 */
export function linear(x: Tensor, w: Tensor, bias?: Tensor | null, opts: { variant?: MatmulVariant } = {}): Tensor {
  for (const [name, t] of [['input', x], ['weight', w], ['bias', bias]] as const) {
    if (t && t.dtype !== 'f32') throw new Error(`linear: ${name} ${shapeStr(t.shape)} is ${t.dtype}; linear takes f32`);
  }
  if (w.rank !== 2) throw new Error(`linear: weight ${shapeStr(w.shape)} must be 2-D [in, out]`);
  const [inF, outF] = w.shape;
  if (x.rank < 1 || x.shape[x.rank - 1] !== inF) {
    throw new Error(`linear: input ${shapeStr(x.shape)} must end in ${inF} features to match weight ${shapeStr(w.shape)}`);
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== outF)) {
    throw new Error(`linear: bias ${shapeStr(bias.shape)} must be [${outF}] to match weight ${shapeStr(w.shape)}`);
  }
  const variant = chooseVariant('linear', opts.variant);
  const rows = x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  const gemm2d = (transposeA: boolean, transposeB: boolean, m: number, n: number, k: number): Gemm => ({
    batch: 1, m, n, k, transposeA, transposeB, aShared: true, bShared: true,
  });
  const y = Tensor.empty([...x.shape.slice(0, -1), outF]);
  gemm(x, w, bias ?? null, y, gemm2d(false, false, rows, outF, inF), variant);
  const inputs = bias ? [x, w, bias] : [x, w];
  return record(y, 'linear', inputs, (g) => {
    let dx: Tensor | null = null;
    let dw: Tensor | null = null;
    if (x.requiresGrad) {
      dx = Tensor.empty(x.shape);
      gemm(g, w, null, dx, gemm2d(false, true, rows, inF, outF), variant); // g w^T
    }
    if (w.requiresGrad) {
      dw = Tensor.empty(w.shape);
      gemm(x, g, null, dw, gemm2d(true, false, inF, outF, rows), variant); // x^T g
    }
    const grads: (Tensor | null)[] = [dx, dw];
    if (bias) grads.push(!bias.requiresGrad ? null : rows === 0 ? zeros(bias.shape) : columnSum(g, rows, outF));
    return grads;
  });
}
