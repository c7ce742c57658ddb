import { describe, it, expect } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { PNG } from 'pngjs';
import { Tensor } from '../engine/tensor.js';
import { iouMatrix, nms, batchedNms, readKept, type OverlapMode } from '../engine/ops/boxes.js';
import { resizeArea, resizeBilinear, cropAndResize, normalizeImage, packRgba, integralImage, resizeAreaPacked, packedResizeExact, cropAreaPacked, packedCropExact } from '../engine/ops/image.js';
import { iouMatrixRef, nmsRef, resizeAreaRef, resizeBilinearRef, cropAreaRef, cropBilinearRef, normalizeRgbaRef } from './reference/image_boxes.js';

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

/** Boxes in a few tight clusters (heavy overlap) plus scattered ones; scores quantised so many tie. */
function clusteredBoxes(k: number, seed: number): { boxes: Float32Array; scores: Float32Array } {
  const r = rng(seed);
  const centres = Array.from({ length: Math.max(1, Math.floor(k / 12)) }, () => [r() * 500, r() * 500, 20 + r() * 60]);
  const boxes = new Float32Array(4 * k);
  const scores = new Float32Array(k);
  for (let i = 0; i < k; i++) {
    let cx: number, cy: number, s: number;
    if (r() < 0.8) {
      const [x, y, size] = centres[Math.floor(r() * centres.length)];
      cx = x + (r() - 0.5) * size * 0.4;
      cy = y + (r() - 0.5) * size * 0.4;
      s = size * (0.8 + 0.4 * r());
    } else {
      cx = r() * 500;
      cy = r() * 500;
      s = 5 + r() * 80;
    }
    boxes.set([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2], 4 * i);
    scores[i] = Math.round(r() * 20) / 20;
  }
  return { boxes, scores };
}

/** P-Net-like candidates: 12-pixel cells on a stride-2 grid, integer coordinates, so many overlaps sit exactly on 0.5. */
function gridBoxes(k: number, seed: number): { boxes: Float32Array; scores: Float32Array } {
  const r = rng(seed);
  const boxes = new Float32Array(4 * k);
  const scores = new Float32Array(k);
  for (let i = 0; i < k; i++) {
    const x = 2 * Math.floor(r() * 40), y = 2 * Math.floor(r() * 40);
    boxes.set([x, y, x + 12, y + 12], 4 * i);
    scores[i] = 0.6 + Math.floor(r() * 8) / 20;
  }
  return { boxes, scores };
}

async function gpuNms(boxes: Float32Array, scores: Float32Array, thr: number, mode: OverlapMode, opts: Parameters<typeof nms>[4] = {}, groups?: Int32Array) {
  const b = Tensor.from(boxes, [scores.length, 4]);
  const s = Tensor.from(scores, [scores.length]);
  const g = groups ? Tensor.from(groups, [groups.length], 'i32') : null;
  const res = g ? batchedNms(b, s, g, thr, mode, opts) : nms(b, s, thr, mode, opts);
  const kept = Array.from(await readKept(res));
  const count = await res.count.item();
  for (const t of [b, s, g, res.indices, res.count]) t?.dispose();
  return { kept, count };
}

