import { describe, it, expect } from 'vitest';
import { Tensor } from '../engine/tensor.js';
import { warpAffine, type WarpBorder } from '../engine/ops/warp.js';
import {
  similarityTransform, invertAffine, applyAffine, templatePoints, alignmentTransform, alignFaces,
  ARCFACE_112_POINTS, type Affine2x3, type Point2,
} from '../nets/align.js';

// Deterministic PRNG so a failure reproduces.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomImage(shape: number[], seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r());
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Similarity with scale s, rotation theta (atan2(d, a) convention), translation (tx, ty). */
function similarity(s: number, theta: number, tx: number, ty: number): Affine2x3 {
  const a = s * Math.cos(theta), b = s * Math.sin(theta);
  return [a, -b, tx, b, a, ty];
}

/**
 * cv2.warpAffine(src, M, (ow, oh), flags=INTER_LINEAR | WARP_INVERSE_MAP,
 * borderMode) without OpenCV's 1/32-pixel position quantisation: output pixel
 * (i, j) samples the source at M (j, i), pixel centres on integers, blended in
 * float64 from the four neighbours.
 */
function warpAffineRef(
  data: Float32Array, shape: number[], matrices: Float32Array, imageIndex: Int32Array | null,
  oh: number, ow: number, border: WarpBorder,
): Float32Array {
  const [n, h, w, c] = shape;
  const k = matrices.length / 6;
  const out = new Float32Array(k * oh * ow * c);
  const tap = (b: number, y: number, x: number, ch: number) => {
    if (border === 'replicate') {
      y = Math.min(Math.max(y, 0), h - 1);
      x = Math.min(Math.max(x, 0), w - 1);
    } else if (y < 0 || x < 0 || y >= h || x >= w) return 0;
    return data[((b * h + y) * w + x) * c + ch];
  };
  for (let kk = 0; kk < k; kk++) {
    const b = imageIndex ? imageIndex[kk] : 0;
    const m = matrices.subarray(6 * kk, 6 * kk + 6);
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const at = ((kk * oh + i) * ow + j) * c;
        if (b < 0 || b >= n) continue;
        const sx = m[0] * j + m[1] * i + m[2];
        const sy = m[3] * j + m[4] * i + m[5];
        const x0 = Math.floor(sx), y0 = Math.floor(sy);
        const lx = sx - x0, ly = sy - y0;
        for (let ch = 0; ch < c; ch++) {
          const top = (1 - lx) * tap(b, y0, x0, ch) + lx * tap(b, y0, x0 + 1, ch);
          const bottom = (1 - lx) * tap(b, y0 + 1, x0, ch) + lx * tap(b, y0 + 1, x0 + 1, ch);
          out[at + ch] = (1 - ly) * top + ly * bottom;
        }
      }
    }
  }
  return out;
}

/** Sum of squared residuals of an affine map on point pairs. */
function residual(m: Affine2x3, src: readonly Point2[], dst: readonly Point2[]): number {
  let e = 0;
  src.forEach((p, i) => {
    const [x, y] = applyAffine(m, p);
    e += (x - dst[i][0]) ** 2 + (y - dst[i][1]) ** 2;
  });
  return e;
}

/**
 * The least-squares similarity by brute linear algebra: the 4x4 normal
 * equations of x' = a x - b y + tx, y' = b x + a y + ty in (a, b, tx, ty),
 * solved by Gaussian elimination. Independent of the closed form under test.
 */
function similarityByNormalEquations(src: readonly Point2[], dst: readonly Point2[]): Affine2x3 {
  const A = Array.from({ length: 4 }, () => new Array<number>(5).fill(0));
  const addRow = (row: number[], rhs: number) => {
    for (let r = 0; r < 4; r++) {
      for (let col = 0; col < 4; col++) A[r][col] += row[r] * row[col];
      A[r][4] += row[r] * rhs;
    }
  };
  src.forEach(([x, y], i) => {
    addRow([x, -y, 1, 0], dst[i][0]);
    addRow([y, x, 0, 1], dst[i][1]);
  });
  for (let col = 0; col < 4; col++) {
    let pivot = col;
    for (let r = col + 1; r < 4; r++) if (Math.abs(A[r][col]) > Math.abs(A[pivot][col])) pivot = r;
    [A[col], A[pivot]] = [A[pivot], A[col]];
    for (let r = 0; r < 4; r++) {
      if (r === col) continue;
      const f = A[r][col] / A[col][col];
      for (let cc = col; cc < 5; cc++) A[r][cc] -= f * A[col][cc];
    }
  }
  const [a, b, tx, ty] = A.map((row, r) => row[4] / row[r]);
  return [a, -b, tx, b, a, ty];
}

