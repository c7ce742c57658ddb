// softmax and log_softmax along any axis (numerically stable: the row's max is
// subtracted before exp), and the row layout shared by the row-wise ops
// (l2Normalize, the losses).
import { Tensor, record, shapeStr, type Shape } from '../tensor.js';
import { kernel, dispatch, grid1d, type KernelArgs } from '../kernel.js';
import { runtime } from '../runtime.js';

/**
 * A tensor read as [outer, len, inner] around one axis: `rows` = outer * inner
 * independent rows of `len` elements, `inner` apart in memory.
 */
export interface RowLayout {
  rows: number;
  len: number;
  inner: number;
}

export function rowLayout(op: string, shape: Shape, axis: number): RowLayout {
  const rank = shape.length;
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= rank) throw new Error(`${op}: axis ${axis} out of range for ${shapeStr(shape)}`);
  const outer = shape.slice(0, a).reduce((p, d) => p * d, 1);
  const inner = shape.slice(a + 1).reduce((p, d) => p * d, 1);
  return { rows: outer * inner, len: shape[a], inner };
}

/** Rows up to this long always get one thread each: a workgroup's lanes would mostly idle. */
export const SHORT_ROW = 64;

/**
 * Whether each row gets one thread (`*_rows` kernels) rather than a workgroup
 * (`*_wg`). GPUs: a workgroup for every row longer than SHORT_ROW (coalesced
 * reads, cheap barriers). The software adapter runs a workgroup's lanes in
 * 8-wide slices on one core, and a workgroup with barriers costs ~10 us per
 * row there, so one thread per row wins (2-20x, measured on lavapipe) unless
 * there are too few rows to keep both cores busy: fewer than 128, e.g. a
 * batch of 64 x 10000 logits.
 */
function threadPerRow(rows: number, len: number): boolean {
  if (len <= SHORT_ROW) return true;
  return runtime().family === 'software' && rows >= 128;
}

/** Lanes per row for the workgroup variants; fewer on software adapters, where every barrier round is costly. */
export function rowWorkgroupSize(): number {
  return runtime().family === 'software' ? 32 : 256;
}

/**
 * Dispatches a row-wise kernel pair: `<pass>_rows` (one thread per row) or
 * `<pass>_wg` (one workgroup of WG lanes per row), as threadPerRow decides.
 * `rows` and `len` are passed on as uniforms with `args`.
 */
export function dispatchRows(file: string, pass: string, rows: number, len: number, args: KernelArgs, overrides: Record<string, number> = {}): void {
  if (rows === 0 || len === 0) return;
  if (threadPerRow(rows, len)) {
    dispatch(kernel(file, `${pass}_rows`, overrides), { ...args, rows, len }, grid1d(rows, 64));
  } else {
    const wg = rowWorkgroupSize();
    dispatch(kernel(file, `${pass}_wg`, { ...overrides, WG: wg }), { ...args, rows, len }, grid1d(rows * wg, wg));
  }
}

function softmaxOp(op: 'softmax' | 'log_softmax', x: Tensor, axis: number): Tensor {
  const { rows, len, inner } = rowLayout(op, x.shape, axis);
  if (x.dtype !== 'f32') throw new Error(`${op}: x ${shapeStr(x.shape)} must be f32, got ${x.dtype}`);
  const LOG = op === 'log_softmax' ? 1 : 0;
  const y = Tensor.empty(x.shape);
  dispatchRows('softmax.wgsl', 'forward', rows, len, { x, y, inner }, { LOG });
  // Both backwards need only the output: softmax dx = y (g - sum(g y)),
  // log_softmax dx = g - exp(y) sum(g).
  return record(y, op, [x], (g) => {
    const dx = Tensor.empty(x.shape);
    dispatchRows('softmax.wgsl', 'backward', rows, len, { saved: y, g, dx, inner }, { LOG });
    return [dx];
  });
}

/** exp(x) / sum(exp(x)) along `axis` (default: the last). */
export function softmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp('softmax', x, axis);
}

/** x - log(sum(exp(x))) along `axis` (default: the last); finite for any finite x, unlike log(softmax(x)). */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp('log_softmax', x, axis);
}
