// The GPU side of FaceNet training, independent of where images come from:
// triplet sampling, batch augmentation, the loss, and embedding a set of
// cached images. Random choices (which images, which crop, which colour
// change) are made on the host, a few numbers per image; the per-pixel work
// runs on the GPU.
//
// A batch of T triplets is 3T images: anchors [0, T), positives [T, 2T),
// negatives [2T, 3T), as in the design document's data loader. Anchor and
// positive are two different images of one identity (drawn uniformly among
// identities with at least two images); the negative is any image of another
// identity (drawn uniformly among identities).
import { Tensor, tidy, noGrad } from '../../engine/tensor.js';
import { normalizeImage, cropAndResize } from '../../engine/ops/image.js';
import { matmul } from '../../engine/ops/matmul.js';
import { add, scale } from '../../engine/ops/elementwise.js';
import { slice } from '../../engine/ops/shape.js';
import { tripletLoss, crossEntropy } from '../../engine/ops/losses.js';
import type { FaceNet, FaceNetOutput, InputNormalization } from './facenet.js';

/** What the sampler and the augmentation draw from: [0, 1) uniform numbers. */
export interface RandomSource {
  next(): number;
}

const randInt = (r: RandomSource, n: number) => Math.floor(r.next() * n);
const uniform = (r: RandomSource, lo: number, hi: number) => lo + (hi - lo) * r.next();

export interface TripletBatch {
  /** 3T image indices: anchors, then positives, then negatives. */
  images: number[];
  /** The identity of each image (3T). */
  labels: number[];
}

export class TripletSampler {
  private readonly byIdentity: number[][];
  /** Identities with at least two images: the possible anchors. */
  private readonly anchorIdentities: number[];

  constructor(labels: readonly number[]) {
    const count = labels.reduce((m, l) => Math.max(m, l + 1), 0);
    this.byIdentity = Array.from({ length: count }, () => []);
    labels.forEach((l, i) => this.byIdentity[l].push(i));
    this.anchorIdentities = this.byIdentity.flatMap((imgs, l) => (imgs.length >= 2 ? [l] : []));
    const populated = this.byIdentity.filter((imgs) => imgs.length > 0).length;
    if (!this.anchorIdentities.length) throw new Error('TripletSampler: no identity has two images, so no anchor-positive pair exists');
    if (populated < 2) throw new Error('TripletSampler: needs at least two identities for negatives');
  }

  sample(triplets: number, rng: RandomSource): TripletBatch {
    const a: number[] = [], p: number[] = [], n: number[] = [];
    const la: number[] = [], ln: number[] = [];
    for (let t = 0; t < triplets; t++) {
      const id = this.anchorIdentities[randInt(rng, this.anchorIdentities.length)];
      const imgs = this.byIdentity[id];
      const i = randInt(rng, imgs.length);
      const j = (i + 1 + randInt(rng, imgs.length - 1)) % imgs.length;
      let other: number;
      do other = randInt(rng, this.byIdentity.length);
      while (other === id || this.byIdentity[other].length === 0);
      const negs = this.byIdentity[other];
      a.push(imgs[i]);
      p.push(imgs[j]);
      n.push(negs[randInt(rng, negs.length)]);
      la.push(id);
      ln.push(other);
    }
    return { images: [...a, ...p, ...n], labels: [...la, ...la, ...ln] };
  }
}

// ---- augmentation ---------------------------------------------------------------

export interface AugmentOptions {
  /** Mirror half of the images left-right; default true. */
  flip?: boolean;
  /** Side of the random square crop as a fraction of the cached image's; default [0.8, 1]. */
  scale?: [number, number];
  /** Aspect-ratio change of the crop, +- this fraction; default 0.05. */
  aspect?: number;
  /** Brightness shift, +- in normalised units (1 = 128 grey levels); default 0.1. */
  brightness?: number;
  /** Contrast factor 1 +- this; default 0.15. */
  contrast?: number;
  /** Saturation factor 1 +- this; default 0.2. */
  saturation?: number;
}

/** The fixed crop used for evaluation, the mean of the training crops' sizes (default 0.9 of the cached side). */
export const EVAL_CROP = 0.9;

/**
 * Per-image crop boxes (x1, y1, x2, y2 in pixel-edge coordinates of a
 * size x size image) for `cropAndResize(..., { method: 'bilinear' })`. A
 * mirrored crop swaps x1 and x2: the kernel then samples right to left.
 * Without `opts` (evaluation) every box is the centred EVAL_CROP square.
 */
export function cropBoxes(count: number, size: number, rng: RandomSource | null, opts: AugmentOptions = {}): Float32Array {
  const boxes = new Float32Array(count * 4);
  for (let k = 0; k < count; k++) {
    let w: number, h: number, x: number, y: number, flip = false;
    if (!rng) {
      w = h = EVAL_CROP * size;
      x = y = (size - w) / 2;
    } else {
      const [lo, hi] = opts.scale ?? [0.8, 1];
      const side = uniform(rng, lo, hi) * size;
      const aspect = 1 + uniform(rng, -1, 1) * (opts.aspect ?? 0.05);
      w = Math.min(size, side * Math.sqrt(aspect));
      h = Math.min(size, side / Math.sqrt(aspect));
      x = uniform(rng, 0, size - w);
      y = uniform(rng, 0, size - h);
      flip = (opts.flip ?? true) && rng.next() < 0.5;
    }
    boxes.set(flip ? [x + w, y, x, y + h] : [x, y, x + w, y + h], k * 4);
  }
  return boxes;
}

// ITU-R BT.601 luma weights, the grey that saturation moves towards.
const LUMA = [0.299, 0.587, 0.114];

