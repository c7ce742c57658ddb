// MTCNN training samples, pure logic (no GPU, no files): random crop
// proposals around annotated faces and in face-free regions, labelled by IoU
// with the faces as in Zhang et al. 2016, with box-regression and landmark
// targets normalised by the crop size.
//
//   label  1 positive   IoU > posIoU with its face          box targets
//          0 negative   IoU < negIoU with every face        -
//         -1 part       partLow <= IoU <= partHigh          box targets
//         -2 landmark   IoU > posIoU, face has five points  landmark targets
//
// Crops are squares inside the image (x1, y1, x2, y2, continuous pixel-edge
// coordinates, x2 - x1 = y2 - y1 = side). Targets:
//   box:      ((fx1 - x1) / side, (fy1 - y1) / side, (fx2 - x2) / side, (fy2 - y2) / side)
//   landmark: ((px - x1) / side, (py - y1) / side) for each of the 5 points
// so face = crop + target * side (boxToImage / landmarksToImage undo them).
import type { AnnotatedFace, Box, Point } from '../../tools/annotations.js';

export const LABEL = { negative: 0, positive: 1, part: -1, landmark: -2 } as const;
export type Label = (typeof LABEL)[keyof typeof LABEL];
export const LABEL_NAMES: Record<Label, 'negative' | 'positive' | 'part' | 'landmark'> = {
  0: 'negative',
  1: 'positive',
  [-1]: 'part',
  [-2]: 'landmark',
} as Record<Label, 'negative' | 'positive' | 'part' | 'landmark'>;

export interface Sample {
  label: Label;
  /** Square crop in image pixels. */
  crop: Box;
  /** Index of the face the targets refer to (-1 for negatives). */
  face: number;
  /** Box-regression targets (zeros for negatives and landmark samples). */
  box: [number, number, number, number];
  /** 5 points x (x, y), normalised to the crop (zeros unless landmark). */
  landmarks: number[];
  /** Max IoU with any (non-ignored or ignored) face. */
  iou: number;
}

export interface SampleOptions {
  /** Positives per face; negatives, parts and landmark samples follow `ratio`. */
  perFace: number;
  /** neg : pos : part : landmark. */
  ratio: readonly [number, number, number, number];
  posIoU: number;
  partLow: number;
  partHigh: number;
  negIoU: number;
  /** Faces smaller than this (box side, pixels) get no positive/part/landmark samples. */
  minFace: number;
  /** Smallest negative crop side, pixels (the net input size is a good choice). */
  minCrop: number;
  /** Proposal attempts per wanted sample before giving up (faces at the border, crowded images). */
  triesPerSample: number;
}

export const DEFAULT_SAMPLE_OPTIONS: SampleOptions = {
  perFace: 8,
  ratio: [3, 1, 1, 2],
  posIoU: 0.65,
  partLow: 0.4,
  partHigh: 0.65,
  negIoU: 0.3,
  minFace: 20,
  minCrop: 12,
  triesPerSample: 30,
};

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seed for one image, so a resumed run gives the same samples as an uninterrupted one. */
export function imageSeed(seed: number, index: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
}

export function iou(a: Box, b: Box): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * A face box from landmarks when the annotation has none (Caltech: eyes,
 * nose, mouth centre; MTFL/CelebA: eyes, nose, mouth corners). A square
 * whose side is 2.5x the larger of the eye distance and the eye-to-mouth
 * distance, with the eyes at about 35% and the mouth at about 75% of its
 * height, roughly where MTCNN's own boxes put them. An approximation.
 */
export function boxFromPoints(points: readonly Point[]): Box {
  if (points.length < 4) throw new Error(`boxFromPoints: need at least 4 points (eyes, nose, mouth), got ${points.length}`);
  const [le, re] = points;
  const mouth: Point = points.length >= 5 ? [(points[3][0] + points[4][0]) / 2, (points[3][1] + points[4][1]) / 2] : points[3];
  const eye: Point = [(le[0] + re[0]) / 2, (le[1] + re[1]) / 2];
  const eyeDist = Math.hypot(re[0] - le[0], re[1] - le[1]);
  const eyeMouth = Math.hypot(mouth[0] - eye[0], mouth[1] - eye[1]);
  const side = 2.5 * Math.max(eyeDist, eyeMouth);
  const cx = (eye[0] + mouth[0]) / 2;
  const cy = (eye[1] + mouth[1]) / 2 - 0.05 * side;
  return [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2];
}

export function faceBox(face: AnnotatedFace): Box | null {
  if (face.box) return face.box;
  if (face.points && face.points.length >= 4) return boxFromPoints(face.points);
  return null;
}

