// The MTCNN cascade (facenet-pytorch's detect_face, step for step): image
// pyramid -> P-Net -> candidates -> NMS per scale and across scales ->
// calibrate + square -> R-Net on 24x24 crops -> NMS -> calibrate + square ->
// O-Net on 48x48 crops -> landmarks -> calibrate -> NMS by minimum.
//
// Every numeric step runs on the GPU. What comes back to the host between
// stages is only a few counts (to size the next stage's tensors) and, at the
// end, the final rows.
import { Tensor, noGradAsync, tidyAsync } from '../../engine/tensor.js';
import { flush } from '../../engine/runtime.js';
import { softmax } from '../../engine/ops/softmax.js';
import { concat, slice } from '../../engine/ops/shape.js';
import { resizeArea, cropAndResize, normalizeImage, packRgba, integralImage, resizeAreaPacked, packedResizeExact, cropAreaPacked, packedCropExact } from '../../engine/ops/image.js';
import { batchedNms, nms } from '../../engine/ops/boxes.js';
import { thresholdIndices, gatherRows } from '../../engine/ops/select.js';
import { gridBoxes, applyBoxDeltas, squareBoxes, landmarksToPoints } from '../../engine/ops/detect.js';
import type { PNet, RNet, ONet } from './nets.js';

export interface DetectOptions {
  /** Smallest face to look for, in pixels (sets the first pyramid scale 12/minFaceSize). */
  minFaceSize?: number;
  /** Face-probability thresholds of P-Net, R-Net and O-Net. */
  thresholds?: readonly [number, number, number];
  /** Pyramid scale step. */
  factor?: number;
  /** R-Net / O-Net batch size: bounds GPU memory on photos with thousands of candidates. */
  chunkSize?: number;
}

export const DEFAULT_DETECT_OPTIONS: Required<DetectOptions> = {
  minFaceSize: 20,
  thresholds: [0.6, 0.7, 0.7],
  factor: 0.709,
  chunkSize: 256,
};

export type Point = [number, number];

/**
 * A box as the next stage would see it (calibrated and squared, in the
 * detector's pixel coordinates), with the score of the stage that proposed
 * it. Training uses these to mine hard examples for R-Net and O-Net.
 */
export interface Candidate {
  box: [number, number, number, number];
  score: number;
}

export interface Face {
  /** x1, y1, x2, y2 in pixels, unrounded; may extend past the image. */
  box: [number, number, number, number];
  score: number;
  /** Left eye, right eye, nose, left mouth corner, right mouth corner. */
  landmarks: [Point, Point, Point, Point, Point];
}

/** Decoded pixels: RGBA8, row-major (what tools/image.ts and canvases give). */
export interface RgbaPixels {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
}

export interface StageCounts {
  pnetCandidates: number;
  afterScaleNms: number;
  afterCrossScaleNms: number;
  rnetPassed: number;
  afterRnetNms: number;
  onetPassed: number;
  final: number;
}

/** Pyramid scales as facenet-pytorch computes them (repeated float64 products). */
export function pyramidScales(width: number, height: number, minFaceSize: number, factor: number): number[] {
  const scales: number[] = [];
  const m = 12 / minFaceSize;
  let minl = Math.min(width, height) * m;
  let scale = m;
  while (minl >= 12) {
    scales.push(scale);
    scale *= factor;
    minl *= factor;
  }
  return scales;
}

async function readCount(t: Tensor): Promise<number> {
  return (await t.data())[0];
}

/** Box (columns 0-3) and score (column 4) of each row. */
async function readCandidates(rows: Tensor): Promise<Candidate[]> {
  const c = rows.shape[1];
  const host = (await rows.data()) as Float32Array;
  return Array.from({ length: rows.shape[0] }, (_, i) => ({ box: [host[i * c], host[i * c + 1], host[i * c + 2], host[i * c + 3]], score: host[i * c + 4] }));
}

/** Columns [from, from + n) of a [K, C] tensor as a new [K, n] tensor. */
function columns(x: Tensor, from: number, n: number): Tensor {
  return slice(x, [0, from], [x.shape[0], n]);
}

/**
 * Wall time of each stage of the last detect() call, in ms. Each boundary is
 * a readback, so the GPU work of a stage is finished when its clock stops.
 */
export interface StageTimings {
  /** Upload, pyramid resizes, P-Net, candidate boxes. */
  pyramidPnet: number;
  /** The three NMS passes and their box bookkeeping. */
  nms: number;
  /** Crops + R-Net + threshold. */
  rnet: number;
  /** Crops + O-Net + threshold + landmarks. */
  onet: number;
  /** Reading the final rows back. */
  transfer: number;
  total: number;
}

export class MtcnnDetector {
  /** Counts of the last detect() call, per stage (for tests and diagnostics). */
  lastCounts: StageCounts | null = null;
  lastTimings: StageTimings | null = null;

