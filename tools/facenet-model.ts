// The FaceNet model the embed and verify commands use: which file, the net
// rebuilt from it, the distance threshold it was calibrated at, and how a
// detected face becomes its input (an alignment that reproduces the crops it
// was trained on).
//
// A model file is an engine FaceNet .safetensors (train:facenet writes one
// per checkpoint: runs/NAME/checkpoints/step-*/model.safetensors) whose
// metadata carries facenetMetadata (backbone, sizes, input normalisation,
// training crop) and, for verification, `facenet.threshold`: the Euclidean
// distance below which two embeddings count as one person. Checkpoints do not
// carry a threshold (it comes from an evaluation: eval:lfw reports one);
// `writeFacenetModel` adds it when installing a checkpoint as a model.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadSafetensors, writeFileAtomic } from '../engine/io.js';
import { encodeSafetensors } from '../engine/safetensors.js';
import { Tensor, tidy, tidyAsync, noGradAsync } from '../engine/tensor.js';
import { concat, slice } from '../engine/ops/shape.js';
import { normalizeImage, packRgba, resizeArea } from '../engine/ops/image.js';
import { warpAffine } from '../engine/ops/warp.js';
import { FaceNet, EVAL_CROP, facenetMetadata, parseFacenetMetadata, type FaceNetFileInfo } from '../nets/facenet/index.js';
import { similarityTransform, templatePoints, type Point2, type Affine2x3 } from '../nets/align.js';
import { latestCheckpoint } from '../train/lib/checkpoint.js';
import { MODELS_DIR } from './models.js';
import type { RgbaImage } from './image.js';

export const DEFAULT_FACENET_MODEL = join(MODELS_DIR, 'facenet', 'facenet.safetensors');

/** Metadata key of the calibrated verification threshold (Euclidean distance of unit embeddings). */
export const THRESHOLD_KEY = 'facenet.threshold';

export interface FacenetModel {
  /** The weights file it was read from. */
  path: string;
  /** In eval mode. */
  net: FaceNet;
  info: FaceNetFileInfo;
  /** The calibrated threshold from the file; null when it has none. */
  threshold: number | null;
}

/** facenetMetadata plus the calibrated threshold: what `loadFacenetModel` reads. */
export function facenetModelMetadata(info: FaceNetFileInfo, threshold?: number): Record<string, string> {
  return { ...facenetMetadata(info), ...(threshold !== undefined ? { [THRESHOLD_KEY]: String(threshold) } : {}) };
}

/**
 * The weights file to use: `given` (a .safetensors file, or a training run
 * folder, meaning its latest checkpoint's model), or the default model. A
 * missing default says how to get one, since nothing is bundled.
 */
export function resolveFacenetModelPath(given?: string, defaultPath = DEFAULT_FACENET_MODEL): string {
  if (given === undefined) {
    if (existsSync(defaultPath)) return defaultPath;
    throw new Error(
      `no FaceNet model at ${defaultPath} (the default; none is bundled). Train one with\n` +
        `  npm run train:facenet -- --data DIR --out runs/NAME\n` +
        `and pass --model runs/NAME (a run folder: its latest checkpoint) or --model FILE.safetensors; ` +
        `install one as the default with writeFacenetModel (tools/facenet-model.ts), giving it the threshold eval:lfw reports`,
    );
  }
  let isFolder: boolean;
  try {
    isFolder = statSync(given).isDirectory();
  } catch {
    throw new Error(`--model ${given}: no such file or folder`);
  }
  if (!isFolder) return given;
  const checkpoint = latestCheckpoint(given);
  if (!checkpoint) throw new Error(`--model ${given}: a folder, but not a training run (no latest.json); give a .safetensors file or a run folder`);
  return join(checkpoint, 'model.safetensors');
}

function readThreshold(meta: Record<string, string>, path: string): number | null {
  const text = meta[THRESHOLD_KEY];
  if (text === undefined) return null;
  const t = Number(text);
  if (!(Number.isFinite(t) && t > 0)) throw new Error(`${path}: ${THRESHOLD_KEY} is "${text}", not a positive distance`);
  return t;
}