describe('iouMatrix', () => {
  for (const [mode, plusOne] of [['union', false], ['union', true], ['min', false], ['min', true]] as const) {
    it(`matches the float32 reference, mode ${mode}, plusOne ${plusOne}`, async () => {
      const { boxes } = clusteredBoxes(37, 1);
      // b shares boxes with a, so large overlaps occur.
      const b2 = boxes.slice(4 * 10, 4 * 33);
      // An empty box pair (0/0) and a degenerate line box.
      boxes.set([10, 10, 10, 10], 0);
      b2.set([10, 10, 10, 10], 0);
      b2.set([5, 5, 5, 40], 4);
      const a = Tensor.from(boxes, [37, 4]);
      const b = Tensor.from(b2, [23, 4]);
      const iou = iouMatrix(a, b, mode, { plusOne });
      expect(iou.shape).toEqual([37, 23]);
      const got = await iou.data();
      const want = iouMatrixRef(boxes, b2, mode, plusOne);
      // Same float32 operations in the same order: exact.
      expect(Array.from(got)).toEqual(Array.from(want));
      expect(want.some((v) => v > 0.3)).toBe(true);
      for (const t of [a, b, iou]) t.dispose();
    });
  }

  it('names the op and shapes in its errors, before dispatching', () => {
    const a = Tensor.empty([3, 4]);
    const bad = Tensor.empty([3, 5]);
    expect(() => iouMatrix(a, bad)).toThrow(/iouMatrix: b \[3, 5\] f32 must be an f32 \[K, 4\]/);
    expect(() => iouMatrix(a, a, 'max' as OverlapMode)).toThrow(/iouMatrix: mode "max"/);
    a.dispose();
    bad.dispose();
  });
});

describe('nms', () => {
  for (const k of [5, 37, 300, 5000]) {
    for (const thr of [0.3, 0.5, 0.7]) {
      it(`keeps exactly the sequential NMS set, K=${k}, threshold ${thr}`, async () => {
        const { boxes, scores } = clusteredBoxes(k, k * 7 + Math.round(thr * 10));
        const want = nmsRef(boxes, scores, thr, 'union');
        const got = await gpuNms(boxes, scores, thr, 'union');
        expect(got.kept).toEqual(want);
        expect(got.count).toBe(want.length);
        // The case must suppress something, or it proves nothing.
        if (k > 5) expect(want.length).toBeLessThan(k);
      });
    }
  }

  it('matches numpy "Min" NMS with +1 areas (the final MTCNN stage)', async () => {
    const { boxes, scores } = clusteredBoxes(300, 99);
    const want = nmsRef(boxes, scores, 0.7, 'min', { plusOne: true });
    const got = await gpuNms(boxes, scores, 0.7, 'min', { plusOne: true });
    expect(got.kept).toEqual(want);
    expect(want).not.toEqual(nmsRef(boxes, scores, 0.7, 'union'));
  });

  it('treats an overlap exactly at the threshold as not suppressing (> not >=)', async () => {
    const { boxes, scores } = gridBoxes(400, 5);
    const want = nmsRef(boxes, scores, 0.5, 'union');
    const got = await gpuNms(boxes, scores, 0.5, 'union');
    expect(got.kept).toEqual(want);
    // 12x12 boxes shifted by 4: IoU is exactly 0.5, and such pairs exist here.
    const exact = iouMatrixRef(boxes, boxes, 'union', false).filter((v) => v === 0.5).length;
    expect(exact).toBeGreaterThan(0);
  });

  it('orders equal scores by index and matches across chunk boundaries', async () => {
    const { boxes, scores } = clusteredBoxes(300, 3);
    scores.fill(0.5);
    for (const chunk of [32, 64, 96]) {
      for (const thr of [0.3, 0.7]) {
        const want = nmsRef(boxes, scores, thr, 'union');
        expect((await gpuNms(boxes, scores, thr, 'union', { chunk })).kept).toEqual(want);
      }
    }
    const { boxes: b2, scores: s2 } = clusteredBoxes(1000, 4);
    expect((await gpuNms(b2, s2, 0.5, 'union', { chunk: 128 })).kept).toEqual(nmsRef(b2, s2, 0.5, 'union'));
  });

  it('stops at maxOutput', async () => {
    const { boxes, scores } = clusteredBoxes(300, 8);
    const want = nmsRef(boxes, scores, 0.5, 'union', { maxOutput: 10 });
    expect(want.length).toBe(10);
    for (const chunk of [32, 2048]) {
      const got = await gpuNms(boxes, scores, 0.5, 'union', { maxOutput: 10, chunk });
      expect(got.kept).toEqual(want);
      expect(got.count).toBe(10);
    }
    expect((await gpuNms(boxes, scores, 0.5, 'union', { maxOutput: 0 })).count).toBe(0);
  });

  it('batchedNms never suppresses across groups', async () => {
    const { boxes, scores } = clusteredBoxes(600, 11);
    const r = rng(12);
    const groups = Int32Array.from({ length: 600 }, () => Math.floor(r() * 3));
    for (const chunk of [64, 2048]) {
      const want = nmsRef(boxes, scores, 0.5, 'union', { groups });
      const got = await gpuNms(boxes, scores, 0.5, 'union', { chunk }, groups);
      expect(got.kept).toEqual(want);
      expect(want.length).toBeGreaterThan(nmsRef(boxes, scores, 0.5, 'union').length);
    }
  });

  it('handles no boxes and one box', async () => {
    expect(await gpuNms(new Float32Array(0), new Float32Array(0), 0.5, 'union')).toEqual({ kept: [], count: 0 });
    expect(await gpuNms(new Float32Array([0, 0, 1, 1]), new Float32Array([0.3]), 0.5, 'union')).toEqual({ kept: [0], count: 1 });
  });

  it('names the op and shapes in its errors, before dispatching', () => {
    const b = Tensor.empty([5, 4]);
    const s = Tensor.empty([4]);
    const g = Tensor.empty([5]);
    expect(() => nms(b, s, 0.5)).toThrow(/nms: scores \[4\] f32 must be f32 \[5\] to match boxes \[5, 4\]/);
    expect(() => batchedNms(b, g, g, 0.5)).toThrow(/batchedNms: groups \[5\] f32 must be i32 \[5\]/);
    expect(() => nms(b, g, 0.5, 'union', { chunk: 40 })).toThrow(/nms: chunk 40 must be a multiple of 32/);
    for (const t of [b, s, g]) t.dispose();
  });
});