describe('similarityTransform', () => {
  const r = rng(5);
  const src: Point2[] = Array.from({ length: 5 }, () => [r() * 200 - 50, r() * 150 + 10] as const);

  for (const [s, theta, tx, ty] of [[1.37, 0.6, 12.5, -7.25], [0.42, -2.9, 300, 41], [1, 0, 0, 0], [2.5, Math.PI, -3, 8]]) {
    it(`recovers scale ${s}, rotation ${theta}, translation (${tx}, ${ty}) exactly`, () => {
      const known = similarity(s, theta, tx, ty);
      const dst = src.map((p) => applyAffine(known, p));
      const fit = similarityTransform(src, dst);
      for (let i = 0; i < 6; i++) expect(Math.abs(fit.matrix[i] - known[i])).toBeLessThan(1e-9);
      expect(Math.abs(fit.scale - s)).toBeLessThan(1e-9);
      expect(Math.abs(Math.cos(fit.rotation) - Math.cos(theta)) + Math.abs(Math.sin(fit.rotation) - Math.sin(theta))).toBeLessThan(1e-9);
      const knownInverse = invertAffine(known);
      for (let i = 0; i < 6; i++) expect(Math.abs(fit.inverse[i] - knownInverse[i])).toBeLessThan(1e-9);
      // The inverse takes dst back onto src.
      dst.forEach((q, i) => {
        const p = applyAffine(fit.inverse, q);
        expect(Math.hypot(p[0] - src[i][0], p[1] - src[i][1])).toBeLessThan(1e-9);
      });
    });
  }

  it('is the least-squares fit on noisy points', () => {
    const known = similarity(0.8, 0.3, 20, 30);
    const noise = rng(6);
    const dst = src.map((p) => {
      const [x, y] = applyAffine(known, p);
      return [x + (noise() - 0.5) * 6, y + (noise() - 0.5) * 6] as const;
    });
    const fit = similarityTransform(src, dst);
    const brute = similarityByNormalEquations(src, dst);
    for (let i = 0; i < 6; i++) expect(Math.abs(fit.matrix[i] - brute[i])).toBeLessThan(1e-9);
    // A minimum: any small change of the four parameters costs residual.
    const best = residual(fit.matrix, src, dst);
    expect(best).toBeGreaterThan(1);
    for (const [da, db, dtx, dty] of [[1e-4, 0, 0, 0], [0, 1e-4, 0, 0], [0, 0, 1e-3, 0], [0, 0, 0, 1e-3]]) {
      for (const sign of [1, -1]) {
        const [a, mb, tx, b, , ty] = fit.matrix;
        const moved: Affine2x3 = [a + sign * da, mb - sign * db, tx + sign * dtx, b + sign * db, a + sign * da, ty + sign * dty];
        expect(residual(moved, src, dst)).toBeGreaterThan(best);
      }
    }
  });

  it('never reflects: a mirrored point set gives a rotation, not a flip', () => {
    const mirrored = src.map(([x, y]) => [-x, y] as const);
    const { matrix } = similarityTransform(src, mirrored);
    expect(matrix[0] * matrix[4] - matrix[1] * matrix[3]).toBeGreaterThanOrEqual(0);
    expect(matrix[0]).toBe(matrix[4]);
    expect(matrix[1]).toBe(-matrix[3]);
  });

  it('names the op in its errors', () => {
    expect(() => similarityTransform(src, src.slice(1))).toThrow(/similarityTransform: needs two lists of the same number \(>= 2\) of points, got 5 src and 4 dst/);
    expect(() => similarityTransform([[1, 1], [1, 1]], [[0, 0], [1, 1]])).toThrow(/similarityTransform: the 2 src points all coincide/);
    expect(() => similarityTransform([[0, 0], [1, 1]], [[2, 2], [2, 2]])).toThrow(/similarityTransform: the best fit collapses/);
    expect(() => similarityTransform([[0, NaN], [1, 1]], [[0, 0], [1, 1]])).toThrow(/similarityTransform: src\[0\] = \[0, NaN\] is not a finite/);
  });
});