/**
 * Per-image colour jitter as an affine map of RGB rows: x -> x M + b with
 * M = c (s I + (1 - s) luma 1^T) and b = (d, d, d), for contrast c,
 * saturation s and brightness d. Contrast scales around 0, which is mid-grey
 * under the default normalisation ((x - 127.5) / 128).
 * Returns matrices [count * 9] (row-major 3x3) and offsets [count * 3].
 */
export function colourJitter(count: number, rng: RandomSource, opts: AugmentOptions = {}): { matrices: Float32Array; offsets: Float32Array } {
  const matrices = new Float32Array(count * 9);
  const offsets = new Float32Array(count * 3);
  for (let k = 0; k < count; k++) {
    const c = 1 + uniform(rng, -1, 1) * (opts.contrast ?? 0.15);
    const s = 1 + uniform(rng, -1, 1) * (opts.saturation ?? 0.2);
    const d = uniform(rng, -1, 1) * (opts.brightness ?? 0.1);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) matrices[k * 9 + i * 3 + j] = c * ((i === j ? s : 0) + (1 - s) * LUMA[i]);
    offsets.set([d, d, d], k * 3);
  }
  return { matrices, offsets };
}

export interface BatchInput {
  /** Packed RGBA words of B cached squares, [B * size * size]. */
  packed: Uint32Array;
  /** Side of the cached squares. */
  size: number;
  boxes: Float32Array;
  colour?: { matrices: Float32Array; offsets: Float32Array };
}

/**
 * Cached RGBA squares -> the net's input [B, inputSize, inputSize, 3]:
 * unpack and normalise, crop and resize each (random box, maybe mirrored),
 * then the colour jitter as one batched 3x3 matmul plus an offset.
 */
export function prepareBatch(input: BatchInput, inputSize: number, norm: InputNormalization): Tensor {
  const count = input.boxes.length / 4;
  return tidy(() => {
    const packed = Tensor.from(input.packed, [count, input.size, input.size], 'u32');
    const img = normalizeImage(packed, { mean: norm.mean, scale: norm.scale });
    const boxImage = Tensor.from(Int32Array.from({ length: count }, (_, i) => i), [count], 'i32');
    const boxes = Tensor.from(input.boxes, [count, 4]);
    const crops = cropAndResize(img, boxes, boxImage, [inputSize, inputSize], { method: 'bilinear', outside: 'clip' });
    if (!input.colour) return crops;
    const rows = crops.reshapeView([count, inputSize * inputSize, 3]);
    const m = Tensor.from(input.colour.matrices, [count, 3, 3]);
    const b = Tensor.from(input.colour.offsets, [count, 1, 3]);
    const jittered = add(matmul(rows, m), b);
    return jittered.reshapeView([count, inputSize, inputSize, 3]);
  });
}

// ---- loss -----------------------------------------------------------------------

export interface FaceNetLossOptions {
  /** Default 0.2. */
  margin?: number;
  /** Triplet distances: plain Euclidean (the design document's code, default) or squared (the FaceNet paper). */
  squaredDistance?: boolean;
  /** Weight of the classifier's cross-entropy; default 1. */
  crossEntropyWeight?: number;
}

export interface FaceNetLoss {
  /** triplet + weight x cross-entropy: the scalar to differentiate. */
  total: Tensor;
  triplet: Tensor;
  crossEntropy: Tensor;
}

/**
 * The design document's loss on a triplet batch: the triplet loss averaged
 * over the hard triplets only (d(a, n) - d(a, p) < margin; 0 when none is
 * hard) plus the softmax cross-entropy of the classifier over all 3T images.
 */
export function facenetLoss(out: FaceNetOutput, labels: Tensor, opts: FaceNetLossOptions = {}): FaceNetLoss {
  const e = out.embedding;
  const [n, d] = e.shape;
  if (n % 3 !== 0) throw new Error(`facenetLoss: ${n} embeddings are not whole triplets (anchors, positives, negatives)`);
  if (!out.logits) throw new Error('facenetLoss: the model has no classifier (build it with numClasses > 0)');
  const t = n / 3;
  const part = (k: number) => slice(e, [k * t, 0], [t, d]);
  const triplet = tripletLoss(part(0), part(1), part(2), { margin: opts.margin ?? 0.2, hardOnly: true, squared: opts.squaredDistance ?? false });
  const ce = crossEntropy(out.logits, labels);
  const w = opts.crossEntropyWeight ?? 1;
  return { total: add(triplet, w === 1 ? ce : scale(ce, w)), triplet, crossEntropy: ce };
}

// ---- inference over a set -------------------------------------------------------

/**
 * Embeddings [count * E] of cached images, `batch` at a time, with the
 * evaluation crop. The model is switched to eval mode for the duration.
 */
export async function embedCached(
  model: FaceNet,
  count: number,
  packBatch: (indices: number[]) => Uint32Array,
  cacheSize: number,
  inputSize: number,
  norm: InputNormalization,
  batch = 32,
): Promise<Float32Array> {
  const dim = model.config.embeddingSize;
  const out = new Float32Array(count * dim);
  const wasTraining = model.training;
  model.eval();
  try {
    for (let start = 0; start < count; start += batch) {
      const indices = Array.from({ length: Math.min(batch, count - start) }, (_, i) => start + i);
      const emb = noGrad(() =>
        tidy(() => {
          const x = prepareBatch({ packed: packBatch(indices), size: cacheSize, boxes: cropBoxes(indices.length, cacheSize, null) }, inputSize, norm);
          return model.embed(x);
        }),
      );
      try {
        out.set((await emb.data()) as Float32Array, start * dim);
      } finally {
        emb.dispose();
      }
    }
  } finally {
    model.train(wasTraining);
  }
  return out;
}