/** An NHWC image of random values: integers 0..255 (what MTCNN resizes) or floats in [0, 1). */
function randomImage(shape: number[], seed: number, integer: boolean): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => (integer ? Math.floor(r() * 256) : r()));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('resizeArea', () => {
  for (const [h, w, oh, ow] of [[37, 53, 12, 17], [5, 7, 11, 13], [630, 1200, 190, 361], [8, 8, 8, 8]]) {
    it(`matches adaptive_avg_pool2d, ${h}x${w} -> ${oh}x${ow}`, async () => {
      const shape = [2, h, w, 3];
      for (const integer of [true, false]) {
        const data = randomImage(shape, h * w + (integer ? 1 : 0), integer);
        const img = Tensor.from(data, shape);
        const out = resizeArea(img, [oh, ow]);
        expect(out.shape).toEqual([2, oh, ow, 3]);
        const got = await out.data();
        const want = resizeAreaRef(data, shape, oh, ow);
        // Same f32 sums in the same order and the same two divisions: integer
        // images (the MTCNN pyramid) come out bit-identical; random floats
        // too on an IEEE adapter, but allow 1e-6 there.
        if (integer) expect(maxAbsDiff(got, want)).toBe(0);
        else expect(maxAbsDiff(got, want)).toBeLessThan(1e-6);
        img.dispose();
        out.dispose();
      }
    });
  }
});