export function boxTargets(crop: Box, face: Box): [number, number, number, number] {
  const s = crop[2] - crop[0];
  return [(face[0] - crop[0]) / s, (face[1] - crop[1]) / s, (face[2] - crop[2]) / s, (face[3] - crop[3]) / s];
}

export function boxToImage(crop: Box, t: ArrayLike<number>): Box {
  const s = crop[2] - crop[0];
  return [crop[0] + t[0] * s, crop[1] + t[1] * s, crop[2] + t[2] * s, crop[3] + t[3] * s];
}

export function landmarkTargets(crop: Box, points: readonly Point[]): number[] {
  const s = crop[2] - crop[0];
  return points.flatMap(([x, y]) => [(x - crop[0]) / s, (y - crop[1]) / s]);
}

export function landmarksToImage(crop: Box, t: ArrayLike<number>): Point[] {
  const s = crop[2] - crop[0];
  const out: Point[] = [];
  for (let i = 0; i + 1 < t.length; i += 2) out.push([crop[0] + t[i] * s, crop[1] + t[i + 1] * s]);
  return out;
}

export function labelFor(maxIoU: number, o: Pick<SampleOptions, 'posIoU' | 'partLow' | 'partHigh' | 'negIoU'>): Label | null {
  if (maxIoU > o.posIoU) return LABEL.positive;
  if (maxIoU >= o.partLow && maxIoU <= o.partHigh) return LABEL.part;
  if (maxIoU < o.negIoU) return LABEL.negative;
  return null;
}

function checkOptions(o: SampleOptions): void {
  if (!(o.negIoU <= o.partLow && o.partLow <= o.partHigh && o.partHigh <= o.posIoU + 1e-9)) {
    throw new Error(`sample options: need negIoU <= partLow <= partHigh <= posIoU, got ${o.negIoU}, ${o.partLow}, ${o.partHigh}, ${o.posIoU}`);
  }
  if (!(o.perFace > 0) || o.ratio.length !== 4 || o.ratio.some((r) => !(r >= 0))) throw new Error('sample options: perFace must be > 0 and ratio four numbers >= 0');
}

/** The face (index into `boxes`, null entries skipped) a crop overlaps most, and that IoU; [0, -1] when none. */
function bestOverlap(crop: Box, boxes: readonly (Box | null)[]): [number, number] {
  let best = 0;
  let at = -1;
  boxes.forEach((b, i) => {
    if (!b) return;
    const v = iou(crop, b);
    if (v > best) {
      best = v;
      at = i;
    }
  });
  return [best, at];
}

/**
 * Samples for one image (width x height) with its faces. Positives and parts
 * are jittered squares around each face; landmark samples are positive-grade
 * crops of faces with five points; negatives are random squares anywhere (a
 * third of them near a face) overlapping every face by less than negIoU.
 * Each face's quota is perFace x ratio; proposals that land in no class
 * asked for are dropped, so a crowded image may give fewer.
 */