describe('warpAffine', () => {
  it('identity reproduces the image exactly', async () => {
    const shape = [1, 9, 13, 3];
    const data = randomImage(shape, 1);
    const img = Tensor.from(data, shape);
    const m = Tensor.from([1, 0, 0, 0, 1, 0], [1, 6]);
    const out = warpAffine(img, m, null, [9, 13]);
    expect(out.shape).toEqual([1, 9, 13, 3]);
    expect(Array.from(await out.data())).toEqual(Array.from(data));
    for (const t of [img, m, out]) t.dispose();
  });

  it('uses integer pixel centres (OpenCV), not half-pixel ones', async () => {
    // 2x2 single-channel image; upsample x2 with the inverse map (x, y) -> (x/2, y/2).
    const img = Tensor.from([0, 4, 8, 12], [1, 2, 2, 1]);
    const m = Tensor.from([0.5, 0, 0, 0, 0.5, 0], [1, 6]);
    const out = warpAffine(img, m, null, [4, 4], { border: 'replicate' });
    // Output (i, j) reads source (j/2, i/2): row 0 is 0, 2, 4, 4 (clamped),
    // row 1 is 4, 6, 8, 8. A half-pixel convention would give 0, 1, 3, 4.
    expect(Array.from(await out.data())).toEqual([0, 2, 4, 4, 4, 6, 8, 8, 8, 10, 12, 12, 8, 10, 12, 12]);
    const shifted = Tensor.from([1, 0, 0.5, 0, 1, 0], [1, 6]);
    const half = warpAffine(img, shifted, null, [2, 2]);
    // Half a pixel right: the mean of a pixel and its right neighbour; past
    // the right edge the zero border contributes half.
    expect(Array.from(await half.data())).toEqual([2, 2, 10, 6]);
    for (const t of [img, m, out, shifted, half]) t.dispose();
  });

  const shape = [2, 31, 41, 3];
  const rot30 = (s: number, cx: number, cy: number, ox: number, oy: number): Affine2x3 => {
    // Output pixel -> source: rotate by 30 degrees and scale by s about the
    // output point (ox, oy), landing on the source point (cx, cy).
    const [a, b, , d, e] = similarity(s, Math.PI / 6, 0, 0);
    return [a, b, cx - (a * ox + b * oy), d, e, cy - (d * ox + e * oy)];
  };
  const cases: { name: string; matrices: Affine2x3[]; index: number[] | null; size: [number, number] }[] = [
    { name: 'integer translation', matrices: [[1, 0, 3, 0, 1, -2]], index: null, size: [31, 41] },
    { name: 'fractional translation', matrices: [[1, 0, 3.25, 0, 1, -2.625], [1, 0, -1.5, 0, 1, 0.75]], index: [1, 0], size: [20, 25] },
    { name: 'rotation by 30 degrees with scale', matrices: [rot30(0.8, 20, 15, 12, 10), rot30(1.7, 15, 20, 12, 10)], index: [0, 1], size: [21, 25] },
    { name: 'a warp mostly outside, and an out-of-range image index', matrices: [rot30(1.3, 40, 0, 0, 0), rot30(1, 20, 15, 10, 10)], index: [1, 2], size: [16, 16] },
  ];
  for (const { name, matrices, index, size } of cases) {
    for (const border of ['zero', 'replicate'] as const) {
      for (const channels of [3, 5]) {
        it(`matches the CPU reference: ${name}, border ${border}, ${channels} channels`, async () => {
          const s = [shape[0], shape[1], shape[2], channels];
          const data = randomImage(s, 7 + channels);
          const img = Tensor.from(data, s);
          const flat = Float32Array.from(matrices.flat());
          const m = Tensor.from(flat, [matrices.length, 6]);
          const idx = index ? Tensor.from(index, [index.length], 'i32') : null;
          const out = warpAffine(img, m, idx, size, { border });
          expect(out.shape).toEqual([matrices.length, size[0], size[1], channels]);
          const got = await out.data();
          const want = warpAffineRef(data, s, flat, index ? Int32Array.from(index) : null, size[0], size[1], border);
          // Source positions are computed in f32 on the GPU (maybe fused),
          // float64 here: ~1e-5 pixel at these coordinates; values in [0, 1).
          expect(maxAbsDiff(got, want)).toBeLessThan(1e-4);
          if (name === 'integer translation') expect(maxAbsDiff(got, want)).toBe(0);
          for (const t of [img, m, idx, out]) t?.dispose();
        });
      }
    }
  }

  it('zero and replicate borders differ only where taps leave the image', async () => {
    const s = [1, 10, 12, 2];
    const data = randomImage(s, 3);
    const img = Tensor.from(data, s);
    // Output 10x16 shifted 3 pixels left of the source: columns 0..2 read
    // x = -3..-1 (outside), column 3 reads x = 0, columns 3..14 are inside.
    const m = Tensor.from([1, 0, -3, 0, 1, 0], [1, 6]);
    const zeroOut = warpAffine(img, m, null, [10, 16], { border: 'zero' });
    const replicateOut = warpAffine(img, m, null, [10, 16], { border: 'replicate' });
    const zero = await zeroOut.data();
    const replicate = await replicateOut.data();
    for (let i = 0; i < 10; i++) {
      for (let j = 0; j < 16; j++) {
        for (let c = 0; c < 2; c++) {
          const at = (i * 16 + j) * 2 + c;
          const x = Math.min(Math.max(j - 3, 0), 11);
          expect(replicate[at]).toBe(data[(i * 12 + x) * 2 + c]);
          expect(zero[at]).toBe(j < 3 || j > 14 ? 0 : data[(i * 12 + j - 3) * 2 + c]);
        }
      }
    }
    // Far outside: nothing with 'zero', the corner pixel with 'replicate'.
    const far = Tensor.from([1, 0, 1e6, 0, 1, -1e6], [1, 6]);
    const farZero = warpAffine(img, far, null, [1, 1]);
    const farReplicate = warpAffine(img, far, null, [1, 1], { border: 'replicate' });
    expect(Array.from(await farZero.data())).toEqual([0, 0]);
    expect(Array.from(await farReplicate.data())).toEqual([data[11 * 2], data[11 * 2 + 1]]);
    for (const t of [img, m, zeroOut, replicateOut, far, farZero, farReplicate]) t.dispose();
  });

  it('gives an empty batch for no matrices', () => {
    const img = Tensor.empty([1, 4, 4, 3]);
    const m = Tensor.from([], [0, 6]);
    const out = warpAffine(img, m, null, [8, 8]);
    expect(out.shape).toEqual([0, 8, 8, 3]);
    for (const t of [img, m, out]) t.dispose();
  });

  it('names the op and shapes in its errors, before dispatching', () => {
    const img = Tensor.empty([1, 8, 8, 3]);
    const m = Tensor.empty([2, 6]);
    expect(() => warpAffine(Tensor.empty([8, 8, 3]), m, null, [4, 4])).toThrow(/warpAffine: image \[8, 8, 3\] f32 must be an f32 NHWC/);
    expect(() => warpAffine(img, Tensor.empty([2, 4]), null, [4, 4])).toThrow(/warpAffine: matrices \[2, 4\] f32 must be an f32 \[K, 6\]/);
    expect(() => warpAffine(img, m, Tensor.empty([3], 'i32'), [4, 4])).toThrow(/warpAffine: imageIndex \[3\] i32 must be i32 \[2\] to match matrices \[2, 6\]/);
    expect(() => warpAffine(img, m, Tensor.empty([2]), [4, 4])).toThrow(/warpAffine: imageIndex \[2\] f32 must be i32 \[2\]/);
    expect(() => warpAffine(img, m, null, [0, 4])).toThrow(/warpAffine: output size \[0, 4\] for image \[1, 8, 8, 3\]/);
    expect(() => warpAffine(img, m, null, [4, 4], { border: 'wrap' as WarpBorder })).toThrow(/warpAffine: border "wrap"/);
  });
});