describe('fused normalisation of resizeArea and area crops', () => {
  it('equals normalizeImage after the resize or crop, bit for bit (empty crops included)', async () => {
    const shape = [1, 40, 60, 3];
    const data = randomImage(shape, 31, true);
    const img = Tensor.from(data, shape);
    const boxes = Tensor.from([10, 5, 33, 28, -20, 3, -2, 10, 3.7, 2.2, 20.9, 30.5], [3, 4]);
    for (const normalize of [{}, { mean: [1, 2, 3], scale: 0.5 }]) {
      const pairs: [Tensor, Tensor][] = [
        [resizeArea(img, [17, 23], { normalize }), normalizeImage(resizeArea(img, [17, 23]), normalize)],
        [cropAndResize(img, boxes, null, [24, 24], { normalize }), normalizeImage(cropAndResize(img, boxes, null, [24, 24]), normalize)],
      ];
      for (const [fused, separate] of pairs) {
        expect(Array.from(await fused.data())).toEqual(Array.from(await separate.data()));
        fused.dispose();
        separate.dispose();
      }
    }
    expect(() => cropAndResize(img, boxes, null, [8, 8], { method: 'bilinear', normalize: {} })).toThrow(/normalize is fused into the 'area' method only/);
    img.dispose();
    boxes.dispose();
  });
});

describe('resizeAreaPacked (summed-area table)', () => {
  it('equals resizeArea of the unpacked floats bit for bit, normalised or not, and refuses windows past 2^24', async () => {
    const [h, w] = [63, 120];
    const rgba = new Uint8Array(h * w * 4);
    const r = rng(77);
    for (let i = 0; i < rgba.length; i++) rgba[i] = Math.floor(r() * 256);
    const packed = packRgba(rgba, w, h);
    const floats = normalizeImage(packed, { mean: 0, scale: 1 });
    const table = integralImage(packed);
    for (const size of [[38, 73], [19, 37], [12, 23], [63, 120], [1, 1], [70, 130]] as [number, number][]) {
      for (const normalize of [undefined, {}]) {
        const a = resizeAreaPacked(table, size, normalize ? { normalize } : {});
        const b = resizeArea(floats, size, normalize ? { normalize } : {});
        expect(a.shape).toEqual(b.shape);
        expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
        a.dispose();
        b.dispose();
      }
    }
    expect(packedResizeExact(4000, 4000, [12, 12])).toBe(false);
    // Area crops (clip): inside, fractional, over every edge, empty after clipping, below the image, thin.
    const boxes = Tensor.from([10, 5, 33, 28, 3.7, 2.2, 20.9, 30.5, -8.3, -4.6, 15.2, 19.9, 100.5, 20.1, 135.8, 70.6, -0.7, -0.2, 5.5, 6.9, -20, 3, -2, 10, 5, 64, 20, 90, 30, 10, 31, 35], [8, 4]);
    for (const size of [24, 48]) {
      expect(packedCropExact(h, w, [size, size])).toBe(true);
      for (const normalize of [undefined, {}]) {
        const a = cropAreaPacked(table, boxes, [size, size], normalize ? { normalize } : {});
        const b = cropAndResize(floats, boxes, null, [size, size], { method: 'area', outside: 'clip', ...(normalize ? { normalize } : {}) });
        // (+ 0: an empty crop's zero may come out as -0 from either kernel.)
        expect(Array.from(await a.data(), (v) => v + 0)).toEqual(Array.from(await b.data(), (v) => v + 0));
        a.dispose();
        b.dispose();
      }
    }
    boxes.dispose();
    [packed, floats, table].forEach((t) => t.dispose());
  });
});

describe('resizeBilinear', () => {
  for (const [h, w, oh, ow] of [[37, 53, 12, 17], [5, 7, 11, 13], [4, 4, 1, 1]]) {
    for (const alignCorners of [false, true]) {
      it(`matches F.interpolate bilinear, ${h}x${w} -> ${oh}x${ow}, alignCorners ${alignCorners}`, async () => {
        const shape = [2, h, w, 3];
        const data = randomImage(shape, h + w, false);
        const img = Tensor.from(data, shape);
        const out = resizeBilinear(img, [oh, ow], { alignCorners });
        const want = resizeBilinearRef(data, shape, oh, ow, alignCorners);
        // Source positions and weights agree in f32; only the blend is float64
        // in the reference. Values lie in [0, 1).
        expect(maxAbsDiff(await out.data(), want)).toBeLessThan(1e-6);
        img.dispose();
        out.dispose();
      });
    }
  }

  it('keeps an image unchanged at its own size', async () => {
    const data = randomImage([1, 6, 9, 2], 3, false);
    const img = Tensor.from(data, [1, 6, 9, 2]);
    const out = resizeBilinear(img, [6, 9]);
    expect(Array.from(await out.data())).toEqual(Array.from(data));
    img.dispose();
    out.dispose();
  });
});

