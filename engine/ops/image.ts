// Image kernels, forward only: resizing, box crops and pixel ingestion.
//
// Images are NHWC f32 tensors [N, H, W, C]. The resize and crop rules follow
// the facenet-pytorch MTCNN reference (see shaders/resize.wgsl and
// shaders/crop.wgsl): mode='area' is adaptive average pooling, and the R-Net /
// O-Net crops use that pipeline's integer box rule.
import { Tensor, shapeStr } from '../tensor.js';
import { kernel, dispatch, grid1d } from '../kernel.js';
import { runtime } from '../runtime.js';

export type Size2 = readonly [number, number];

function checkImage(op: string, img: Tensor): [number, number, number, number] {
  if (img.rank !== 4 || img.dtype !== 'f32') throw new Error(`${op}: image ${shapeStr(img.shape)} ${img.dtype} must be an f32 NHWC tensor [N, H, W, C]`);
  const [n, h, w, c] = img.shape;
  if (h === 0 || w === 0 || c === 0) throw new Error(`${op}: image ${shapeStr(img.shape)} has no pixels`);
  return [n, h, w, c];
}

function checkSize(op: string, size: Size2, img: { shape: readonly number[] }): [number, number] {
  const [oh, ow] = size;
  if (!Number.isInteger(oh) || !Number.isInteger(ow) || oh < 1 || ow < 1) {
    throw new Error(`${op}: output size [${size.join(', ')}] for image ${shapeStr(img.shape)} must be two positive integers`);
  }
  return [oh, ow];
}

/**
 * F.interpolate(img, size, mode='area'): each output pixel averages its window
 * [floor(i*H/oh), ceil((i+1)*H/oh)) x the same over W. With `normalize`, the
 * result is normalizeImage(resizeArea(img, size), normalize) in one pass.
 */
export function resizeArea(img: Tensor, size: Size2, opts: { normalize?: NormalizeOptions } = {}): Tensor {
  const [n, h, w, c] = checkImage('resizeArea', img);
  const [oh, ow] = checkSize('resizeArea', size, img);
  const norm = fusedNormalize('resizeArea', opts.normalize, c, img);
  const out = Tensor.empty([n, oh, ow, c]);
  if (out.size > 0) {
    const pixels = n * oh * ow;
    dispatch(kernel('resize.wgsl', 'area'), { img, out, pixels, in_h: h, in_w: w, out_h: oh, out_w: ow, channels: c, align_corners: 0, ...norm }, grid1d(pixels, 64));
  }
  return out;
}

const IDENTITY = { mean: [0, 0, 0, 0], scale: [1, 1, 1, 1] };

/** normalizeImage's (x - mean) * scale as the uniforms of a kernel that applies it before storing; identity when not asked for. */
function fusedNormalize(op: string, opts: NormalizeOptions | undefined, channels: number, img: { shape: readonly number[] }): { mean: number[]; scale: number[] } {
  if (!opts) return IDENTITY;
  return {
    mean: perChannel(op, 'mean', opts.mean ?? 127.5, channels, shapeStr(img.shape)),
    scale: perChannel(op, 'scale', opts.scale ?? 0.0078125, channels, shapeStr(img.shape)),
  };
}

/** F.interpolate(img, size, mode='bilinear', align_corners): half-pixel centres unless alignCorners; no antialiasing. */
export function resizeBilinear(img: Tensor, size: Size2, opts: { alignCorners?: boolean } = {}): Tensor {
  const [n, h, w, c] = checkImage('resizeBilinear', img);
  const [oh, ow] = checkSize('resizeBilinear', size, img);
  const out = Tensor.empty([n, oh, ow, c]);
  if (out.size > 0) {
    const pixels = n * oh * ow;
    const args = { img, out, pixels, in_h: h, in_w: w, out_h: oh, out_w: ow, channels: c, align_corners: opts.alignCorners ? 1 : 0, ...IDENTITY };
    dispatch(kernel('resize.wgsl', 'bilinear'), args, grid1d(pixels, 64));
  }
  return out;
}

