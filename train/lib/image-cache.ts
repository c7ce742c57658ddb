// Decoded images kept in memory for training: each file is decoded once at
// start-up, cropped, resized to one square size and kept as RGBA8, so a
// training step only copies bytes into a batch (decoding a JPEG costs far
// more than a training step's share of the CPU on a 2-core machine).
//
// Memory: count x size^2 x 4 bytes, e.g. 6136 LFW images at 110x110 = 297 MB.
import { readImage, type RgbaImage } from '../../tools/image.js';

/** A rectangle in source pixels: x, y of the top-left corner, width, height (may be fractional). */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * Turns a decoded image into the face image to cache, or null to skip the
 * file (no face found). The hook for alignment: an MTCNN detection + 5-point
 * alignment (nets/align.ts) goes here; the default is a centre crop, enough
 * for roughly aligned sets such as LFW deep-funneled or ORL.
 */
export type FacePrepare = (img: RgbaImage, path: string) => Promise<RgbaImage | null> | RgbaImage | null;

/** The centred square of `fraction` of the shorter side. */
export function centreSquare(width: number, height: number, fraction: number): Box {
  const side = Math.min(width, height) * fraction;
  return { x: (width - side) / 2, y: (height - side) / 2, w: side, h: side };
}

/** Output taps along one axis: for each output index, source indices and weights. */
function axisTaps(start: number, length: number, srcSize: number, outSize: number): { index: Int32Array; weight: Float32Array; taps: number } {
  const scale = length / outSize;
  // A triangle filter as wide as the output pixel's footprint (never narrower
  // than one source pixel): bilinear when enlarging, antialiased when shrinking.
  const support = Math.max(scale, 1);
  const taps = Math.ceil(support) * 2 + 1;
  const index = new Int32Array(outSize * taps);
  const weight = new Float32Array(outSize * taps);
  for (let o = 0; o < outSize; o++) {
    const centre = start + (o + 0.5) * scale;
    const first = Math.floor(centre - support);
    let sum = 0;
    for (let t = 0; t < taps; t++) {
      const j = first + t;
      const w = Math.max(0, 1 - Math.abs(j + 0.5 - centre) / support);
      index[o * taps + t] = Math.min(srcSize - 1, Math.max(0, j)); // edge pixels repeat outside the image
      weight[o * taps + t] = w;
      sum += w;
    }
    for (let t = 0; t < taps; t++) weight[o * taps + t] /= sum;
  }
  return { index, weight, taps };
}

/**
 * Resamples `box` of an RGBA image to outW x outH RGBA8, written into `out`
 * at byte `offset`. Separable triangle filter; parts of the box outside the
 * image repeat the edge pixels.
 */
export function resampleRgba(src: RgbaImage, box: Box, outW: number, outH: number, out: Uint8Array, offset = 0): void {
  const xs = axisTaps(box.x, box.w, src.width, outW);
  const ys = axisTaps(box.y, box.h, src.height, outH);
  // Only the source rows some output row reads are filtered horizontally.
  const rowLo = ys.index.reduce((a, b) => Math.min(a, b), src.height);
  const rowHi = ys.index.reduce((a, b) => Math.max(a, b), 0);
  const rows = rowHi - rowLo + 1;
  const tmp = new Float32Array(rows * outW * 4);
  const s = src.data;
  for (let r = 0; r < rows; r++) {
    const srcRow = (rowLo + r) * src.width * 4;
    for (let o = 0; o < outW; o++) {
      let a = 0, b = 0, c = 0, d = 0;
      for (let t = 0; t < xs.taps; t++) {
        const w = xs.weight[o * xs.taps + t];
        if (w === 0) continue;
        const p = srcRow + xs.index[o * xs.taps + t] * 4;
        a += w * s[p];
        b += w * s[p + 1];
        c += w * s[p + 2];
        d += w * s[p + 3];
      }
      const q = (r * outW + o) * 4;
      tmp[q] = a;
      tmp[q + 1] = b;
      tmp[q + 2] = c;
      tmp[q + 3] = d;
    }
  }
  for (let o = 0; o < outH; o++) {
    for (let x = 0; x < outW; x++) {
      let a = 0, b = 0, c = 0, d = 0;
      for (let t = 0; t < ys.taps; t++) {
        const w = ys.weight[o * ys.taps + t];
        if (w === 0) continue;
        const q = ((ys.index[o * ys.taps + t] - rowLo) * outW + x) * 4;
        a += w * tmp[q];
        b += w * tmp[q + 1];
        c += w * tmp[q + 2];
        d += w * tmp[q + 3];
      }
      const p = offset + (o * outW + x) * 4;
      out[p] = Math.round(a);
      out[p + 1] = Math.round(b);
      out[p + 2] = Math.round(c);
      out[p + 3] = Math.round(d);
    }
  }
}