describe('cropAndResize', () => {
  const shape = [2, 40, 60, 3];
  // x1 y1 x2 y2: inside; fractional; over the left/top edge; over the
  // right/bottom edge; negative fractions (trunc toward zero); a box whose
  // crop is empty after clipping; one entirely below the image; a thin one.
  const boxes = new Float32Array([
    10, 5, 33, 28,
    3.7, 2.2, 20.9, 30.5,
    -8.3, -4.6, 15.2, 19.9,
    45.5, 20.1, 75.8, 50.6,
    -0.7, -0.2, 5.5, 6.9,
    -20, 3, -2, 10,
    5, 41, 20, 60,
    30, 10, 31, 35,
  ]);
  const boxImage = new Int32Array([0, 1, 1, 0, 1, 0, 1, 0]);
  const k = boxImage.length;

  for (const outside of ['clip', 'zero'] as const) {
    it(`area crops match the facenet-pytorch rule (${outside}), 24x24 and 48x48`, async () => {
      const data = randomImage(shape, 21, true);
      const img = Tensor.from(data, shape);
      const b = Tensor.from(boxes, [k, 4]);
      const bi = Tensor.from(boxImage, [k], 'i32');
      for (const size of [24, 48]) {
        const out = cropAndResize(img, b, bi, [size, size], { outside });
        expect(out.shape).toEqual([k, size, size, 3]);
        const got = await out.data();
        const want = cropAreaRef(data, shape, boxes, boxImage, size, size, outside);
        expect(maxAbsDiff(got, want)).toBe(0);
        // The empty crop is all zeros; the others are not.
        const per = size * size * 3;
        const emptyBox = 5;
        expect(got.subarray(emptyBox * per, (emptyBox + 1) * per).every((v) => v === 0)).toBe(true);
        expect(got.subarray(0, per).some((v) => v !== 0)).toBe(true);
        out.dispose();
      }
      // Without an index every box reads image 0.
      const out0 = cropAndResize(img, b, null, [24, 24], { outside });
      expect(maxAbsDiff(await out0.data(), cropAreaRef(data, shape, boxes, null, 24, 24, outside))).toBe(0);
      for (const t of [img, b, bi, out0]) t.dispose();
    });
  }

  it('clip and zero differ only for boxes that leave the image', async () => {
    const data = randomImage(shape, 22, true);
    const clip = cropAreaRef(data, shape, boxes, boxImage, 24, 24, 'clip');
    const zero = cropAreaRef(data, shape, boxes, boxImage, 24, 24, 'zero');
    const per = 24 * 24 * 3;
    expect(maxAbsDiff(clip.subarray(0, per), zero.subarray(0, per))).toBe(0);
    expect(maxAbsDiff(clip.subarray(2 * per, 3 * per), zero.subarray(2 * per, 3 * per))).toBeGreaterThan(1);
  });

  for (const outside of ['zero', 'clip'] as const) {
    it(`bilinear crops match the reference (${outside})`, async () => {
      const data = randomImage(shape, 23, false);
      const img = Tensor.from(data, shape);
      const b = Tensor.from(boxes, [k, 4]);
      const bi = Tensor.from(boxImage, [k], 'i32');
      const out = cropAndResize(img, b, bi, [16, 12], { method: 'bilinear', outside });
      const want = cropBilinearRef(data, shape, boxes, boxImage, 16, 12, outside);
      // Positions and weights agree in f32; the reference blends in float64.
      // Values in [0, 1).
      expect(maxAbsDiff(await out.data(), want)).toBeLessThan(1e-6);
      for (const t of [img, b, bi, out]) t.dispose();
    });
  }

  it('a clamped bilinear crop of the whole image equals resizeBilinear', async () => {
    const s = [1, 37, 53, 3];
    const data = randomImage(s, 24, false);
    const img = Tensor.from(data, s);
    const b = Tensor.from([0, 0, 53, 37], [1, 4]);
    for (const [oh, ow] of [[12, 17], [50, 70]]) {
      const crop = cropAndResize(img, b, null, [oh, ow], { method: 'bilinear', outside: 'clip' });
      const resized = resizeBilinear(img, [oh, ow]);
      // Same taps; the positions are rounded differently in f32 (box edge +
      // offset vs scale * index), ~4e-6 at coordinates near 50. Values in [0, 1).
      expect(maxAbsDiff(await crop.data(), await resized.data())).toBeLessThan(1e-5);
      crop.dispose();
      resized.dispose();
    }
    img.dispose();
    b.dispose();
  });

  it('names the op and shapes in its errors, before dispatching', () => {
    const img = Tensor.empty([1, 8, 8, 3]);
    const b = Tensor.empty([2, 4]);
    const bi = Tensor.empty([3], 'i32');
    expect(() => cropAndResize(Tensor.empty([8, 8, 3]), b, null, [4, 4])).toThrow(/cropAndResize: image \[8, 8, 3\] f32 must be an f32 NHWC/);
    expect(() => cropAndResize(img, bi, null, [4, 4])).toThrow(/cropAndResize: boxes \[3\] i32 must be an f32 \[K, 4\]/);
    expect(() => cropAndResize(img, b, bi, [4, 4])).toThrow(/cropAndResize: boxImage \[3\] i32 must be i32 \[2\] to match boxes \[2, 4\]/);
    expect(() => cropAndResize(img, b, null, [0, 4])).toThrow(/cropAndResize: output size \[0, 4\] for image \[1, 8, 8, 3\]/);
    expect(() => resizeArea(img, [2.5, 4])).toThrow(/resizeArea: output size \[2.5, 4\] for image \[1, 8, 8, 3\]/);
    expect(() => resizeBilinear(b, [2, 2])).toThrow(/resizeBilinear: image \[2, 4\] f32 must be an f32 NHWC/);
    for (const t of [img, b, bi]) t.dispose();
  });
});