export interface CropOptions {
  /**
   * 'area' (default): the MTCNN crop. Box coordinates are truncated toward
   * zero and read as 1-based inclusive pixels, so the crop is rows
   * trunc(y1)-1 .. trunc(y2)-1 and columns trunc(x1)-1 .. trunc(x2)-1, then
   * area-resized. 'bilinear': the box is continuous, in pixel-edge
   * coordinates, sampled at evenly spread cell centres (alignment crops).
   */
  method?: 'area' | 'bilinear';
  /**
   * 'clip' (default for 'area'): the crop is cut to the image and the
   * remainder resized, as facenet-pytorch does (so clipped crops stretch);
   * for 'bilinear', taps clamp to the edge pixel. 'zero' (default for
   * 'bilinear'): the box keeps its size and pixels outside read 0, like the
   * original MTCNN's zero-padded crop.
   */
  outside?: 'clip' | 'zero';
  /** 'area' only: normalizeImage's (x - mean) * scale applied to the crops in the same pass. */
  normalize?: NormalizeOptions;
}

/**
 * Crops each box (f32 [K, 4], x1 y1 x2 y2) from image boxImage[k] (i32 [K];
 * null: all from image 0) and resizes it to `size`: [K, oh, ow, C]. Boxes
 * whose crop is empty, or whose image index is out of range, give zeros.
 */
export function cropAndResize(img: Tensor, boxes: Tensor, boxImage: Tensor | null, size: Size2, opts: CropOptions = {}): Tensor {
  const [n, h, w, c] = checkImage('cropAndResize', img);
  if (boxes.rank !== 2 || boxes.shape[1] !== 4 || boxes.dtype !== 'f32') {
    throw new Error(`cropAndResize: boxes ${shapeStr(boxes.shape)} ${boxes.dtype} must be an f32 [K, 4] tensor of (x1, y1, x2, y2)`);
  }
  const k = boxes.shape[0];
  if (boxImage && (boxImage.rank !== 1 || boxImage.shape[0] !== k || boxImage.dtype !== 'i32')) {
    throw new Error(`cropAndResize: boxImage ${shapeStr(boxImage.shape)} ${boxImage.dtype} must be i32 [${k}] to match boxes ${shapeStr(boxes.shape)}`);
  }
  const [oh, ow] = checkSize('cropAndResize', size, img);
  const method = opts.method ?? 'area';
  if (method !== 'area' && method !== 'bilinear') throw new Error(`cropAndResize: method "${method}" is not 'area' or 'bilinear'`);
  const outside = opts.outside ?? (method === 'area' ? 'clip' : 'zero');
  if (outside !== 'clip' && outside !== 'zero') throw new Error(`cropAndResize: outside "${outside}" is not 'clip' or 'zero'`);
  if (opts.normalize && method !== 'area') throw new Error(`cropAndResize: normalize is fused into the 'area' method only`);
  const norm = fusedNormalize('cropAndResize', opts.normalize, c, img);

  const out = Tensor.empty([k, oh, ow, c]);
  if (out.size === 0) return out;
  const pixels = k * oh * ow;
  const args = {
    img, boxes, out,
    pixels, images: n, in_h: h, in_w: w, channels: c, out_h: oh, out_w: ow, zero_outside: outside === 'zero' ? 1 : 0, ...norm,
  };
  const entry = boxImage ? `${method}_indexed` : method;
  dispatch(kernel('crop.wgsl', entry), boxImage ? { ...args, box_image: boxImage } : args, grid1d(pixels, 64));
  return out;
}

export interface NormalizeOptions {
  /** Subtracted first: one value or one per channel. Default 127.5. */
  mean?: number | readonly number[];
  /** Multiplied after: one value or one per channel. Default 0.0078125 (1/128), MTCNN's (x - 127.5) * 0.0078125. */
  scale?: number | readonly number[];
}

function perChannel(op: string, name: string, v: number | readonly number[], channels: number, shape: string): number[] {
  if (typeof v === 'number') return [v, v, v, v];
  if (v.length !== channels || channels > 4) {
    throw new Error(`${op}: ${name} has ${v.length} values for ${channels} channels of ${shape} (give one value, or one per channel for up to 4 channels)`);
  }
  return [...v, ...new Array(4 - v.length).fill(0)];
}

