// CPU references for the box and image kernels (tests and benchmarks only).
//
// The box overlap and the area average are evaluated in float32, one rounding
// per operation in the same order as the PyTorch / numpy code they reproduce
// (`Math.fround` after each step), so the GPU results can be compared exactly.

const f = Math.fround;

export type OverlapMode = 'union' | 'min';

/** Overlap of boxes a and b ([x1, y1, x2, y2]) as torchvision (plusOne = false) or facenet-pytorch's numpy nms (plusOne = true) computes it. */
export function overlapRef(a: ArrayLike<number>, b: ArrayLike<number>, mode: OverlapMode, plusOne: boolean): number {
  const p = plusOne ? 1 : 0;
  const w = Math.max(0, f(f(Math.min(a[2], b[2]) - Math.max(a[0], b[0])) + p));
  const h = Math.max(0, f(f(Math.min(a[3], b[3]) - Math.max(a[1], b[1])) + p));
  const inter = f(w * h);
  const areaA = f(f(f(a[2] - a[0]) + p) * f(f(a[3] - a[1]) + p));
  const areaB = f(f(f(b[2] - b[0]) + p) * f(f(b[3] - b[1]) + p));
  const denom = mode === 'min' ? Math.min(areaA, areaB) : f(f(areaA + areaB) - inter);
  // torch gives NaN for 0/0; NaN never passes a threshold, and the GPU op returns 0.
  return denom === 0 ? 0 : f(inter / denom);
}

export function iouMatrixRef(a: Float32Array, b: Float32Array, mode: OverlapMode, plusOne: boolean): Float32Array {
  const k = a.length / 4, m = b.length / 4;
  const out = new Float32Array(k * m);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < m; j++) out[i * m + j] = overlapRef(a.subarray(4 * i, 4 * i + 4), b.subarray(4 * j, 4 * j + 4), mode, plusOne);
  }
  return out;
}

/**
 * Sequential NMS (torchvision's CPU loop): visit boxes by descending score,
 * ties by ascending index; keep a box unless a kept box of its group overlaps
 * it by more than `threshold`. Returns kept indices in visiting order.
 */
export function nmsRef(
  boxes: Float32Array,
  scores: Float32Array,
  threshold: number,
  mode: OverlapMode = 'union',
  opts: { plusOne?: boolean; groups?: Int32Array; maxOutput?: number } = {},
): number[] {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => scores[j] - scores[i] || i - j);
  const suppressed = new Uint8Array(n);
  const keep: number[] = [];
  const max = opts.maxOutput ?? n;
  for (let oi = 0; oi < n && keep.length < max; oi++) {
    const i = order[oi];
    if (suppressed[i]) continue;
    keep.push(i);
    const bi = boxes.subarray(4 * i, 4 * i + 4);
    for (let oj = oi + 1; oj < n; oj++) {
      const j = order[oj];
      if (suppressed[j] || (opts.groups && opts.groups[i] !== opts.groups[j])) continue;
      if (overlapRef(bi, boxes.subarray(4 * j, 4 * j + 4), mode, !!opts.plusOne) > threshold) suppressed[j] = 1;
    }
  }
  return keep;
}

/** One output cell of PyTorch's adaptive_avg_pool2d over rows [y0, y1) and cols [x0, x1): row-major f32 sum, then / kh / kw. */
function windowMean(read: (y: number, x: number) => number, y0: number, y1: number, x0: number, x1: number): number {
  let s = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) s = f(s + read(y, x));
  return f(f(s / (y1 - y0)) / (x1 - x0));
}

const startIndex = (i: number, inSize: number, outSize: number) => Math.floor((i * inSize) / outSize);
const endIndex = (i: number, inSize: number, outSize: number) => Math.ceil(((i + 1) * inSize) / outSize);

/** F.interpolate(mode='area') on an NHWC image. */
export function resizeAreaRef(img: Float32Array, [n, h, w, c]: number[], oh: number, ow: number): Float32Array {
  const out = new Float32Array(n * oh * ow * c);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let ch = 0; ch < c; ch++) {
          out[((b * oh + i) * ow + j) * c + ch] = windowMean(
            (y, x) => img[((b * h + y) * w + x) * c + ch],
            startIndex(i, h, oh), endIndex(i, h, oh), startIndex(j, w, ow), endIndex(j, w, ow),
          );
        }
      }
    }
  }
  return out;
}

/** Source taps and upper weight of PyTorch's linear upsampling along one axis; the source position in float32 as PyTorch computes it. */
function linearTaps(dst: number, inSize: number, outSize: number, alignCorners: boolean): [number, number, number] {
  let src: number;
  if (alignCorners) src = outSize > 1 ? f(f((inSize - 1) / (outSize - 1)) * dst) : 0;
  else src = Math.max(f(f(f(inSize / outSize) * f(dst + 0.5)) - 0.5), 0);
  const i0 = Math.floor(src);
  const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
  return [i0, i1, f(src - i0)];
}