describe('templates', () => {
  it("'arcface112' at its defaults is the standard five points", () => {
    expect(templatePoints({ template: 'arcface112' })).toEqual(ARCFACE_112_POINTS);
    expect(ARCFACE_112_POINTS[0]).toEqual([38.2946, 51.6963]);
    expect(ARCFACE_112_POINTS[4]).toEqual([70.7299, 92.2041]);
  });

  it("'facenet160' is the arcface square scaled by pixel edges to fill size - margin, centred", () => {
    for (const [size, margin] of [[160, 0], [160, 32], [182, 22]]) {
      const pts = templatePoints({ size, margin });
      pts.forEach(([x, y], i) => {
        const [ax, ay] = ARCFACE_112_POINTS[i];
        expect(x).toBeCloseTo(margin / 2 + ((ax + 0.5) * (size - margin)) / 112 - 0.5, 12);
        expect(y).toBeCloseTo(margin / 2 + ((ay + 0.5) * (size - margin)) / 112 - 0.5, 12);
      });
    }
    // The default is facenet160 at 160 pixels, no margin.
    expect(templatePoints()).toEqual(templatePoints({ template: 'facenet160', size: 160, margin: 0 }));
  });

  it('names the op in its errors', () => {
    expect(() => templatePoints({ template: 'vgg' as 'arcface112' })).toThrow(/templatePoints: template "vgg"/);
    expect(() => templatePoints({ size: 0 })).toThrow(/templatePoints: size 0 must be a positive integer/);
    expect(() => templatePoints({ size: 160, margin: 160 })).toThrow(/templatePoints: margin 160 must be >= 0 and less than size 160/);
  });
});