/**
 * Pixels to normalised floats, (x - mean[c]) * scale[c].
 * - u32 [N, H, W] (or [H, W]): packed RGBA8, one u32 per pixel with R in the
 *   low byte (see `packRgba`) -> f32 [N, H, W, 3]; alpha is dropped.
 * - f32 [N, H, W, C]: normalised per channel, same shape.
 * Use mean 0, scale 1 for plain 0..255 floats.
 */
export function normalizeImage(pixels: Tensor, opts: NormalizeOptions = {}): Tensor {
  const op = 'normalizeImage';
  const packed = pixels.dtype === 'u32';
  if (packed ? pixels.rank !== 2 && pixels.rank !== 3 : pixels.rank !== 4 || pixels.dtype !== 'f32') {
    throw new Error(`${op}: pixels ${shapeStr(pixels.shape)} ${pixels.dtype} must be packed RGBA u32 [N, H, W] / [H, W] or f32 NHWC [N, H, W, C]`);
  }
  const shape = packed ? [...(pixels.rank === 2 ? [1] : []), ...pixels.shape, 3] : [...pixels.shape];
  const channels = shape[3];
  const mean = perChannel(op, 'mean', opts.mean ?? 127.5, channels, shapeStr(pixels.shape));
  const scale = perChannel(op, 'scale', opts.scale ?? 0.0078125, channels, shapeStr(pixels.shape));
  const y = Tensor.empty(shape);
  if (y.size === 0) return y;
  const args = { y, n: y.size, channels, mean, scale };
  if (packed) dispatch(kernel('image.wgsl', 'unpack_rgba'), { ...args, pixels }, grid1d(y.size, 256));
  else dispatch(kernel('image.wgsl', 'normalize'), { ...args, x: pixels }, grid1d(y.size, 256));
  return y;
}

/**
 * Summed-area table of a packed RGBA8 image (u32 [1, H, W] from packRgba) for
 * `resizeAreaPacked`: u32 [H + 1, W + 1, 4], exact integer sums.
 */
export function integralImage(pixels: Tensor): Tensor {
  if (pixels.dtype !== 'u32' || !(pixels.rank === 2 || (pixels.rank === 3 && pixels.shape[0] === 1))) {
    throw new Error(`integralImage: pixels ${shapeStr(pixels.shape)} ${pixels.dtype} must be one packed RGBA u32 image [1, H, W] or [H, W]`);
  }
  const [h, w] = pixels.shape.slice(-2);
  const table = Tensor.empty([h + 1, w + 1, 4], 'u32');
  dispatch(kernel('integral.wgsl', 'rows'), { pixels, sat: table, h, w }, grid1d(h + 1, 64));
  const cols = runtime().family === 'software' ? 8 : 1; // see integral.wgsl
  dispatch(kernel('integral.wgsl', 'columns', { COLS: cols }), { sat: table, h, w }, grid1d(Math.ceil((w + 1) / cols), 64));
  return table;
}

/**
 * resizeArea of a packed RGBA8 image from its integralImage: f32 [1, oh, ow, 3],
 * bit-identical to normalizeImage(resizeArea(unpacked 0..255 floats, size),
 * normalize) while window sums stay below 2^24 (every window of at most
 * 65793 pixels); larger windows throw (resize the unpacked floats instead).
 */