  constructor(readonly pnet: PNet, readonly rnet: RNet, readonly onet: ONet) {
    for (const net of [pnet, rnet, onet]) net.eval();
  }

  /** Detects faces in decoded RGBA pixels. */
  async detect(image: RgbaPixels, options: DetectOptions = {}): Promise<Face[]> {
    const opts = { ...DEFAULT_DETECT_OPTIONS, ...options };
    if (!(opts.minFaceSize > 0)) throw new Error(`detect: minFaceSize must be positive, got ${opts.minFaceSize}`);
    if (!(opts.factor > 0 && opts.factor < 1)) throw new Error(`detect: factor must be in (0, 1), got ${opts.factor}`);
    if (opts.thresholds.length !== 3 || opts.thresholds.some((t) => !(t >= 0 && t <= 1))) {
      throw new Error(`detect: thresholds must be three probabilities, got ${opts.thresholds.join(',')}`);
    }
    return tidyAsync(() => noGradAsync(() => this.run(image, opts))) as Promise<Face[]>;
  }

  /**
   * The boxes the cascade hands to stage `stage + 1`: after P-Net (stage 1:
   * what R-Net crops) or after R-Net (stage 2: what O-Net crops), each NMS'd,
   * calibrated and squared exactly as detect() does before cropping.
   */
  async candidates(image: RgbaPixels, stage: 1 | 2, options: DetectOptions = {}): Promise<Candidate[]> {
    const opts = { ...DEFAULT_DETECT_OPTIONS, ...options };
    return tidyAsync(() => noGradAsync(() => this.run(image, opts, stage))) as Promise<Candidate[]>;
  }

  private async run(image: RgbaPixels, opts: Required<DetectOptions>, stopAfter?: 1 | 2): Promise<Face[] | Candidate[]> {
    const { width: W, height: H } = image;
    const t: StageTimings = { pyramidPnet: 0, nms: 0, rnet: 0, onet: 0, transfer: 0, total: 0 };
    this.lastTimings = t;
    const start = performance.now();
    let mark = start;
    const lap = (stage: Exclude<keyof StageTimings, 'total'>) => {
      const now = performance.now();
      t[stage] += now - mark;
      t.total = now - start;
      mark = now;
    };
    // The pyramid and the crops resize the 0..255 pixels and normalise after,
    // as the reference does, reading a summed-area table of the photo
    // (bit-identical to resizing the floats, four lookups per output pixel
    // instead of a window); the floats only where a window sum could pass
    // 2^24 (photos of many megapixels).
    const packed = packRgba(image.data, W, H);
    const table = integralImage(packed);
    let floats: Tensor | null = null;
    const img = () => (floats ??= normalizeImage(packed, { mean: 0, scale: 1 }));
    const counts: StageCounts = { pnetCandidates: 0, afterScaleNms: 0, afterCrossScaleNms: 0, rnetPassed: 0, afterRnetNms: 0, onetPassed: 0, final: 0 };
    this.lastCounts = counts;

    // Stage 1: P-Net over the pyramid.
    const levels = pyramidScales(W, H, opts.minFaceSize, opts.factor).map((scale) => {
      const size: [number, number] = [Math.trunc(H * scale + 1), Math.trunc(W * scale + 1)];
      // normalizeImage's (x - 127.5) / 128, fused into the resize.
      const x = packedResizeExact(H, W, size) ? resizeAreaPacked(table, size, { normalize: {} }) : resizeArea(img(), size, { normalize: {} });
      const out = this.pnet.forward(x);
      const prob = softmax(out.cls);
      const pass = thresholdIndices(prob, opts.thresholds[0], { stride: 2, offset: 1 });
      // Submitted level by level: the GPU starts on this one while the next is recorded.
      flush();
      return { scale, prob, reg: out.reg, pass };
    });
    const perLevel: Tensor[] = [];
    const groups: number[] = [];
    for (const [i, lv] of levels.entries()) {
      const k = await readCount(lv.pass.count);
      if (k === 0) continue;
      perLevel.push(gridBoxes(lv.prob, lv.reg, lv.pass.indices, lv.pass.count, k, { scale: lv.scale, stride: 2, cell: 12, scoreChannel: 1 }));
      for (let j = 0; j < k; j++) groups.push(i);
    }
    counts.pnetCandidates = groups.length;
    lap('pyramidPnet');
    if (groups.length === 0) return [];
    let boxes = concat(perLevel, 0);
    const scaleNms = batchedNms(columns(boxes, 0, 4), columns(boxes, 4, 1).reshapeView([boxes.shape[0]]), Tensor.from(groups, [groups.length], 'i32'), 0.5);
    boxes = await this.keep(boxes, scaleNms);
    counts.afterScaleNms = boxes.shape[0];
    boxes = await this.keep(boxes, nms(columns(boxes, 0, 4), columns(boxes, 4, 1).reshapeView([boxes.shape[0]]), 0.7));
    counts.afterCrossScaleNms = boxes.shape[0];
    lap('nms');
    applyBoxDeltas(boxes, columns(boxes, 5, 4));
    squareBoxes(boxes);
    if (stopAfter === 1) return readCandidates(boxes);

    // Stage 2: R-Net on 24x24 crops of the squared boxes.
    const r = this.refine(table, img, boxes, 24, (x) => this.rnet.forward(x), opts.chunkSize);
    // rows: x1 y1 x2 y2 | R-Net score | R-Net deltas
    let rows = concat([columns(boxes, 0, 4), columns(r.prob, 1, 1), r.reg], 1);
    rows = await this.passing(rows, opts.thresholds[1]);
    counts.rnetPassed = rows.shape[0];
    lap('rnet');
    if (rows.shape[0] === 0) return [];
    rows = await this.keep(rows, nms(columns(rows, 0, 4), columns(rows, 4, 1).reshapeView([rows.shape[0]]), 0.7));
    counts.afterRnetNms = rows.shape[0];
    lap('nms');
    applyBoxDeltas(rows, columns(rows, 5, 4), { plusOne: true });
    squareBoxes(rows);
    if (stopAfter === 2) return readCandidates(rows);

    // Stage 3: O-Net on 48x48 crops; landmarks relative to the stage-2 box.
    const o = this.refine(table, img, rows, 48, (x) => this.onet.forward(x), opts.chunkSize);
    // rows: x1 y1 x2 y2 | O-Net score | deltas (4) | landmarks (10)
    let final = concat([columns(rows, 0, 4), columns(o.prob, 1, 1), o.reg, o.landmarks!], 1);
    final = await this.passing(final, opts.thresholds[2]);
    counts.onetPassed = final.shape[0];
    lap('onet');
    if (final.shape[0] === 0) return [];
    landmarksToPoints(final, 9);
    applyBoxDeltas(final, columns(final, 5, 4), { plusOne: true });
    final = await this.keep(final, nms(columns(final, 0, 4), columns(final, 4, 1).reshapeView([final.shape[0]]), 0.7, 'min', { plusOne: true }));
    counts.final = final.shape[0];
    lap('nms');

    const host = (await final.data()) as Float32Array;
    lap('transfer');
    const faces: Face[] = [];
    for (let i = 0; i < final.shape[0]; i++) {
      const v = host.subarray(i * 19, (i + 1) * 19);
      faces.push({
        box: [v[0], v[1], v[2], v[3]],
        score: v[4],
        landmarks: [0, 1, 2, 3, 4].map((k) => [v[9 + k], v[14 + k]] as Point) as Face['landmarks'],
      });
    }
    return faces;
  }