describe('alignFaces', () => {
  const height = 240, width = 320, sigma = 2;

  /** An image of bright Gaussian dots (sigma 2 px, peak 255 in every channel) at the given points; integer pixel centres. */
  function dotsImage(points: readonly Point2[]): Float32Array {
    const img = new Float32Array(height * width * 3);
    for (let i = 0; i < height; i++) {
      for (let j = 0; j < width; j++) {
        let v = 0;
        for (const [x, y] of points) v += 255 * Math.exp(-((j - x) ** 2 + (i - y) ** 2) / (2 * sigma * sigma));
        img.fill(v, (i * width + j) * 3, (i * width + j) * 3 + 3);
      }
    }
    return img;
  }

  /**
   * Sub-pixel position of the dot nearest `near` in channel 0 of crop k: the
   * brightest pixel within 6 px, refined to the centroid of the pixels within
   * 3.5 dot widths of it. A bilinear warp is a tent-filtered resampling, which
   * keeps a dot's centroid; its peak shape it does not keep (magnified dots
   * turn piecewise linear), so peak fits are biased and the centroid is not.
   */
  function findDot(crop: Float32Array, k: number, size: number, near: Point2, dotSigma: number): [number, number] {
    const at = (i: number, j: number) => (i < 0 || j < 0 || i >= size || j >= size ? 0 : crop[((k * size + i) * size + j) * 3]);
    let bi = 0, bj = 0, best = -1;
    for (let i = Math.round(near[1]) - 6; i <= Math.round(near[1]) + 6; i++) {
      for (let j = Math.round(near[0]) - 6; j <= Math.round(near[0]) + 6; j++) {
        if (at(i, j) > best) [best, bi, bj] = [at(i, j), i, j];
      }
    }
    expect(best).toBeGreaterThan(100);
    const radius = Math.ceil(3.5 * dotSigma);
    let sw = 0, sx = 0, sy = 0;
    for (let i = bi - radius; i <= bi + radius; i++) {
      for (let j = bj - radius; j <= bj + radius; j++) {
        sw += at(i, j);
        sx += at(i, j) * j;
        sy += at(i, j) * i;
      }
    }
    return [sx / sw, sy / sw];
  }

  // Two faces in one photo: template -> image similarity of each (scale,
  // rotation, where the template origin lands).
  const faceTransforms = [similarity(1.6, 0.45, 70, -20), similarity(0.9, -0.3, 180, 120)];
  const faces = faceTransforms.map((t) => ({ landmarks: ARCFACE_112_POINTS.map((p) => applyAffine(t, p)) }));

  for (const opts of [{ template: 'facenet160' as const }, { template: 'facenet160' as const, margin: 32 }, { template: 'arcface112' as const }, { template: 'arcface112' as const, size: 224 }]) {
    it(`puts the five landmarks on the template positions: ${JSON.stringify(opts)}`, async () => {
      for (const f of faces) for (const [x, y] of f.landmarks) expect(x > 10 && y > 10 && x < width - 10 && y < height - 10).toBe(true);
      const data = dotsImage(faces.flatMap((f) => f.landmarks));
      const img = Tensor.from(data, [1, height, width, 3]);
      const crops = alignFaces(img, faces, opts);
      const size = opts.size ?? (opts.template === 'arcface112' ? 112 : 160);
      expect(crops.shape).toEqual([2, size, size, 3]);
      const got = (await crops.data()) as Float32Array;
      const template = templatePoints(opts);
      for (let k = 0; k < faces.length; k++) {
        template.forEach((p) => {
          const [x, y] = findDot(got, k, size, p, sigma * alignmentTransform(faces[k].landmarks, opts).scale);
          // The task asks for 1 px; the estimate is good to ~0.005 px, so hold
          // it to 0.05 px, tight enough to catch a half-pixel convention slip.
          expect(Math.hypot(x - p[0], y - p[1])).toBeLessThan(0.05);
        });
      }
      img.dispose();
      crops.dispose();
    });
  }

  it('fits landmarks -> template (crop-space least squares), and the warp uses its inverse', () => {
    const noise = rng(9);
    const landmarks = faces[0].landmarks.map(([x, y]) => [x + (noise() - 0.5) * 4, y + (noise() - 0.5) * 4] as const);
    const fit = alignmentTransform(landmarks, { template: 'arcface112' });
    const direct = similarityTransform(landmarks, ARCFACE_112_POINTS);
    for (let i = 0; i < 6; i++) expect(fit.matrix[i]).toBeCloseTo(direct.matrix[i], 12);
    // With noise the direction matters: the other fit, inverted, is a different crop.
    const reverse = similarityTransform(ARCFACE_112_POINTS, landmarks).inverse;
    expect(Math.max(...fit.matrix.map((v, i) => Math.abs(v - reverse[i])))).toBeGreaterThan(1e-4);
    // Exact landmarks: the crop -> image map is the face's own transform.
    const exact = alignmentTransform(faces[1].landmarks, { template: 'arcface112' });
    for (let i = 0; i < 6; i++) expect(Math.abs(exact.inverse[i] - faceTransforms[1][i])).toBeLessThan(1e-9);
  });

  it('returns an empty batch for no faces', () => {
    const img = Tensor.empty([1, 20, 20, 3]);
    expect(alignFaces(img, []).shape).toEqual([0, 160, 160, 3]);
    expect(alignFaces(img, [], { template: 'arcface112' }).shape).toEqual([0, 112, 112, 3]);
    img.dispose();
  });

  it('names the op and shapes in its errors', () => {
    const img = Tensor.empty([1, 20, 20, 3]);
    expect(() => alignFaces(Tensor.empty([2, 20, 20, 3]), faces)).toThrow(/alignFaces: image \[2, 20, 20, 3\] f32 must be one f32 NHWC image \[1, H, W, C\]/);
    expect(() => alignFaces(img, [{ landmarks: faces[0].landmarks.slice(0, 4) }])).toThrow(/alignFaces: face 0 has 4 landmarks; alignment needs 5/);
    const collapsed = { landmarks: ARCFACE_112_POINTS.map(() => [5, 5] as const) };
    expect(() => alignFaces(img, [faces[0], collapsed])).toThrow(/alignFaces: face 1: similarityTransform: the 5 src points all coincide/);
    expect(() => alignFaces(img, faces, { margin: -1 })).toThrow(/alignFaces: margin -1 must be >= 0/);
    img.dispose();
  });
});
