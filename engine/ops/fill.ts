// Constant tensors and copies.
import { Tensor, resolveShape, type Shape, type DType } from '../tensor.js';
import { kernel, dispatch, grid1d } from '../kernel.js';
import { runtime } from '../runtime.js';

/** A tensor of `shape` filled with `value` (bit pattern reinterpreted for i32/u32 is not supported: f32 only). */
export function fill(shape: Shape, value: number): Tensor {
  const y = Tensor.empty(shape);
  if (y.size > 0) dispatch(kernel('fill.wgsl'), { y, n: y.size, value }, grid1d(y.size, 256));
  return y;
}

export const zeros = (shape: Shape) => fill(shape, 0);
export const ones = (shape: Shape) => fill(shape, 1);

/** A new tensor with the same contents, optionally under a new shape of equal size (a buffer copy, recorded in order). */
export function clone(x: Tensor, shape: Shape = x.shape): Tensor {
  const y = new Tensor(resolveShape(shape, x.size), x.dtype as DType);
  if (x.size > 0) runtime().recorder.copy(x.buffer, 0, y.buffer, 0, x.byteLength);
  return y;
}
