// Affine warps of NHWC images, forward only (face alignment; see nets/align.ts).
//
// Convention (OpenCV's warpAffine with WARP_INVERSE_MAP and INTER_LINEAR):
// pixel (row i, column j) is the integer point (x = j, y = i), and pixel
// centres sit on integers, not at +0.5. Each matrix maps an OUTPUT pixel to
// the SOURCE point it reads:
//   sx = m[0] * j + m[1] * i + m[2]
//   sy = m[3] * j + m[4] * i + m[5]
// and the source is sampled bilinearly there. A matrix estimated with
// OpenCV/skimage conventions (landmarks in integer pixel coordinates) can be
// used as is once inverted. Positions are not quantised to 1/32 pixel as
// OpenCV's fixed-point path does, so results agree with OpenCV to ~1/64 pixel
// of position, not bit for bit.
import { Tensor, shapeStr } from '../tensor.js';
import { kernel, dispatch, grid1d } from '../kernel.js';

export type WarpBorder = 'zero' | 'replicate';

export interface WarpOptions {
  /**
   * What bilinear taps outside the source read. 'zero' (default): 0, like
   * cv2.BORDER_CONSTANT with value 0; pixels near the edge fade to 0 over one
   * pixel. 'replicate': the nearest edge pixel, like cv2.BORDER_REPLICATE.
   */
  border?: WarpBorder;
}

/**
 * Warps image imageIndex[k] (i32 [K]; null: all from image 0) of img
 * (f32 [N, H, W, C]) with matrices[k] (f32 [K, 6], row-major 2x3, output
 * pixel -> source point, see above) into an [oh, ow] output: [K, oh, ow, C].
 * An image index out of range gives zeros.
 */
export function warpAffine(
  img: Tensor,
  matrices: Tensor,
  imageIndex: Tensor | null,
  size: readonly [number, number],
  opts: WarpOptions = {},
): Tensor {
  const op = 'warpAffine';
  if (img.rank !== 4 || img.dtype !== 'f32') throw new Error(`${op}: image ${shapeStr(img.shape)} ${img.dtype} must be an f32 NHWC tensor [N, H, W, C]`);
  const [n, h, w, c] = img.shape;
  if (h === 0 || w === 0 || c === 0) throw new Error(`${op}: image ${shapeStr(img.shape)} has no pixels`);
  if (matrices.rank !== 2 || matrices.shape[1] !== 6 || matrices.dtype !== 'f32') {
    throw new Error(`${op}: matrices ${shapeStr(matrices.shape)} ${matrices.dtype} must be an f32 [K, 6] tensor of row-major 2x3 output->source maps`);
  }
  const k = matrices.shape[0];
  if (imageIndex && (imageIndex.rank !== 1 || imageIndex.shape[0] !== k || imageIndex.dtype !== 'i32')) {
    throw new Error(`${op}: imageIndex ${shapeStr(imageIndex.shape)} ${imageIndex.dtype} must be i32 [${k}] to match matrices ${shapeStr(matrices.shape)}`);
  }
  const [oh, ow] = size;
  if (!Number.isInteger(oh) || !Number.isInteger(ow) || oh < 1 || ow < 1) {
    throw new Error(`${op}: output size [${size.join(', ')}] for image ${shapeStr(img.shape)} must be two positive integers`);
  }
  const border = opts.border ?? 'zero';
  if (border !== 'zero' && border !== 'replicate') throw new Error(`${op}: border "${border}" is not 'zero' or 'replicate'`);

  const out = Tensor.empty([k, oh, ow, c]);
  if (out.size === 0) return out;
  const pixels = k * oh * ow;
  const args = {
    img, matrices, out,
    pixels, images: n, in_h: h, in_w: w, channels: c, out_h: oh, out_w: ow, replicate_border: border === 'replicate' ? 1 : 0,
  };
  if (imageIndex) dispatch(kernel('warp.wgsl', 'forward_indexed'), { ...args, image_index: imageIndex }, grid1d(pixels, 64));
  else dispatch(kernel('warp.wgsl', 'forward'), args, grid1d(pixels, 64));
  return out;
}
