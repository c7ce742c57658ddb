// MTCNN training samples in memory: one or more shard folders (random crops,
// mined hard examples) read into flat arrays, and batches cut from them as
// the tensors train.ts feeds the nets.
//
// Memory: a 48x48 sample is 6.9 KB of pixels, so 100k O-Net samples take
// about 700 MB; P-Net (12x12) and R-Net (24x24) sets are far smaller.
import { openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../../engine/tensor.js';
import { normalizeImage } from '../../engine/ops/image.js';
import { RECORD_HEADER, readIndex, type ClassCounts } from './shards.js';
import { LABEL, LABEL_NAMES, type Label } from './samples.js';
import { Rng } from '../lib/rng.js';

export interface SampleSet {
  size: number;
  count: number;
  labels: Int8Array;
  /** count x size x size x 3 RGB bytes. */
  pixels: Uint8Array;
  /** count x 4 box targets (x1, y1, x2, y2 offsets / crop side). */
  boxes: Float32Array;
  /**
   * count x 10 landmark targets, five x then five y: the order the nets'
   * landmark heads and the detector use (the shards store (x, y) pairs).
   */
  landmarks: Float32Array;
  counts: ClassCounts;
}

/** Reads every record of the given shard folders (all of one sample size). */
export function loadSampleSet(dirs: readonly string[]): SampleSet {
  if (dirs.length === 0) throw new Error('no sample folders given');
  const indexes = dirs.map((d) => ({ dir: d, index: readIndex(d) }));
  const size = indexes[0].index.size;
  for (const { dir, index } of indexes) {
    if (index.size !== size) throw new Error(`${dir}: samples are ${index.size}x${index.size}, ${dirs[0]} has ${size}x${size}: one run trains one net`);
  }
  const count = indexes.reduce((a, { index }) => a + index.total, 0);
  const px = size * size * 3;
  const set: SampleSet = {
    size,
    count,
    labels: new Int8Array(count),
    pixels: new Uint8Array(count * px),
    boxes: new Float32Array(count * 4),
    landmarks: new Float32Array(count * 10),
    counts: { negative: 0, positive: 0, part: 0, landmark: 0 },
  };
  let at = 0;
  for (const { dir, index } of indexes) {
    const rs = index.recordSize;
    for (const s of index.shards) {
      const path = join(dir, s.file);
      const bytes = new Uint8Array(s.records * rs);
      const fd = openSync(path, 'r');
      try {
        const n = readSync(fd, bytes, 0, bytes.length, 0);
        if (n !== bytes.length) throw new Error(`${path}: ${n} bytes, the index says ${s.records} records (${bytes.length} bytes): shard truncated`);
      } finally {
        closeSync(fd);
      }
      const v = new DataView(bytes.buffer);
      for (let r = 0; r < s.records; r++, at++) {
        const o = r * rs;
        const label = v.getInt8(o) as Label;
        if (!(label in LABEL_NAMES)) throw new Error(`${path}: record ${r} has label ${label}, not one of 1, 0, -1, -2`);
        set.labels[at] = label;
        set.counts[LABEL_NAMES[label]]++;
        for (let i = 0; i < 4; i++) set.boxes[at * 4 + i] = v.getFloat32(o + 24 + 4 * i, true);
        for (let k = 0; k < 5; k++) {
          set.landmarks[at * 10 + k] = v.getFloat32(o + 40 + 8 * k, true);
          set.landmarks[at * 10 + 5 + k] = v.getFloat32(o + 44 + 8 * k, true);
        }
        set.pixels.set(bytes.subarray(o + RECORD_HEADER, o + rs), at * px);
      }
    }
  }
  return set;
}

/** A deterministic order of the whole set for one epoch (so a resumed run sees the same batches). */
export function epochOrder(count: number, seed: number, epoch: number): Uint32Array {
  const r = new Rng((Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0);
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  for (let i = count - 1; i > 0; i--) {
    const j = r.int(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

export interface Batch {
  /** [B, S, S, 3], normalised (x - 127.5) / 128 as the detector feeds the nets. */
  images: Tensor;
  /** [B] i32: 1 face, 0 not a face, -1 no class (part and landmark samples: skipped by crossEntropy). */
  classes: Tensor;
  /** [B] f32 masks: classification (pos, neg), box (pos, part), landmark. */
  clsMask: Tensor;
  boxMask: Tensor;
  lmMask: Tensor;
  boxes: Tensor;
  landmarks: Tensor;
  /** Host copies for accuracy. */
  hostClasses: Int32Array;
}

/** Landmark order after a mirror: left and right eye swap, so do the mouth corners. */
const MIRROR_POINT = [1, 0, 2, 4, 3];

/**
 * The batch of samples `indices`; `flip[k]` mirrors sample k left-right
 * (pixels reversed per row; box targets x1 <-> -x2; landmark x -> 1 - x
 * with left/right points swapped). The pixels go to the GPU as packed RGBA
 * and are normalised there.
 */
export function makeBatch(set: SampleSet, indices: ArrayLike<number>, flip?: ArrayLike<boolean>): Batch {
  const b = indices.length;
  const s = set.size;
  const rgba = new Uint8Array(b * s * s * 4);
  const classes = new Int32Array(b);
  const clsMask = new Float32Array(b);
  const boxMask = new Float32Array(b);
  const lmMask = new Float32Array(b);
  const boxes = new Float32Array(b * 4);
  const landmarks = new Float32Array(b * 10);
  for (let k = 0; k < b; k++) {
    const i = indices[k];
    const mirror = flip?.[k] ?? false;
    const src = set.pixels.subarray(i * s * s * 3, (i + 1) * s * s * 3);
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const from = (y * s + (mirror ? s - 1 - x : x)) * 3;
        const to = ((k * s + y) * s + x) * 4;
        rgba[to] = src[from];
        rgba[to + 1] = src[from + 1];
        rgba[to + 2] = src[from + 2];
        rgba[to + 3] = 255;
      }
    }
    const label = set.labels[i];
    classes[k] = label === LABEL.positive ? 1 : label === LABEL.negative ? 0 : -1;
    clsMask[k] = label === LABEL.positive || label === LABEL.negative ? 1 : 0;
    boxMask[k] = label === LABEL.positive || label === LABEL.part ? 1 : 0;
    lmMask[k] = label === LABEL.landmark ? 1 : 0;
    const bx = set.boxes.subarray(i * 4, i * 4 + 4);
    if (mirror) boxes.set([-bx[2], bx[1], -bx[0], bx[3]], k * 4);
    else boxes.set(bx, k * 4);
    const lm = set.landmarks.subarray(i * 10, i * 10 + 10);
    for (let p = 0; p < 5; p++) {
      const q = mirror ? MIRROR_POINT[p] : p;
      landmarks[k * 10 + p] = mirror && lmMask[k] ? 1 - lm[q] : lm[q];
      landmarks[k * 10 + 5 + p] = lm[5 + q];
    }
  }
  const packed = Tensor.from(new Uint32Array(rgba.buffer), [b, s, s], 'u32');
  const images = normalizeImage(packed);
  packed.dispose();
  return {
    images,
    classes: Tensor.from(classes, [b], 'i32'),
    clsMask: Tensor.from(clsMask, [b]),
    boxMask: Tensor.from(boxMask, [b]),
    lmMask: Tensor.from(lmMask, [b]),
    boxes: Tensor.from(boxes, [b, 4]),
    landmarks: Tensor.from(landmarks, [b, 10]),
    hostClasses: classes,
  };
}