  /** Rows of `rows` that NMS kept, in its (descending score) order. */
  private async keep(rows: Tensor, result: { indices: Tensor; count: Tensor }): Promise<Tensor> {
    const k = await readCount(result.count);
    return gatherRows(rows, result.indices, k);
  }

  /** Rows whose score (column 4) is above the threshold (strict, as the reference). */
  private async passing(rows: Tensor, threshold: number): Promise<Tensor> {
    const pass = thresholdIndices(rows, threshold, { stride: rows.shape[1], offset: 4, strict: true });
    const k = await readCount(pass.count);
    return gatherRows(rows, pass.indices, k);
  }

  /** Runs a refinement net over crops of `boxes` in fixed-size chunks. */
  private refine(table: Tensor, img: () => Tensor, boxes: Tensor, size: number, net: (x: Tensor) => { cls: Tensor; reg: Tensor; landmarks?: Tensor }, chunk: number) {
    const [H, W] = [table.shape[0] - 1, table.shape[1] - 1];
    const k = boxes.shape[0];
    const probs: Tensor[] = [];
    const regs: Tensor[] = [];
    const lms: Tensor[] = [];
    for (let start = 0; start < k; start += chunk) {
      const n = Math.min(chunk, k - start);
      const chunkBoxes = slice(boxes, [start, 0], [n, 4]);
      const crops = packedCropExact(H, W, [size, size])
        ? cropAreaPacked(table, chunkBoxes, [size, size], { normalize: {} })
        : cropAndResize(img(), chunkBoxes, null, [size, size], { method: 'area', normalize: {} });
      const out = net(crops);
      probs.push(softmax(out.cls));
      regs.push(out.reg);
      if (out.landmarks) lms.push(out.landmarks);
    }
    const cat = (ts: Tensor[]) => (ts.length === 1 ? ts[0] : concat(ts, 0));
    return { prob: cat(probs), reg: cat(regs), landmarks: lms.length ? cat(lms) : undefined };
  }
}