/** F.interpolate(mode='bilinear') on an NHWC image. */
export function resizeBilinearRef(img: Float32Array, [n, h, w, c]: number[], oh: number, ow: number, alignCorners = false): Float32Array {
  const out = new Float32Array(n * oh * ow * c);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      const [y0, y1, ly] = linearTaps(i, h, oh, alignCorners);
      for (let j = 0; j < ow; j++) {
        const [x0, x1, lx] = linearTaps(j, w, ow, alignCorners);
        for (let ch = 0; ch < c; ch++) {
          const p = (y: number, x: number) => img[((b * h + y) * w + x) * c + ch];
          out[((b * oh + i) * ow + j) * c + ch] = (1 - ly) * ((1 - lx) * p(y0, x0) + lx * p(y0, x1)) + ly * ((1 - lx) * p(y1, x0) + lx * p(y1, x1));
        }
      }
    }
  }
  return out;
}

/**
 * facenet-pytorch's R-Net/O-Net input crop, literally: trunc the box to ints,
 * x = max(x, 1), y = max(y, 1), ex = min(ex, W), ey = min(ey, H), slice
 * img[y-1:ey, x-1:ex] and area-resize it. With outside = 'zero' the box is not
 * clipped and pixels outside the image read as 0 (the original MTCNN's padded
 * crop). Empty crops give zeros.
 */
export function cropAreaRef(
  img: Float32Array,
  [n, h, w, c]: number[],
  boxes: Float32Array,
  imageIndex: Int32Array | null,
  oh: number,
  ow: number,
  outside: 'clip' | 'zero' = 'clip',
): Float32Array {
  const k = boxes.length / 4;
  const out = new Float32Array(k * oh * ow * c);
  for (let q = 0; q < k; q++) {
    const b = imageIndex ? imageIndex[q] : 0;
    if (b < 0 || b >= n) continue;
    let x = Math.trunc(boxes[4 * q]), y = Math.trunc(boxes[4 * q + 1]);
    let ex = Math.trunc(boxes[4 * q + 2]), ey = Math.trunc(boxes[4 * q + 3]);
    if (outside === 'clip') {
      x = Math.max(x, 1);
      y = Math.max(y, 1);
      ex = Math.min(ex, w);
      ey = Math.min(ey, h);
    }
    if (ey <= y - 1 || ex <= x - 1) continue;
    const ch0 = ey - (y - 1), cw0 = ex - (x - 1);
    const read = (ch: number) => (yy: number, xx: number) => {
      const sy = y - 1 + yy, sx = x - 1 + xx;
      return sy < 0 || sy >= h || sx < 0 || sx >= w ? 0 : img[((b * h + sy) * w + sx) * c + ch];
    };
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let ch = 0; ch < c; ch++) {
          out[((q * oh + i) * ow + j) * c + ch] = windowMean(read(ch), startIndex(i, ch0, oh), endIndex(i, ch0, oh), startIndex(j, cw0, ow), endIndex(j, cw0, ow));
        }
      }
    }
  }
  return out;
}

/**
 * Bilinear crop of a continuous box (pixel-edge coordinates: pixel x covers
 * [x, x+1)): output cell centres are spread evenly over the box and sampled
 * with two taps per axis; taps outside the image read 0 ('zero') or the
 * nearest edge pixel ('clip').
 */
export function cropBilinearRef(
  img: Float32Array,
  [n, h, w, c]: number[],
  boxes: Float32Array,
  imageIndex: Int32Array | null,
  oh: number,
  ow: number,
  outside: 'clip' | 'zero' = 'zero',
): Float32Array {
  const k = boxes.length / 4;
  const out = new Float32Array(k * oh * ow * c);
  for (let q = 0; q < k; q++) {
    const b = imageIndex ? imageIndex[q] : 0;
    if (b < 0 || b >= n) continue;
    const [x1, y1, x2, y2] = boxes.subarray(4 * q, 4 * q + 4);
    for (let i = 0; i < oh; i++) {
      // The sample position in float32, in the kernel's operation order.
      const sy = f(f(y1 + f(f(f(i + 0.5) * f(y2 - y1)) / oh)) - 0.5);
      const y0 = Math.floor(sy), ly = f(sy - y0);
      for (let j = 0; j < ow; j++) {
        const sx = f(f(x1 + f(f(f(j + 0.5) * f(x2 - x1)) / ow)) - 0.5);
        const x0 = Math.floor(sx), lx = f(sx - x0);
        for (let ch = 0; ch < c; ch++) {
          const p = (yy: number, xx: number) => {
            if (outside === 'clip') {
              yy = Math.min(Math.max(yy, 0), h - 1);
              xx = Math.min(Math.max(xx, 0), w - 1);
            } else if (yy < 0 || yy >= h || xx < 0 || xx >= w) return 0;
            return img[((b * h + yy) * w + xx) * c + ch];
          };
          out[((q * oh + i) * ow + j) * c + ch] = (1 - ly) * ((1 - lx) * p(y0, x0) + lx * p(y0, x0 + 1)) + ly * ((1 - lx) * p(y0 + 1, x0) + lx * p(y0 + 1, x0 + 1));
        }
      }
    }
  }
  return out;
}

/** RGBA8 bytes -> float RGB, (v - mean[c]) * scale[c] per channel, in float32. */
export function normalizeRgbaRef(rgba: Uint8Array, mean: number[], scale: number[]): Float32Array {
  const px = rgba.length / 4;
  const out = new Float32Array(px * 3);
  for (let i = 0; i < px; i++) {
    for (let ch = 0; ch < 3; ch++) out[i * 3 + ch] = f(f(rgba[i * 4 + ch] - f(mean[ch])) * f(scale[ch]));
  }
  return out;
}