export function resizeAreaPacked(table: Tensor, size: Size2, opts: { normalize?: NormalizeOptions } = {}): Tensor {
  if (table.dtype !== 'u32' || table.rank !== 3 || table.shape[2] !== 4) throw new Error(`resizeAreaPacked: table ${shapeStr(table.shape)} must come from integralImage`);
  const h = table.shape[0] - 1, w = table.shape[1] - 1;
  const img = { shape: [1, h, w, 3] }; // the image the table sums, for messages
  const [oh, ow] = checkSize('resizeAreaPacked', size, img);
  if (!packedResizeExact(h, w, size)) {
    throw new Error(`resizeAreaPacked: ${h}x${w} -> ${oh}x${ow} has windows whose sums pass 2^24 (not exact in f32); use resizeArea`);
  }
  const norm = fusedNormalize('resizeAreaPacked', opts.normalize, 3, img);
  const out = Tensor.empty([1, oh, ow, 3]);
  dispatch(kernel('integral.wgsl', 'area'), { table, out, pixels: oh * ow, in_h: h, in_w: w, out_h: oh, out_w: ow, ...norm }, grid1d(oh * ow, 64));
  return out;
}

/**
 * cropAndResize(unpacked 0..255 floats, boxes, null, size, { method: 'area',
 * outside: 'clip', normalize }) from a packed image's integralImage, bit for
 * bit, while packedCropExact holds: f32 [K, oh, ow, 3].
 */
export function cropAreaPacked(table: Tensor, boxes: Tensor, size: Size2, opts: { normalize?: NormalizeOptions } = {}): Tensor {
  if (table.dtype !== 'u32' || table.rank !== 3 || table.shape[2] !== 4) throw new Error(`cropAreaPacked: table ${shapeStr(table.shape)} must come from integralImage`);
  if (boxes.rank !== 2 || boxes.shape[1] !== 4 || boxes.dtype !== 'f32') {
    throw new Error(`cropAreaPacked: boxes ${shapeStr(boxes.shape)} ${boxes.dtype} must be an f32 [K, 4] tensor of (x1, y1, x2, y2)`);
  }
  const h = table.shape[0] - 1, w = table.shape[1] - 1;
  const img = { shape: [1, h, w, 3] };
  const [oh, ow] = checkSize('cropAreaPacked', size, img);
  if (!packedCropExact(h, w, size)) throw new Error(`cropAreaPacked: ${oh}x${ow} crops of a ${h}x${w} image can have windows whose sums pass 2^24; use cropAndResize`);
  const norm = fusedNormalize('cropAreaPacked', opts.normalize, 3, img);
  const k = boxes.shape[0];
  const out = Tensor.empty([k, oh, ow, 3]);
  if (out.size > 0) {
    dispatch(kernel('integral.wgsl', 'crop_area'), { table, boxes, out, pixels: k * oh * ow, in_h: h, in_w: w, out_h: oh, out_w: ow, ...norm }, grid1d(k * oh * ow, 64));
  }
  return out;
}

/** Whether cropAreaPacked takes these crops: a clipped crop is at most the image, so its windows are bounded by the image's. */
export function packedCropExact(h: number, w: number, size: Size2): boolean {
  return (Math.ceil(h / size[0]) + 1) * (Math.ceil(w / size[1]) + 1) * 255 < 2 ** 24;
}

/** Whether resizeAreaPacked takes this resize (its window sums stay exact). */
export function packedResizeExact(h: number, w: number, size: Size2): boolean {
  return maxWindowPixels(h, size[0]) * maxWindowPixels(w, size[1]) * 255 < 2 ** 24;
}

/** The longest window of adaptive average pooling from n to m along one axis. */
function maxWindowPixels(n: number, m: number): number {
  return Math.ceil(n / m) + (n % m === 0 ? 0 : 1);
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Uploads RGBA8 bytes (canvas ImageData, pngjs, jpeg-js with formatAsRGBA) as
 * a packed u32 [1, H, W] tensor for `normalizeImage`: the bytes are
 * reinterpreted, not converted.
 */
export function packRgba(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): Tensor {
  if (rgba.length !== width * height * 4) {
    throw new Error(`packRgba: ${rgba.length} bytes are not ${width} x ${height} RGBA pixels (${width * height * 4} bytes)`);
  }
  if (!littleEndian) throw new Error('packRgba: needs a little-endian host (R must land in the low byte)');
  const aligned = rgba.byteOffset % 4 === 0 ? rgba : rgba.slice();
  return Tensor.from(new Uint32Array(aligned.buffer, aligned.byteOffset, width * height), [1, height, width], 'u32');
}