export interface ImageCacheOptions {
  /** Side of the cached squares in pixels. */
  size: number;
  /** Centre crop taken from each (prepared) image, as a fraction of its shorter side; default 1. */
  cropFraction?: number;
  /** Per-image preparation before the crop (alignment); default none. */
  prepare?: FacePrepare;
  /** Called after each file with the count done so far. */
  onProgress?: (done: number, total: number) => void;
}

export class ImageCache {
  /** RGBA8 squares, image after image. */
  readonly pixels: Uint8Array;
  readonly count: number;

  private constructor(readonly size: number, pixels: Uint8Array, readonly files: readonly string[], readonly skipped: readonly string[]) {
    this.pixels = pixels;
    this.count = files.length;
  }

  /**
   * Decodes, prepares, crops and resizes every file. Files the `prepare`
   * hook rejects are left out (see `skipped`); `files` lists the ones kept,
   * in order. Undecodable files throw (their name is in the message).
   */
  static async fromFiles(files: readonly string[], opts: ImageCacheOptions): Promise<ImageCache> {
    const { size, cropFraction = 1 } = opts;
    if (!Number.isInteger(size) || size < 1) throw new Error(`ImageCache: size must be a positive integer, got ${size}`);
    if (!(cropFraction > 0 && cropFraction <= 1)) throw new Error(`ImageCache: cropFraction must be in (0, 1], got ${cropFraction}`);
    const bytesPer = size * size * 4;
    const pixels = new Uint8Array(files.length * bytesPer);
    const kept: string[] = [];
    const skipped: string[] = [];
    for (const [i, path] of files.entries()) {
      const decoded = await readImage(path);
      const face = opts.prepare ? await opts.prepare(decoded, path) : decoded;
      if (face) {
        resampleRgba(face, centreSquare(face.width, face.height, cropFraction), size, size, pixels, kept.length * bytesPer);
        kept.push(path);
      } else skipped.push(path);
      opts.onProgress?.(i + 1, files.length);
    }
    return new ImageCache(size, kept.length === files.length ? pixels : pixels.slice(0, kept.length * bytesPer), kept, skipped);
  }

  /** Image i's RGBA bytes (a view, not a copy). */
  image(i: number): Uint8Array {
    const n = this.size * this.size * 4;
    return this.pixels.subarray(i * n, (i + 1) * n);
  }

  /** Images `indices` as packed RGBA words [B * size * size] (R in the low byte), for normalizeImage. */
  packBatch(indices: readonly number[]): Uint32Array {
    const n = this.size * this.size * 4;
    const bytes = new Uint8Array(indices.length * n);
    indices.forEach((idx, k) => {
      if (!(idx >= 0 && idx < this.count)) throw new Error(`ImageCache.packBatch: image ${idx} is outside 0..${this.count - 1}`);
      bytes.set(this.image(idx), k * n);
    });
    return new Uint32Array(bytes.buffer);
  }
}