/** Builds the FaceNet of a model file (see resolveFacenetModelPath for `given`). Needs an initialised engine. */
export async function loadFacenetModel(given?: string, defaultPath = DEFAULT_FACENET_MODEL): Promise<FacenetModel> {
  const path = resolveFacenetModelPath(given, defaultPath);
  const file = await loadSafetensors(path);
  const info = parseFacenetMetadata(file.metadata, path);
  const threshold = readThreshold(file.metadata, path);
  const net = new FaceNet(info.config);
  try {
    net.loadStateDict(file.tensors, { source: path });
  } catch (e) {
    net.dispose();
    throw e;
  }
  return { path, net: net.eval(), info, threshold };
}

/**
 * Installs a trained FaceNet (a weights file or a run folder) as a model
 * file at `dest` with its calibrated threshold, e.g.
 *   writeFacenetModel('runs/facenet-mobilenet96', DEFAULT_FACENET_MODEL, { threshold: 1.05 })
 * Host-only: no GPU needed. The training loop state is dropped; the rest of
 * the metadata (model definition, training data path) is kept.
 */
export async function writeFacenetModel(source: string, dest: string, opts: { threshold: number }): Promise<void> {
  if (!(Number.isFinite(opts.threshold) && opts.threshold > 0)) throw new Error(`writeFacenetModel: threshold ${opts.threshold} must be a positive distance`);
  const path = resolveFacenetModelPath(source);
  const file = await loadSafetensors(path);
  parseFacenetMetadata(file.metadata, path);
  const { 'train.state': _loopState, ...metadata } = file.metadata;
  mkdirSync(dirname(dest), { recursive: true });
  await writeFileAtomic(dest, encodeSafetensors(file.tensors, { ...metadata, [THRESHOLD_KEY]: String(opts.threshold) }));
}

// ---- alignment ----------------------------------------------------------------------

/**
 * How a face is warped into the net's input square:
 * - 'lfw': onto where MTCNN finds the five landmarks, on average, in the crops
 *   train:facenet feeds the net (LFW deep-funneled images, centre-cropped by
 *   the model's facenet.crop, then EVAL_CROP). The face then sits in the
 *   input as it did in training: same scale, same place, more forehead and
 *   chin than the ArcFace crop.
 * - 'arcface': the ArcFace five-point template scaled to the input size
 *   (nets/align.ts 'facenet160' at that size, with `margin`), for models
 *   trained on such aligned crops (e.g. converted facenet-pytorch weights).
 */
export type FaceAlignment = 'lfw' | 'arcface';
export const FACE_ALIGNMENTS: readonly FaceAlignment[] = ['lfw', 'arcface'];

/**
 * Mean MTCNN landmarks (left eye, right eye, nose, left and right mouth
 * corner; integer-centred pixel coordinates) of LFW deep-funneled 250x250
 * images: the bundled MTCNN on the first image of 120 identities spread over
 * /work/shared/data/lfw_train (the face nearest the centre). Spread (SD) per
 * coordinate 2.4-5.1 px; the ArcFace template fits them with 1-1.5 px
 * residuals at scale 1.17, but its square sits 6.7 px higher than the centre
 * crop, which is why 'lfw' is its own template rather than 'arcface' with a
 * margin.
 */
export const LFW_DEEP_FUNNELED_LANDMARKS: readonly Point2[] = [
  [105.07, 113.35],
  [147.19, 112.33],
  [125.72, 137.41],
  [108.8, 159.56],
  [145.58, 158.7],
];
const LFW_SIDE = 250;

/** 'lfw' for models trained by train:facenet (their file records the centre crop), 'arcface' for others. */
export function defaultAlignment(info: FaceNetFileInfo): FaceAlignment {
  return info.crop !== undefined ? 'lfw' : 'arcface';
}

/** Where the five landmarks go in the model's inputSize x inputSize input. `margin` (input pixels) applies to 'arcface' only. */
export function inputTemplate(info: FaceNetFileInfo, alignment: FaceAlignment, margin = 0): Point2[] {
  const size = info.inputSize;
  if (alignment === 'arcface') return templatePoints({ template: 'facenet160', size, margin });
  if (alignment !== 'lfw') throw new Error(`inputTemplate: alignment "${alignment}" is not one of ${FACE_ALIGNMENTS.join(', ')}`);
  // The net saw the centred square of (crop x EVAL_CROP) of the image's side,
  // resized to the input; map the points through that, by pixel edges.
  const seen = (info.crop ?? 1) * EVAL_CROP;
  const toInput = (v: number) => (((v + 0.5) / LFW_SIDE - (1 - seen) / 2) / seen) * size - 0.5;
  return LFW_DEEP_FUNNELED_LANDMARKS.map(([x, y]) => [toInput(x), toInput(y)] as const);
}

