// `npm run eval:detect -- --data PATH --format caltech|dlib|wider [options]`:
// detection quality of MTCNN on an annotated set. A thin shell: the loaders
// are in tools/annotations.ts; matching and average precision are pure
// functions here (tested without a GPU); the GPU only runs the detector.
//
// With --json the last line of stdout is
//   {"recall": r, "precision": p, "ap": a, "faces": n, "detections": m, ...}
import { parseArgs } from 'node:util';
import { existsSync, statSync } from 'node:fs';
import { init, shutdown } from '../engine/runtime.js';
import { readImage } from './image.js';
import { progressBar } from './progress.js';
import { loadMtcnnWeights, DEFAULT_MTCNN_DIR } from './models.js';
import { DEFAULT_DETECT_OPTIONS, MtcnnDetector, type DetectOptions } from '../nets/mtcnn/detector.js';
import { createMtcnnNets, type MtcnnWeights, type MtcnnVariant } from '../nets/mtcnn/index.js';
import { ANNOTATION_FORMATS, loadAnnotations, type AnnotatedFace, type AnnotatedImage, type AnnotationFormat, type Box } from './annotations.js';
import { isMain, runMain } from './cli.js';

// ---------------------------------------------------------------------------
// Loading a cascade of either architecture

/**
 * The architecture of a set of MTCNN weights: the batchnorm variant has
 * bn{i} tensors where the original has prelu{i} (train/mtcnn exports either).
 */
export function mtcnnVariantOf(weights: MtcnnWeights): MtcnnVariant {
  const bn = (m: Map<string, unknown>) => [...m.keys()].some((k) => k.startsWith('bn1.'));
  const kinds = [weights.pnet, weights.rnet, weights.onet].map(bn);
  if (kinds.some((k) => k !== kinds[0])) throw new Error('pnet, rnet and onet mix the original (PReLU) and batchnorm architectures; the detector runs one');
  return kinds[0] ? 'bn' : 'original';
}

/** The detector over pnet/rnet/onet.safetensors in `dir` (PyTorch layout), original or batchnorm nets. */
export async function loadDetector(dir = DEFAULT_MTCNN_DIR): Promise<MtcnnDetector> {
  const weights = await loadMtcnnWeights(dir);
  const { pnet, rnet, onet } = createMtcnnNets(weights, mtcnnVariantOf(weights), dir);
  return new MtcnnDetector(pnet, rnet, onet);
}

// ---------------------------------------------------------------------------
// Matching and scores (pure)

/**
 * When a detection finds a face. Caltech faces are four points (eyes, nose,
 * mouth), so a box finds a face when it contains them all; dlib and WIDER
 * faces are boxes, drawn tighter than MTCNN's, hence a lenient IoU.
 */
export type MatchCriterion = { kind: 'points' } | { kind: 'iou'; threshold: number };

export const DEFAULT_IOU = 0.3;

export function criterionFor(format: AnnotationFormat, iouThreshold = DEFAULT_IOU): MatchCriterion {
  return format === 'caltech' ? { kind: 'points' } : { kind: 'iou', threshold: iouThreshold };
}

export interface ScoredBox {
  box: Box;
  score: number;
}

/** hit: found an unmatched face; false: found nothing (or a face already found); ignored: found only a don't-care face. */
export type DetectionOutcome = 'hit' | 'false' | 'ignored';

export interface ImageMatch {
  /** One per detection, in the order the detections were given. */
  outcomes: DetectionOutcome[];
  /** One per face: whether a detection found it (always false for ignored faces). */
  found: boolean[];
}

/** Intersection over union of two boxes, as continuous areas. */
export function iou(a: Box, b: Box): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * How well a box fits a face, higher is better, or null when it does not
 * find the face at all. Points: the box must contain every point; among
 * several such faces (a box over two heads), the one whose points centre
 * lies nearest the box centre fits best.
 */
export function matchQuality(box: Box, face: AnnotatedFace, criterion: MatchCriterion): number | null {
  if (criterion.kind === 'iou') {
    if (!face.box) throw new Error('a face without a box cannot be matched by IoU');
    const v = iou(box, face.box);
    return v >= criterion.threshold ? v : null;
  }
  const points = face.points;
  if (!points || points.length === 0) throw new Error('a face without points cannot be matched by point containment');
  if (!points.every(([x, y]) => x >= box[0] && x <= box[2] && y >= box[1] && y <= box[3])) return null;
  const cx = points.reduce((s, p) => s + p[0], 0) / points.length;
  const cy = points.reduce((s, p) => s + p[1], 0) / points.length;
  return -Math.hypot(cx - (box[0] + box[2]) / 2, cy - (box[1] + box[3]) / 2);
}

