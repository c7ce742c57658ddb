// Ops that move elements without arithmetic: reshape, flatten, permute,
// concat and slice, each with its backward. They move 32-bit words, so they
// work for every dtype (f32, i32, u32).
//
// Kernels: shaders/permute.wgsl (N-d transpose), shaders/concat_body.wgsl
// (strided row copy: concat, its backward, and slices that are evenly spaced
// rows) and shaders/slice.wgsl (any box, and its zero-padded inverse).
// Whenever the data to move is one contiguous block the ops use a
// buffer-to-buffer copy instead, several times faster than a kernel.
import { Tensor, record, resolveShape, shapeSize, shapeStr, type Shape } from '../tensor.js';
import { kernel, dispatch, grid1d } from '../kernel.js';
import { runtime } from '../runtime.js';
import { clone, zeros } from './fill.js';

const MAX_RANK = 8;

function pad8(v: readonly number[]): number[] {
  return [...v, ...new Array(MAX_RANK - v.length).fill(0)];
}

function stridesOf(shape: Shape): number[] {
  const s = new Array(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

/** Resolves a possibly negative axis, or throws naming the op and shape. */
function axisOf(op: string, axis: number, shape: Shape): number {
  const rank = shape.length;
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new Error(`${op}: axis ${axis} is out of range for ${shapeStr(shape)}`);
  return a;
}

/** Copies `count` elements from src[srcAt...] to dst[dstAt...] as one buffer copy. */
function copyBlock(src: Tensor, srcAt: number, dst: Tensor, dstAt: number, count: number): void {
  if (count > 0) runtime().recorder.copy(src.buffer, srcAt * 4, dst.buffer, dstAt * 4, count * 4);
}

/**
 * Rows of `width` words: dst[r, dstOffset + j] = src[r, srcOffset + j]. One
 * buffer copy when there is a single row; vec4 words when everything is a
 * multiple of 4 (channel counts usually are).
 */
function copyRows(src: Tensor, srcStride: number, srcOffset: number, dst: Tensor, dstStride: number, dstOffset: number, rows: number, width: number): void {
  if (rows * width === 0) return;
  if (rows === 1) return copyBlock(src, srcOffset, dst, dstOffset, width);
  const lanes = [width, srcStride, srcOffset, dstStride, dstOffset].every((v) => v % 4 === 0) ? 4 : 1;
  const n = (rows * width) / lanes;
  dispatch(
    kernel(lanes === 4 ? 'concat_vec4.wgsl' : 'concat_u32.wgsl', 'copy_rows'),
    { src, dst, n, width: width / lanes, src_stride: srcStride / lanes, src_offset: srcOffset / lanes, dst_stride: dstStride / lanes, dst_offset: dstOffset / lanes },
    grid1d(n, 256),
  );
}

// ---- reshape ---------------------------------------------------------------

/** Same elements under a new shape (one entry may be -1). A buffer copy. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  let target: number[];
  try {
    target = resolveShape(shape, x.size);
  } catch {
    throw new Error(`reshape: cannot reshape ${shapeStr(x.shape)} (${x.size} elements) to ${shapeStr(shape)}`);
  }
  return record(clone(x, target), 'reshape', [x], (dy) => [clone(dy, x.shape)]);
}

/** Merges axes startAxis..endAxis (inclusive) into one, like torch.flatten. */
export function flatten(x: Tensor, startAxis = 1, endAxis = -1): Tensor {
  if (x.rank === 0) return reshape(x, [1]);
  const start = axisOf('flatten', startAxis, x.shape);
  const end = axisOf('flatten', endAxis, x.shape);
  if (start > end) throw new Error(`flatten: start axis ${startAxis} comes after end axis ${endAxis} in ${shapeStr(x.shape)}`);
  const merged = x.shape.slice(start, end + 1).reduce((a, d) => a * d, 1);
  return reshape(x, [...x.shape.slice(0, start), merged, ...x.shape.slice(end + 1)]);
}

// ---- permute ---------------------------------------------------------------

/**
 * The same transpose on fewer axes: size-1 axes dropped, and axes that stay
 * neighbours in the same order merged into one. [2,3,4,5] by [0,2,3,1] becomes
 * [2,3,20] by [0,2,1]; an identity comes back as rank <= 1.
 */
export function simplifyPermutation(shape: Shape, axes: readonly number[]): { shape: number[]; axes: number[] } {
  const kept = shape.map((d) => d !== 1);
  const renumber = new Array(shape.length).fill(-1);
  let next = 0;
  shape.forEach((_, a) => { if (kept[a]) renumber[a] = next++; });
  const keptShape = shape.filter((_, a) => kept[a]);
  const order = axes.filter((a) => kept[a]).map((a) => renumber[a]);
  // Runs of consecutive input axes in output order: [first, last] inclusive.
  const runs: [number, number][] = [];
  for (const a of order) {
    const last = runs[runs.length - 1];
    if (last && a === last[1] + 1) last[1] = a;
    else runs.push([a, a]);
  }
  const byInputOrder = [...runs].sort((p, q) => p[0] - q[0]);
  const merged = byInputOrder.map(([f, l]) => keptShape.slice(f, l + 1).reduce((s, d) => s * d, 1));
  return { shape: merged, axes: runs.map((r) => byInputOrder.indexOf(r)) };
}

/** Reorders axes: output axis d is input axis axes[d] (torch.permute). */
export function permute(x: Tensor, axes: readonly number[]): Tensor {
  const rank = x.rank;
  const valid = axes.length === rank && axes.every((a) => Number.isInteger(a) && a >= 0 && a < rank) && new Set(axes).size === rank;
  if (!valid) throw new Error(`permute: axes [${axes.join(', ')}] are not a permutation of the ${rank} axes of ${shapeStr(x.shape)}`);
  const outShape = axes.map((a) => x.shape[a]);
  const inverse = new Array(rank);
  axes.forEach((a, d) => (inverse[a] = d));

  const simple = simplifyPermutation(x.shape, axes);
  if (simple.shape.length > MAX_RANK) throw new Error(`permute: ${shapeStr(x.shape)} by [${axes.join(', ')}] needs ${simple.shape.length} axes, over the supported ${MAX_RANK}`);
  const identity = simple.axes.every((a, d) => a === d);
  const y = identity ? clone(x, outShape) : new Tensor(outShape, x.dtype);
  if (!identity && y.size > 0) {
    const inStrides = stridesOf(simple.shape);
    dispatch(
      kernel('permute.wgsl', 'main', { RANK: simple.axes.length }),
      {
        x, y, n: y.size,
        out_shape: pad8(simple.axes.map((a) => simple.shape[a])),
        in_strides: pad8(simple.axes.map((a) => inStrides[a])),
      },
      grid1d(y.size, 256),
    );
  }
  return record(y, 'permute', [x], (dy) => [permute(dy, inverse)]);
}

// ---- concat ----------------------------------------------------------------

/**
 * Joins tensors along `axis` (default the last: channels of NHWC images). All
 * shapes must agree elsewhere. The backward cuts the gradient back into pieces.
 */
export function concat(tensors: readonly Tensor[], axis = -1): Tensor {
  if (tensors.length === 0) throw new Error('concat: needs at least one tensor');
  const first = tensors[0];
  const a = axisOf('concat', axis, first.shape);
  tensors.forEach((t, i) => {
    const same = t.rank === first.rank && t.shape.every((d, k) => k === a || d === first.shape[k]);
    if (!same) throw new Error(`concat: tensor ${i} ${shapeStr(t.shape)} does not match tensor 0 ${shapeStr(first.shape)} outside axis ${a}`);
    if (t.dtype !== first.dtype) throw new Error(`concat: tensor ${i} ${shapeStr(t.shape)} is ${t.dtype}, tensor 0 is ${first.dtype}`);
  });
  const outShape = [...first.shape];
  outShape[a] = tensors.reduce((s, t) => s + t.shape[a], 0);
  // Everything before the axis is rows; a tensor's part of a row is contiguous.
  const rows = first.shape.slice(0, a).reduce((s, d) => s * d, 1);
  const widths = tensors.map((t) => (rows === 0 ? 0 : t.size / rows));
  const offsets = widths.map((_, i) => widths.slice(0, i).reduce((s, w) => s + w, 0));
  const total = offsets[offsets.length - 1] + widths[widths.length - 1];

  const y = new Tensor(outShape, first.dtype);
  tensors.forEach((t, i) => copyRows(t, widths[i], 0, y, total, offsets[i], rows, widths[i]));
  return record(y, 'concat', [...tensors], (dy) =>
    tensors.map((t, i) => {
      if (!t.requiresGrad) return null;
      const dt = new Tensor(t.shape, dy.dtype);
      copyRows(dy, total, offsets[i], dt, widths[i], 0, rows, widths[i]);
      return dt;
    }),
  );
}

// ---- slice -----------------------------------------------------------------

/**
 * The box x[begin[d] : begin[d] + size[d]] along every axis (size -1: to the
 * end), like tf.slice. The backward places the gradient in a zero tensor.
 */
export function slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
  const rank = x.rank;
  const box = `begin [${begin.join(', ')}], size [${size.join(', ')}]`;
  if (begin.length !== rank || size.length !== rank) throw new Error(`slice: ${box} must have one entry per axis of ${shapeStr(x.shape)}`);
  if (rank > MAX_RANK) throw new Error(`slice: ${shapeStr(x.shape)} has rank ${rank}, over the supported ${MAX_RANK}`);
  const extent = size.map((s, d) => (s === -1 ? x.shape[d] - begin[d] : s));
  const fits = begin.every((b, d) => Number.isInteger(b) && Number.isInteger(extent[d]) && b >= 0 && extent[d] >= 0 && b + extent[d] <= x.shape[d]);
  if (!fits) throw new Error(`slice: ${box} is outside ${shapeStr(x.shape)}`);

  const y = new Tensor(extent, x.dtype);
  const rows = boxAsRows(x.shape, begin, extent);
  if (rows) {
    copyRows(x, rows.stride, rows.offset, y, rows.width, 0, rows.rows, rows.width);
  } else if (y.size > 0) {
    dispatch(
      kernel('slice.wgsl', 'forward', { RANK: rank }),
      { src: x, dst: y, n: y.size, shape: pad8(extent), begin: pad8(begin), other_shape: pad8(x.shape) },
      grid1d(y.size, 256),
    );
  }
  return record(y, 'slice', [x], (dy) => {
    if (rows) {
      const dx = zeros(x.shape);
      copyRows(dy, rows.width, 0, dx, rows.stride, rows.offset, rows.rows, rows.width);
      return [dx];
    }
    const dx = new Tensor(x.shape, dy.dtype);
    if (dx.size > 0) {
      dispatch(
        kernel('slice.wgsl', 'backward', { RANK: rank }),
        { src: dy, dst: dx, n: dx.size, shape: pad8(x.shape), begin: pad8(begin), other_shape: pad8(extent) },
        grid1d(dx.size, 256),
      );
    }
    return [dx];
  });
}

/**
 * The box as evenly spaced rows of x, when it is one: `rows` runs of `width`
 * elements, `stride` apart, the first at `offset`. That holds when the box
 * cuts at most one axis k with more than one index kept, and besides k only
 * fixes single indices on leading axes, e.g. some channels of every pixel, or
 * a range of rows of one image. Boxes cut along several axes return null.
 */
function boxAsRows(shape: Shape, begin: readonly number[], extent: readonly number[]): { rows: number; width: number; stride: number; offset: number } | null {
  const strides = stridesOf(shape);
  const cut = shape.map((d, k) => extent[k] !== d);
  const k = cut.lastIndexOf(true);
  if (k < 0) return { rows: 1, width: shapeSize(shape), stride: 0, offset: 0 };
  // Leading axes holding a single index only move the start.
  let lead = 0;
  while (lead < k && extent[lead] === 1) lead++;
  if (cut.slice(lead, k).some(Boolean)) return null;
  const inner = strides[k];
  return {
    rows: shape.slice(lead, k).reduce((a, d) => a * d, 1),
    width: extent[k] * inner,
    stride: shape[k] * inner,
    offset: begin.slice(0, k + 1).reduce((a, b, d) => a + b * strides[d], 0),
  };
}