export function proposeSamples(width: number, height: number, faces: readonly AnnotatedFace[], random: () => number, opts: Partial<SampleOptions> = {}): Sample[] {
  const o: SampleOptions = { ...DEFAULT_SAMPLE_OPTIONS, ...opts };
  checkOptions(o);
  const boxes = faces.map(faceBox);
  const all = boxes.filter((b): b is Box => b !== null);
  const out: Sample[] = [];
  const maxIoU = (crop: Box) => bestOverlap(crop, boxes);
  const inside = (c: Box) => c[0] >= 0 && c[1] >= 0 && c[2] <= width && c[3] <= height && c[2] - c[0] >= 1;
  const [negR, posR, partR, lmR] = o.ratio;
  const want = (r: number) => Math.round((o.perFace * r) / posR || 0);

  // Faces: positives, parts, landmark samples.
  let usable = 0;
  boxes.forEach((b, fi) => {
    const face = faces[fi];
    if (!b || face.ignore) return;
    const w = b[2] - b[0];
    const h = b[3] - b[1];
    if (Math.max(w, h) < o.minFace || w <= 0 || h <= 0) return;
    usable++;
    const points = face.points?.length === 5 ? face.points : null;
    const quota = { [LABEL.positive]: want(posR), [LABEL.part]: want(partR), [LABEL.landmark]: points ? want(lmR) : 0 } as Record<number, number>;
    const total = quota[LABEL.positive] + quota[LABEL.part] + quota[LABEL.landmark];
    const cx = (b[0] + b[2]) / 2;
    const cy = (b[1] + b[3]) / 2;
    for (let t = 0; t < total * o.triesPerSample && quota[LABEL.positive] + quota[LABEL.part] + quota[LABEL.landmark] > 0; t++) {
      // Alternate tight jitter (positives, landmarks) and loose jitter (parts).
      const loose = quota[LABEL.part] > 0 && (t % 2 === 1 || quota[LABEL.positive] + quota[LABEL.landmark] === 0);
      const j = loose ? 0.35 : 0.12;
      const side = Math.max(w, h) * (loose ? 0.8 + random() * 0.5 : 0.9 + random() * 0.25);
      const ox = (random() * 2 - 1) * j * w;
      const oy = (random() * 2 - 1) * j * h;
      const x1 = cx + ox - side / 2;
      const y1 = cy + oy - side / 2;
      const crop: Box = [x1, y1, x1 + side, y1 + side];
      if (!inside(crop)) continue;
      const [best, at] = maxIoU(crop);
      if (at !== fi) continue; // closer to another face: its own turn covers it
      let label = labelFor(best, o);
      if (label === LABEL.positive && quota[LABEL.positive] === 0 && quota[LABEL.landmark] > 0) label = LABEL.landmark;
      if (label === null || label === LABEL.negative || quota[label] === 0) continue;
      quota[label]--;
      out.push({
        label,
        crop,
        face: fi,
        box: label === LABEL.landmark ? [0, 0, 0, 0] : boxTargets(crop, b),
        landmarks: label === LABEL.landmark ? landmarkTargets(crop, points!) : new Array(10).fill(0),
        iou: best,
      });
    }
  });

  // Negatives: perFace x neg ratio per usable face (at least one face's worth
  // for an image without faces), a third of them near faces.
  let negatives = want(negR) * Math.max(usable, 1);
  const near = all.length > 0 ? Math.floor(negatives / 3) : 0;
  const minSide = Math.max(1, o.minCrop);
  const maxSide = Math.min(width, height) / 2;
  let nearLeft = near;
  for (let t = 0; negatives > 0 && t < (negatives + 1) * o.triesPerSample; t++) {
    let crop: Box;
    if (nearLeft > 0 && t % 2 === 0) {
      const b = all[Math.floor(random() * all.length)];
      const fw = b[2] - b[0];
      const side = Math.max(minSide, fw * (0.6 + random() * 0.8));
      const x1 = b[0] + (random() * 2 - 1) * side;
      const y1 = b[1] + (random() * 2 - 1) * side;
      crop = [x1, y1, x1 + side, y1 + side];
    } else {
      if (maxSide < minSide) break;
      const side = minSide + random() * (maxSide - minSide);
      const x1 = random() * (width - side);
      const y1 = random() * (height - side);
      crop = [x1, y1, x1 + side, y1 + side];
    }
    if (!inside(crop)) continue;
    const [best] = maxIoU(crop);
    if (labelFor(best, o) !== LABEL.negative) continue;
    if (nearLeft > 0 && t % 2 === 0) nearLeft--;
    negatives--;
    out.push({ label: LABEL.negative, crop, face: -1, box: [0, 0, 0, 0], landmarks: new Array(10).fill(0), iou: best });
  }
  return out;
}

export interface MineOptions extends Pick<SampleOptions, 'posIoU' | 'partLow' | 'partHigh' | 'negIoU'> {
  /** Negatives kept per image (chosen at random among the negative candidates). */
  maxNegatives: number;
}

/**
 * Hard examples (Zhang et al. 2016): the boxes an earlier stage of the
 * cascade proposes for an image, labelled by their IoU with the annotated
 * faces, positive / part against the best-overlapping face (whose box targets
 * they get), negative when they overlap every face (ignored ones too) by less
 * than negIoU. Boxes are square, in pixel-edge coordinates, and may extend
 * past the image (the detector crops them so, too). Candidates whose best
 * face is ignored, and those between the classes, are dropped; negatives are
 * thinned to maxNegatives at random.
 */
export function labelCandidates(candidates: readonly Box[], faces: readonly AnnotatedFace[], random: () => number, o: MineOptions): Sample[] {
  const boxes = faces.map(faceBox);
  const kept: Sample[] = [];
  const negatives: Sample[] = [];
  for (const crop of candidates) {
    if (!(crop[2] - crop[0] > 0 && crop[3] - crop[1] > 0)) continue;
    const [best, at] = bestOverlap(crop, boxes);
    const label = labelFor(best, o);
    if (label === null) continue;
    if (label === LABEL.negative) {
      negatives.push({ label, crop, face: -1, box: [0, 0, 0, 0], landmarks: new Array(10).fill(0), iou: best });
      continue;
    }
    if (faces[at].ignore) continue;
    kept.push({ label, crop, face: at, box: boxTargets(crop, boxes[at]!), landmarks: new Array(10).fill(0), iou: best });
  }
  for (let i = negatives.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [negatives[i], negatives[j]] = [negatives[j], negatives[i]];
  }
  return [...kept, ...negatives.slice(0, Math.max(0, o.maxNegatives))];
}
