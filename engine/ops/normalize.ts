// L2 normalisation along an axis (FaceNet embeddings).
import { Tensor, record, shapeStr } from '../tensor.js';
import { rowLayout, dispatchRows } from './softmax.js';

/**
 * y = x / max(||x||_2, eps) along `axis` (default: the last), the semantics of
 * PyTorch's F.normalize. facenet-pytorch calls it with eps = 1e-12; the two
 * defaults differ only for rows whose norm is below 1e-10. A row with norm
 * <= eps is divided by eps (an all-zero row stays zero, no NaN) and its
 * gradient is g / eps.
 */
export function l2Normalize(x: Tensor, axis = -1, eps = 1e-10): Tensor {
  const { rows, len, inner } = rowLayout('l2Normalize', x.shape, axis);
  if (x.dtype !== 'f32') throw new Error(`l2Normalize: x ${shapeStr(x.shape)} must be f32, got ${x.dtype}`);
  if (!(eps > 0)) throw new Error(`l2Normalize: eps must be > 0, got ${eps}`);
  const y = Tensor.empty(x.shape);
  dispatchRows('l2norm.wgsl', 'forward', rows, len, { x, y, inner, eps });
  return record(y, 'l2_normalize', [x], (g) => {
    const dx = Tensor.empty(x.shape);
    dispatchRows('l2norm.wgsl', 'backward', rows, len, { x, g, dx, inner, eps });
    return [dx];
  });
}