/**
 * Greedy matching of one image, as in the PASCAL VOC protocol: detections in
 * order of decreasing score each take the best-fitting face not yet taken.
 * A detection that fits only ignored faces is set aside (neither a hit nor a
 * false positive); one that fits only faces already taken is a duplicate and
 * counts as false.
 */
export function matchImage(detections: readonly ScoredBox[], faces: readonly AnnotatedFace[], criterion: MatchCriterion): ImageMatch {
  const order = detections.map((_, i) => i).sort((a, b) => detections[b].score - detections[a].score);
  const outcomes: DetectionOutcome[] = new Array(detections.length);
  const found = faces.map(() => false);
  for (const d of order) {
    const box = detections[d].box;
    let best = -1;
    let bestQuality = -Infinity;
    faces.forEach((face, f) => {
      if (face.ignore || found[f]) return;
      const q = matchQuality(box, face, criterion);
      if (q !== null && q > bestQuality) {
        best = f;
        bestQuality = q;
      }
    });
    if (best >= 0) {
      found[best] = true;
      outcomes[d] = 'hit';
    } else {
      outcomes[d] = faces.some((face) => face.ignore && matchQuality(box, face, criterion) !== null) ? 'ignored' : 'false';
    }
  }
  return { outcomes, found };
}

/**
 * Area under the precision-recall curve traced by lowering the score
 * threshold through the ranked detections, with all-point interpolation
 * (PASCAL VOC 2010+): precision at recall r is the best precision at any
 * recall >= r, integrated over every recall step.
 */
export function averagePrecision(ranked: readonly { score: number; hit: boolean }[], faceCount: number): number {
  if (faceCount === 0) return 0;
  const sorted = [...ranked].sort((a, b) => b.score - a.score);
  const recall = [0];
  const precision = [0];
  let hits = 0;
  sorted.forEach((d, i) => {
    if (d.hit) hits++;
    recall.push(hits / faceCount);
    precision.push(hits / (i + 1));
  });
  recall.push(1);
  precision.push(0);
  for (let i = precision.length - 2; i >= 0; i--) precision[i] = Math.max(precision[i], precision[i + 1]);
  let ap = 0;
  for (let i = 0; i + 1 < recall.length; i++) ap += (recall[i + 1] - recall[i]) * precision[i + 1];
  return ap;
}

export interface DetectionMetrics {
  /** Found faces / faces. */
  recall: number;
  /** Hits / counted detections. */
  precision: number;
  ap: number;
  /** Faces that count (ignored ones left out). */
  faces: number;
  /** Detections that count: hits and false ones (those on ignored faces left out). */
  detections: number;
  hits: number;
  ignoredDetections: number;
  ignoredFaces: number;
  images: number;
}

export interface ImageResult {
  faces: readonly AnnotatedFace[];
  detections: readonly ScoredBox[];
  match: ImageMatch;
}

/** Totals, recall, precision and AP over images. Empty denominators give 0. */
export function summarize(results: readonly ImageResult[]): DetectionMetrics {
  let faces = 0;
  let ignoredFaces = 0;
  let found = 0;
  let ignoredDetections = 0;
  const ranked: { score: number; hit: boolean }[] = [];
  for (const r of results) {
    for (const [f, face] of r.faces.entries()) {
      if (face.ignore) ignoredFaces++;
      else {
        faces++;
        if (r.match.found[f]) found++;
      }
    }
    r.detections.forEach((d, i) => {
      const outcome = r.match.outcomes[i];
      if (outcome === 'ignored') ignoredDetections++;
      else ranked.push({ score: d.score, hit: outcome === 'hit' });
    });
  }
  const detections = ranked.length;
  return {
    recall: faces ? found / faces : 0,
    precision: detections ? found / detections : 0,
    ap: averagePrecision(ranked, faces),
    faces,
    detections,
    hits: found,
    ignoredDetections,
    ignoredFaces,
    images: results.length,
  };
}

// ---------------------------------------------------------------------------
// Command line