describe('normalizeImage', () => {
  const width = 7, height = 5;
  const rgba = new Uint8Array(width * height * 4);
  const r = rng(31);
  for (let i = 0; i < rgba.length; i++) rgba[i] = Math.floor(r() * 256);

  it('unpacks RGBA8 to normalised RGB floats, dropping alpha', async () => {
    const packed = packRgba(rgba, width, height);
    expect(packed.shape).toEqual([1, height, width]);
    const y = normalizeImage(packed);
    expect(y.shape).toEqual([1, height, width, 3]);
    expect(Array.from(await y.data())).toEqual(Array.from(normalizeRgbaRef(rgba, [127.5, 127.5, 127.5], [0.0078125, 0.0078125, 0.0078125])));
    const raw = normalizeImage(packed, { mean: 0, scale: 1 });
    expect(Array.from(await raw.data())).toEqual(Array.from(rgba.filter((_, i) => i % 4 !== 3)));
    const perChannel = normalizeImage(packed, { mean: [123.7, 116.3, 103.5], scale: [1 / 58.4, 1 / 57.1, 1 / 57.4] });
    expect(Array.from(await perChannel.data())).toEqual(Array.from(normalizeRgbaRef(rgba, [123.7, 116.3, 103.5], [1 / 58.4, 1 / 57.1, 1 / 57.4])));
    for (const t of [packed, y, raw, perChannel]) t.dispose();
  });

  it('packs from an unaligned byte view', async () => {
    const buf = new Uint8Array(rgba.length + 1);
    buf.set(rgba, 1);
    const packed = packRgba(buf.subarray(1), width, height);
    const y = normalizeImage(packed, { mean: 0, scale: 1 });
    expect(Array.from(await y.data())).toEqual(Array.from(rgba.filter((_, i) => i % 4 !== 3)));
    packed.dispose();
    y.dispose();
  });

  it('normalises f32 NHWC per channel, the same as the packed path', async () => {
    const packed = packRgba(rgba, width, height);
    const raw = normalizeImage(packed, { mean: 0, scale: 1 });
    const a = normalizeImage(raw, { mean: [127.5, 127.5, 127.5], scale: 0.0078125 });
    const b = normalizeImage(packed);
    expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
    for (const t of [packed, raw, a, b]) t.dispose();
  });

  it('names the op and shapes in its errors', () => {
    const f = Tensor.empty([1, 2, 2, 5]);
    expect(() => normalizeImage(f, { mean: [1, 2, 3] })).toThrow(/normalizeImage: mean has 3 values for 5 channels of \[1, 2, 2, 5\]/);
    expect(() => normalizeImage(Tensor.empty([2, 2], 'i32'))).toThrow(/normalizeImage: pixels \[2, 2\] i32 must be packed RGBA u32/);
    expect(() => packRgba(new Uint8Array(10), 2, 2)).toThrow(/packRgba: 10 bytes are not 2 x 2 RGBA pixels \(16 bytes\)/);
    f.dispose();
  });
});

