// Dropout with a mask recomputed from (seed, element index) by a hash in the
// kernel, so nothing is stored between forward and backward and a seed
// reproduces a mask exactly. Kernels: shaders/dropout_body.wgsl.
import { Tensor, record, shapeStr } from '../tensor.js';
import { kernel, dispatch, grid1d } from '../kernel.js';

// As declared in dropout_body.wgsl.
const WG = 256;

export interface DropoutOptions {
  /** Drop elements when true; identity when false. */
  training: boolean;
  /** u32 seed of the mask; the same seed gives the same mask. Default: a random one per call. */
  seed?: number;
}

/**
 * Training: zeroes each element with probability p and scales the rest by
 * 1 / (1 - p), so the expected value is unchanged. Evaluation, and p = 0:
 * returns x itself (no copy and no graph node, as PyTorch does), so the result
 * must not be disposed separately from x.
 */
export function dropout(x: Tensor, p: number, { training, seed = randomSeed() }: DropoutOptions): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: p must be in [0, 1], got ${p}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`dropout: seed must be an integer in [0, 2^32), got ${seed}`);
  if (x.dtype !== 'f32') throw new Error(`dropout: x must be f32, got ${x.dtype} ${shapeStr(x.shape)}`);
  if (!training || p === 0) return x;
  const y = applyMask(x, p, seed);
  return record(y, 'dropout', [x], (g) => [applyMask(g, p, seed)]);
}

function applyMask(x: Tensor, p: number, seed: number): Tensor {
  const lanes = x.size % 4 === 0 ? 4 : 1;
  const n = x.size / lanes;
  const y = Tensor.empty(x.shape);
  if (n > 0) {
    dispatch(
      kernel(lanes === 4 ? 'dropout_vec4.wgsl' : 'dropout_f32.wgsl', 'apply_mask'),
      { x, y, n, seed, threshold: Math.round(p * 2 ** 24), scale: p < 1 ? 1 / (1 - p) : 0 },
      grid1d(n, WG),
    );
  }
  return y;
}

function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}