const HELP = `usage: npm run eval:detect -- --data PATH --format caltech|dlib|wider [options]

Runs MTCNN over an annotated set and reports recall (faces found / faces),
precision (detections that found a face / detections), average precision
(area under the precision-recall curve, all-point interpolation as in PASCAL
VOC 2010+), the counts and the time per image.

Matching is greedy by detection score, per image: a detection finds a face
not yet found when
  caltech      its box contains all four points of the face (eyes, nose, mouth)
  dlib, wider  its box overlaps the face's box with IoU >= --iou
A detection on a face marked ignore (dlib ignore='1', WIDER invalid=1) counts
neither as a hit nor as a false positive; such faces are not misses.

PATH is the annotation file, or a folder holding it:
  caltech  the ground-truth .txt (img Leye_x Leye_y Reye_x Reye_y nose_x nose_y
           mouth_x mouth_y); images in images/ next to it
  dlib     imglab XML (training.xml, testing.xml; a folder means testing.xml);
           image paths relative to the XML
  wider    wider_face_<split>_bbx_gt.txt; images in ../WIDER_<split>/images

options:
  --data PATH          annotation file or folder (required)
  --format F           caltech, dlib or wider (required)
  --images DIR         where the images are (overrides the format's default)
  --iou T              IoU needed to match a box, 0 < T <= 1 (default ${DEFAULT_IOU}; dlib, wider)
  --limit N            only the first N images of the annotation file
  --json               end stdout with one line
                       {"recall", "precision", "ap", "faces", "detections", ...}
  --min-face N         smallest face to find, in pixels (default ${DEFAULT_DETECT_OPTIONS.minFaceSize})
  --thresholds a,b,c   P-Net, R-Net, O-Net face probability thresholds (default ${DEFAULT_DETECT_OPTIONS.thresholds.join(',')})
  --factor F           image pyramid scale step, 0 < F < 1 (default ${DEFAULT_DETECT_OPTIONS.factor})
  --weights DIR        folder with pnet/rnet/onet.safetensors, original or batchnorm
                       nets (train:pnet/rnet/onet write them; default: the bundled ones)
  -h, --help           this text

exit status: 0 when every image was evaluated; 1 when some image could not
be read (reported on stderr and left out of the figures); 2 for bad options,
a missing or malformed annotation file, or missing images.`;

export interface EvalDetectOptions extends DetectOptions {
  data: string;
  format: AnnotationFormat;
  images?: string;
  iou: number;
  limit?: number;
  json: boolean;
  weights: string;
}

export function parseEvalDetectArgs(argv: string[]): EvalDetectOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      data: { type: 'string' },
      format: { type: 'string' },
      images: { type: 'string' },
      iou: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
      'min-face': { type: 'string' },
      thresholds: { type: 'string' },
      factor: { type: 'string' },
      weights: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new Error(`unexpected argument ${positionals[0]} (the data set goes after --data)`);
  if (values.data === undefined) throw new Error('--data PATH is required (see --help)');
  const format = values.format;
  if (format === undefined) throw new Error(`--format is required: ${ANNOTATION_FORMATS.join(', ')}`);
  if (!(ANNOTATION_FORMATS as readonly string[]).includes(format)) throw new Error(`--format ${format}: must be one of ${ANNOTATION_FORMATS.join(', ')}`);
  const num = (name: string, v: string | undefined, check: (x: number) => boolean, what: string) => {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x) || !check(x)) throw new Error(`--${name} ${v}: must be ${what}`);
    return x;
  };
  const opts: EvalDetectOptions = {
    data: values.data,
    format: format as AnnotationFormat,
    images: values.images,
    iou: num('iou', values.iou, (x) => x > 0 && x <= 1, 'a number in (0, 1]') ?? DEFAULT_IOU,
    limit: num('limit', values.limit, (x) => Number.isInteger(x) && x >= 1, 'a whole number >= 1'),
    json: values.json ?? false,
    weights: values.weights ?? DEFAULT_MTCNN_DIR,
  };
  const minFace = num('min-face', values['min-face'], (x) => x >= 1, 'a number of pixels >= 1');
  if (minFace !== undefined) opts.minFaceSize = minFace;
  const factor = num('factor', values.factor, (x) => x > 0 && x < 1, 'between 0 and 1');
  if (factor !== undefined) opts.factor = factor;
  if (values.thresholds !== undefined) {
    const t = values.thresholds.split(',').map(Number);
    if (t.length !== 3 || t.some((x) => !(x >= 0 && x <= 1))) throw new Error(`--thresholds ${values.thresholds}: must be three probabilities a,b,c`);
    opts.thresholds = [t[0], t[1], t[2]];
  }
  return opts;
}

/**
 * Everything that can be checked before the GPU starts: the annotation file
 * parses, every image it names exists, the weights folder exists. Errors here
 * are the user's input (exit 2).
 */
