// add / sub / mul with NumPy broadcasting, scale (x*alpha+beta), and the sums
// that undo broadcasting in the backward pass (also the `sum`/`mean` ops).
import { Tensor, record, shapeStr, type Shape } from '../tensor.js';
import { kernel, dispatch, grid1d } from '../kernel.js';
import { clone } from './fill.js';

const MAX_RANK = 8;
// `expand` ignores b: it broadcasts a to the output shape.
const OPS = { add: 0, sub: 1, mul: 2, expand: 3 } as const;
type BinaryOp = keyof typeof OPS;

function stridesOf(shape: Shape): number[] {
  const s = new Array(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

function pad8(v: number[]): number[] {
  return [...v, ...new Array(MAX_RANK - v.length).fill(0)];
}

export function broadcastShape(op: string, a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`${op}: shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  if (rank > MAX_RANK) throw new Error(`${op}: rank ${rank} is over the supported ${MAX_RANK}`);
  return out;
}

/** Strides of `shape` read as `outShape` (0 where broadcast). */
function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const s = stridesOf(shape);
  const off = outShape.length - shape.length;
  return outShape.map((d, i) => (i < off || shape[i - off] === 1 ? 0 : s[i - off]));
}

/**
 * Merges neighbouring output axes that both inputs walk the same way (both
 * contiguous across them, or both broadcast along them) and drops size-1 axes,
 * so the broadcast kernels' per-element index loop runs over fewer axes. The
 * last axis only grows, by whole multiples of itself.
 */
function coalesce(shape: Shape, sa: number[], sb: number[]): { shape: number[]; sa: number[]; sb: number[] } {
  const out = { shape: [] as number[], sa: [] as number[], sb: [] as number[] };
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] === 1 && out.shape.length > 0) continue;
    const k = out.shape.length - 1;
    if (k >= 0 && sa[d] === out.sa[k] * out.shape[k] && sb[d] === out.sb[k] * out.shape[k]) {
      out.shape[k] *= shape[d];
      continue;
    }
    out.shape.push(shape[d]);
    out.sa.push(sa[d]);
    out.sb.push(sb[d]);
  }
  out.shape.reverse();
  out.sa.reverse();
  out.sb.reverse();
  return out;
}

const sameShape = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => d === b[i]);

// vec4s per thread the contiguous vec4 kernels aim for (a grid-stride loop).
const VEC_ITEMS = 8;

function binary(op: BinaryOp, a: Tensor, b: Tensor, shape = broadcastShape(op, a.shape, b.shape)): Tensor {
  const y = Tensor.empty(shape);
  if (y.size === 0) return y;
  const k = (entry: string) => kernel('binary.wgsl', entry, { OP: OPS[op] });
  const grid = grid1d(y.size, 256);
  const last = shape[shape.length - 1];
  const vec4 = last % 4 === 0;
  const n4 = y.size / 4;
  const uniforms = { n: y.size, rank: shape.length, out_shape: pad8(shape), a_strides: pad8([]), b_strides: pad8([]) };
  const base = { a, b, y, ...uniforms };
  const base4 = { ...uniforms, a4: a, b4: b, y4: y }; // the vec4 kernels' names of the buffers
  if (sameShape(a.shape, shape) && sameShape(b.shape, shape)) {
    if (vec4) dispatch(k('same_shape_vec4'), base4, grid1d(Math.ceil(n4 / VEC_ITEMS), 256));
    else dispatch(k('same_shape'), base, grid);
  } else if (sameShape(a.shape, shape) && b.size === last && b.shape[b.shape.length - 1] === b.size) {
    if (vec4) dispatch(k('per_channel_vec4'), base4, grid1d(Math.max(last / 4, Math.ceil(n4 / VEC_ITEMS)), 256));
    else dispatch(k('per_channel'), base, grid);
  } else {
    const c = coalesce(shape, broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape));
    const strides = { rank: c.shape.length, out_shape: pad8(c.shape), a_strides: pad8(c.sa), b_strides: pad8(c.sb) };
    if (vec4) dispatch(k('broadcast_vec4'), { ...uniforms, ...strides, a, b, y4: y }, grid1d(n4, 256));
    else dispatch(k('broadcast'), { ...base, ...strides }, grid);
  }
  return y;
}

export function add(a: Tensor, b: Tensor): Tensor {
  return record(binary('add', a, b), 'add', [a, b], (g) => [sumTo(g, a.shape), sumTo(g, b.shape)]);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  return record(binary('sub', a, b), 'sub', [a, b], (g) => [sumTo(g, a.shape), b.requiresGrad ? scale(sumTo(g, b.shape), -1) : null]);
}

export function mul(a: Tensor, b: Tensor): Tensor {
  return record(binary('mul', a, b), 'mul', [a, b], (g) => [
    a.requiresGrad ? sumTo(binary('mul', g, b), a.shape) : null,
    b.requiresGrad ? sumTo(binary('mul', g, a), b.shape) : null,
  ]);
}

/** y = x * alpha + beta */
export function scale(x: Tensor, alpha: number, beta = 0): Tensor {
  const y = Tensor.empty(x.shape);
  if (y.size > 0) dispatch(kernel('scale.wgsl'), { x, y, n: x.size, alpha, beta }, grid1d(x.size, 256));
  return record(y, 'scale', [x], (g) => [scale(g, alpha)]);
}

// ---- reductions ------------------------------------------------------------

/**
 * How a [rows, cols] reduction over rows is split into parallel chunks:
 * enough chunks to keep every lane busy (~16k threads), each summing >= 16 rows.
 */
export function rowChunks(rows: number, cols: number): { chunks: number; rowsPerChunk: number } {
  const wanted = Math.max(1, Math.min(Math.ceil(rows / 16), Math.ceil(16384 / cols)));
  const rowsPerChunk = Math.ceil(rows / wanted);
  return { chunks: Math.ceil(rows / rowsPerChunk), rowsPerChunk };
}

/** Sums x viewed as [rows, cols] over its rows: column sums, [cols]. */
export function columnSum(x: Tensor, rows: number, cols: number): Tensor {
  let cur = x;
  let r = rows;
  for (;;) {
    const { chunks: realChunks, rowsPerChunk: perChunk } = rowChunks(r, cols);
    const out = Tensor.empty(realChunks === 1 ? [cols] : [realChunks, cols]);
    dispatch(kernel('reduce.wgsl', 'column_sum'), { x: cur, partial: out, rows: r, cols, rows_per_chunk: perChunk, chunks: realChunks }, grid1d(cols * realChunks, 256));
    if (cur !== x) cur.dispose();
    cur = out;
    r = realChunks;
    if (r === 1) return cur;
  }
}

/** Sums g (of a broadcast shape) back down to `shape`. Returns g itself when no sum is needed. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const rank = g.shape.length;
  const aligned = [...new Array(rank - shape.length).fill(1), ...shape];
  const reduced = g.shape.map((d, i) => aligned[i] === 1 && d > 1);
  return axesSum(g, reduced, shape);
}

function axesSum(x: Tensor, reduced: boolean[], outShape: Shape): Tensor {
  const n = x.shape.length;
  const outSize = x.shape.reduce((a, d, i) => (reduced[i] ? a : a * d), 1);
  if (outSize === x.size) {
    // Only size-1 axes "reduced": a reshape.
    return clone(x, outShape);
  }
  // Leading axes reduced, trailing kept: a column sum, the common case
  // (bias and batchnorm gradients, per-channel broadcasts, full sums).
  const firstKept = reduced.findIndex((r) => !r);
  const leadingOnly = firstKept === -1 || reduced.slice(firstKept).every((r, i) => !r || x.shape[firstKept + i] === 1);
  if (leadingOnly) {
    const s = columnSum(x, x.size / outSize, outSize);
    if (sameShape(s.shape, outShape)) return s;
    const y = clone(s, outShape);
    s.dispose();
    return y;
  }
  const strides = stridesOf(x.shape);
  const y = Tensor.empty(outShape);
  dispatch(
    kernel('reduce.wgsl', 'axes_sum'),
    {
      src: x,
      dst: y,
      n_out: outSize,
      n_red: x.size / outSize,
      rank: n,
      in_strides: pad8(strides),
      kept_shape: pad8(x.shape.map((d, i) => (reduced[i] ? 1 : d))),
      red_shape: pad8(x.shape.map((d, i) => (reduced[i] ? d : 1))),
    },
    grid1d(outSize, 64),
  );
  return y;
}

function normaliseAxes(op: string, x: Tensor, axes?: number | number[]): boolean[] {
  const n = x.shape.length;
  if (axes === undefined) return x.shape.map(() => true);
  const list = typeof axes === 'number' ? [axes] : axes;
  const red = x.shape.map(() => false);
  for (const a of list) {
    const d = a < 0 ? a + n : a;
    if (d < 0 || d >= n) throw new Error(`${op}: axis ${a} out of range for ${shapeStr(x.shape)}`);
    red[d] = true;
  }
  return red;
}

/** Sum over `axes` (all by default). keepDims leaves size-1 axes in place. */
export function sum(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  const red = normaliseAxes('sum', x, axes);
  const kept = x.shape.map((d, i) => (red[i] ? 1 : d));
  const outShape = keepDims ? kept : x.shape.filter((_, i) => !red[i]);
  const y = axesSum(x, red, outShape);
  return record(y, 'sum', [x], (g) => [expandTo(g, kept, x.shape)]);
}

export function mean(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  const red = normaliseAxes('mean', x, axes);
  const count = x.shape.reduce((a, d, i) => (red[i] ? a * d : a), 1);
  const s = sum(x, axes, keepDims);
  const m = scale(s, 1 / count);
  // Without a graph nothing else holds s; with one, s stays alive for backward.
  if (!m.node) s.dispose();
  return m;
}

/** Broadcasts g (with size-1 axes as in `kept`) up to `shape`. */
function expandTo(g: Tensor, kept: Shape, shape: Shape): Tensor {
  const gk = g.reshapeView(kept);
  return binary('expand', gk, gk, [...shape]);
}