// Ground truth shipped beside the project (see its README); skipped where absent.
const MTCNN_REFERENCE = process.env.MTCNN_REFERENCE ?? '/work/shared/reference/mtcnn';

describe.skipIf(!existsSync(MTCNN_REFERENCE))('MTCNN reference data (kate_siegel, decoded by PIL)', () => {
  it('ingests the pixels, area-resizes the first pyramid level and crops the real R-Net boxes exactly', async () => {
    const stages = JSON.parse(readFileSync(`${MTCNN_REFERENCE}/mtcnn_stages.json`, 'utf8'));
    const entry = stages.images.find((e: { image: string }) => e.image.includes('kate_siegel'));
    const png = PNG.sync.read(readFileSync(`${MTCNN_REFERENCE}/decoded/test_images__kate_siegel__1.png`));
    const { width, height } = png;
    const rgb = new Float32Array(width * height * 3);
    for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = png.data[4 * i + c];
    const shape = [1, height, width, 3];
    const packed = packRgba(png.data, width, height);
    const img = normalizeImage(packed, { mean: 0, scale: 1 });
    expect(maxAbsDiff(await img.data(), rgb)).toBe(0);

    const [oh, ow] = entry.scales[0].resized_hw;
    expect([oh, ow]).toEqual([Math.floor(height * 0.6 + 1), Math.floor(width * 0.6 + 1)]);
    const level = resizeArea(img, [oh, ow]);
    expect(maxAbsDiff(await level.data(), resizeAreaRef(rgb, shape, oh, ow))).toBe(0);

    // The boxes the pipeline cropped for R-Net; some cross the image border.
    const list: number[][] = entry.pnet_stage_boxes_after_rerec;
    expect(list.length).toBe(entry.rnet_inputs);
    const boxes = new Float32Array(list.flatMap((b) => b.slice(0, 4)));
    expect(list.some((b) => b[1] < 0 || b[2] > width)).toBe(true);
    const b = Tensor.from(boxes, [list.length, 4]);
    const crops = cropAndResize(img, b, null, [24, 24]);
    const got = await crops.data();
    expect(maxAbsDiff(got, cropAreaRef(rgb, shape, boxes, null, 24, 24, 'clip'))).toBe(0);
    for (let k = 0; k < list.length; k++) expect(got.subarray(k * 1728, (k + 1) * 1728).some((v) => v !== 0)).toBe(true);
    for (const t of [packed, img, level, b, crops]) t.dispose();
  });
});