export function prepareEvaluation(opts: EvalDetectOptions): { file: string; images: AnnotatedImage[] } {
  if (opts.images !== undefined && !existsSync(opts.images)) throw new Error(`--images ${opts.images}: no such folder`);
  const { file, images: all } = loadAnnotations(opts.data, opts.format, opts.images);
  const images = opts.limit === undefined ? all : all.slice(0, opts.limit);
  const missing = images.filter((im) => !existsSync(im.image)).map((im) => im.image);
  if (missing.length > 0) {
    const shown = missing.slice(0, 3).join(', ');
    throw new Error(`${file}: ${missing.length} of ${images.length} images do not exist (${shown}${missing.length > 3 ? ', ...' : ''}); --images DIR says where they are`);
  }
  if (!existsSync(opts.weights) || !statSync(opts.weights).isDirectory()) throw new Error(`--weights ${opts.weights}: no such folder`);
  return { file, images };
}

export interface EvaluationRun {
  metrics: DetectionMetrics;
  /** Mean wall time per evaluated image, decoding included. */
  msPerImage: number;
  failures: number;
}

export async function evaluateDetection(images: readonly AnnotatedImage[], opts: EvalDetectOptions): Promise<EvaluationRun> {
  const detector = await loadDetector(opts.weights);
  const criterion = criterionFor(opts.format, opts.iou);
  const results: ImageResult[] = [];
  const bar = progressBar(images.length, 'eval:detect');
  let failures = 0;
  let found = 0;
  let faces = 0;
  let elapsedMs = 0;
  for (const { image, faces: truth } of images) {
    try {
      const start = performance.now();
      const detections = await detector.detect(await readImage(image), opts);
      elapsedMs += performance.now() - start;
      const match = matchImage(detections, truth, criterion);
      results.push({ faces: truth, detections, match });
      found += match.found.filter(Boolean).length;
      faces += truth.filter((f) => !f.ignore).length;
    } catch (e) {
      failures++;
      const msg = (e as Error).message;
      console.error(`error: ${msg.startsWith(image) ? msg : `${image}: ${msg}`}`);
    }
    bar.tick(1, faces ? `recall ${(found / faces).toFixed(3)}` : '');
  }
  const metrics = summarize(results);
  bar.done(`recall ${metrics.recall.toFixed(3)}${failures ? `, ${failures} failed` : ''}`);
  return { metrics, msPerImage: results.length ? elapsedMs / results.length : 0, failures };
}

const round = (v: number, digits = 4) => Number(v.toFixed(digits));

export function formatReport(file: string, opts: EvalDetectOptions, run: EvaluationRun): string {
  const m = run.metrics;
  const rule = opts.format === 'caltech' ? 'box contains the 4 points' : `IoU >= ${opts.iou}`;
  const rows: [string, string][] = [
    ['annotations', `${file} (${opts.format}; match: ${rule})`],
    ['images', `${m.images}${run.failures ? ` (${run.failures} unreadable, left out)` : ''}`],
    ['faces', `${m.faces}${m.ignoredFaces ? ` (+${m.ignoredFaces} ignored)` : ''}`],
    ['detections', `${m.detections}: ${m.hits} found a face, ${m.detections - m.hits} false${m.ignoredDetections ? ` (+${m.ignoredDetections} on ignored faces)` : ''}`],
    ['recall', m.recall.toFixed(4)],
    ['precision', m.precision.toFixed(4)],
    ['AP', m.ap.toFixed(4)],
    ['time', `${run.msPerImage.toFixed(0)} ms per image (decode + detect)`],
  ];
  return rows.map(([k, v]) => `${k.padEnd(12)}${v}`).join('\n');
}

export function summaryJson(run: EvaluationRun): string {
  const m = run.metrics;
  // Key order is part of the interface: recall, precision, ap, faces, detections first.
  return JSON.stringify({
    recall: round(m.recall),
    precision: round(m.precision),
    ap: round(m.ap),
    faces: m.faces,
    detections: m.detections,
    images: m.images,
    ignored_faces: m.ignoredFaces,
    ignored_detections: m.ignoredDetections,
    ms_per_image: round(run.msPerImage, 1),
    failed_images: run.failures,
  });
}

async function main(): Promise<number> {
  let opts;
  let prepared;
  try {
    opts = parseEvalDetectArgs(process.argv.slice(2));
    if (opts === 'help') {
      console.log(HELP);
      return 0;
    }
    prepared = prepareEvaluation(opts);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return 2;
  }
  try {
    await init();
    const run = await evaluateDetection(prepared.images, opts);
    console.log(formatReport(prepared.file, opts, run));
    if (opts.json) console.log(summaryJson(run));
    return run.failures ? 1 : 0;
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return 1;
  } finally {
    await shutdown();
  }
}

if (isMain(import.meta.url)) await runMain(main);