/**
 * The warp samples bilinearly, which aliases when it shrinks a face several
 * times (a portrait's face to a 96-pixel input); training crops were
 * resampled with an antialiasing filter. So a face shrunk by s is warped at
 * round(s) times the input size and area-averaged down, up to this factor.
 */
const MAX_SUPERSAMPLE = 4;

export interface InputOptions {
  alignment: FaceAlignment;
  /** Input pixels around the 'arcface' template; default 0. */
  margin?: number;
}

/**
 * The net's input for faces of one image: each face's five landmarks fitted
 * (similarity) onto the model's template, all faces warped in one dispatch
 * and normalised as the model expects. f32 [K, S, S, 3] on the GPU.
 */
export function facenetInputs(img: RgbaImage, faces: readonly { landmarks: readonly Point2[] }[], model: Pick<FacenetModel, 'info'>, opts: InputOptions): Tensor {
  const { info } = model;
  const size = info.inputSize;
  const template = inputTemplate(info, opts.alignment, opts.margin ?? 0);
  const fits = faces.map((face, k) => {
    try {
      return similarityTransform(face.landmarks, template);
    } catch (e) {
      throw new Error(`face ${k}: ${(e as Error).message}`);
    }
  });
  const shrink = fits.reduce((m, f) => Math.max(m, 1 / f.scale), 1);
  const factor = Math.min(MAX_SUPERSAMPLE, Math.max(1, Math.round(shrink)));
  // Fine pixel J covers input point (J + 0.5) / factor - 0.5; compose that with input -> image.
  const offset = 0.5 / factor - 0.5;
  const matrices = new Float32Array(6 * faces.length);
  fits.forEach((fit, k) => {
    const [a, b, c, d, e, f]: Affine2x3 = fit.inverse;
    matrices.set([a / factor, b / factor, a * offset + b * offset + c, d / factor, e / factor, d * offset + e * offset + f], 6 * k);
  });
  return tidy(() => {
    const pixels = normalizeImage(packRgba(img.data, img.width, img.height), info.normalization);
    // 'replicate': training crops repeat the edge pixels where they leave the image, too.
    const fine = warpAffine(pixels, Tensor.from(matrices, [faces.length, 6]), null, [size * factor, size * factor], { border: 'replicate' });
    return factor === 1 ? fine : resizeArea(fine, [size, size]);
  });
}

/**
 * Embeddings of net inputs ([K_i, S, S, 3] tensors, e.g. the faces of
 * several images), `batch` faces per forward: one unit-length
 * Float32Array(embeddingSize) per face, in order. The inputs stay the caller's.
 */
export async function embedInputs(model: Pick<FacenetModel, 'net'>, inputs: readonly Tensor[], batch = 32): Promise<Float32Array[]> {
  const parts = inputs.filter((t) => t.shape[0] > 0);
  const total = parts.reduce((n, t) => n + t.shape[0], 0);
  if (total === 0) return [];
  const dim = model.net.config.embeddingSize;
  const flat = new Float32Array(total * dim);
  const all = parts.length === 1 ? parts[0] : concat(parts, 0);
  try {
    for (let start = 0; start < total; start += batch) {
      const count = Math.min(batch, total - start);
      const rows = await tidyAsync(() =>
        noGradAsync(async () => {
          const x = count === total ? all : slice(all, [start, 0, 0, 0], [count, -1, -1, -1]);
          return (await model.net.embed(x).data()) as Float32Array;
        }),
      );
      flat.set(rows, start * dim);
    }
  } finally {
    if (all !== parts[0]) all.dispose();
  }
  return Array.from({ length: total }, (_, i) => flat.subarray(i * dim, (i + 1) * dim));
}

/** Euclidean distance, the measure the threshold is calibrated for (train/lib/verification.ts). */
export function embeddingDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`embeddingDistance: lengths ${a.length} and ${b.length} differ`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

/** The face with the largest box. */
export function largestFace<F extends { box: readonly number[] }>(faces: readonly F[]): F | null {
  const area = (f: F) => (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]);
  return faces.reduce<F | null>((best, f) => (best === null || area(f) > area(best) ? f : best), null);
}
