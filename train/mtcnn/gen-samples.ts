// `npm run gen:mtcnn -- --data PATH --format F --size 12|24|48 --out DIR ...`:
// MTCNN training samples (positive, negative, part, landmark) cut from an
// annotated face set into packed shards (train/mtcnn/shards.ts).
//
// Crop proposals and labels are pure (train/mtcnn/samples.ts); the crops are
// cut and resized on the GPU (cropAndResize, bilinear) in one batch per
// image and read back. Resumable: the index records finished images.
//
// Hard examples (--mine WEIGHTS_DIR): for R-Net samples (24) the P-Net stage
// of a cascade, for O-Net samples (48) P-Net + R-Net, run over each image;
// the boxes they hand on are labelled by IoU with the faces
// (samples.ts: labelCandidates) and cut exactly as the detector cuts them.
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { init, shutdown } from '../../engine/runtime.js';
import { Tensor, tidy } from '../../engine/tensor.js';
import { cropAndResize, normalizeImage, packRgba } from '../../engine/ops/image.js';
import { readImage, type RgbaImage } from '../../tools/image.js';
import { progressBar } from '../../tools/progress.js';
import { ALL_ANNOTATION_FORMATS, loadAnnotations, type AnnotatedImage, type AnyAnnotationFormat, type Box } from '../../tools/annotations.js';
import { DEFAULT_SAMPLE_OPTIONS, imageSeed, labelCandidates, proposeSamples, rng, type Sample, type SampleOptions } from './samples.js';
import { loadDetector } from '../../tools/eval-detect.js';
import type { MtcnnDetector, DetectOptions } from '../../nets/mtcnn/detector.js';
import { ShardWriter, type ShardRecord } from './shards.js';
import { isMain, runMain } from '../../tools/cli.js';

/** Lower than detection's 0.6,0.7,0.7: mining wants the near misses too. */
export const DEFAULT_MINE_THRESHOLDS: [number, number, number] = [0.6, 0.6, 0.7];

export const HELP = `usage: npm run gen:mtcnn -- --data PATH --format caltech|dlib|wider|celeba|mtfl --size 12|24|48 --out DIR [options]

Cuts MTCNN training samples from an annotated face set: random square crops
around each face labelled positive (IoU > pos), part (part range) or negative
(IoU < neg, also from random face-free regions), with box-regression targets,
and landmark samples (faces with five points: celeba, mtfl) with landmark
targets, about neg:pos:part:landmark = 3:1:1:2. Crops are resized on the GPU
and written to DIR/shard-*.bin with DIR/index.json (layout, counts, shards).

  --data PATH        annotation file, or the folder holding it
  --format F         ${ALL_ANNOTATION_FORMATS.join(', ')}
  --images DIR       where the images are (default: the format's usual place)
  --size N           12 (P-Net), 24 (R-Net) or 48 (O-Net)
  --out DIR          output folder
  --per-face N       positives per face (default ${DEFAULT_SAMPLE_OPTIONS.perFace})
  --pos T            positive IoU threshold (default ${DEFAULT_SAMPLE_OPTIONS.posIoU})
  --part A,B         part IoU range (default ${DEFAULT_SAMPLE_OPTIONS.partLow},${DEFAULT_SAMPLE_OPTIONS.partHigh})
  --neg T            negative IoU threshold (default ${DEFAULT_SAMPLE_OPTIONS.negIoU})
  --min-face N       smallest face used for positives, pixels (default ${DEFAULT_SAMPLE_OPTIONS.minFace})
  --seed S           random seed (default 1); each image gets its own stream
  --limit N          only the first N images
  --shard-mb N       shard size bound in MiB (default 64)
  --resize M         area (default: the detector's own resampling, so samples
                     look like what the nets see when detecting) or bilinear
  --mine DIR         also mine hard examples with the cascade in DIR (pnet/rnet/
                     onet.safetensors, e.g. models/mtcnn or a trained one): for
                     --size 24 the boxes P-Net proposes, for 48 those P-Net +
                     R-Net pass, labelled by IoU like the random crops
  --mine-only        only mined samples, no random crops
  --mine-neg N       mined negatives kept per image (default 3x the image's
                     mined positives + parts, at least 3x --per-face). Where
                     not every face is annotated (Caltech WebFaces), a
                     cascade's confident boxes on no annotated face are mostly
                     unannotated faces: use --mine-neg 0 there, or fine-tuning
                     learns to reject faces (measured: R-Net alone cost 2.8
                     points of recall with mined negatives, 0.6 without)
  --mine-thresholds a,b,c  detector thresholds while mining (default ${DEFAULT_MINE_THRESHOLDS.join(',')})
  --mine-min-face N  smallest face the mining cascade looks for (default 20)
  --resume           continue an interrupted run in DIR (skips finished images)
  -h, --help         this text`;

export interface GenOptions {
  data: string;
  format: AnyAnnotationFormat;
  images?: string;
  size: 12 | 24 | 48;
  out: string;
  seed: number;
  limit?: number;
  resume: boolean;
  shardMb: number;
  sample: Partial<SampleOptions>;
  /** Crop resampling; default 'area'. */
  resize?: 'area' | 'bilinear';
  /** Weights folder of the cascade that mines hard examples (sizes 24 and 48). */
  mine?: string;
  mineOnly?: boolean;
  /** Mined negatives kept per image; default 3x the mined positives + parts, at least 3x perFace. */
  mineNeg?: number;
  mineThresholds?: [number, number, number];
  /** Smallest face the mining cascade looks for (its pyramid's first scale); default the detector's 20. */
  mineMinFace?: number;
}

export function parseGenArgs(argv: string[]): GenOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      data: { type: 'string' },
      format: { type: 'string' },
      images: { type: 'string' },
      size: { type: 'string' },
      out: { type: 'string' },
      'per-face': { type: 'string' },
      pos: { type: 'string' },
      part: { type: 'string' },
      neg: { type: 'string' },
      'min-face': { type: 'string' },
      seed: { type: 'string' },
      limit: { type: 'string' },
      'shard-mb': { type: 'string' },
      resize: { type: 'string' },
      mine: { type: 'string' },
      'mine-only': { type: 'boolean', default: false },
      'mine-neg': { type: 'string' },
      'mine-thresholds': { type: 'string' },
      'mine-min-face': { type: 'string' },
      resume: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new Error(`unexpected argument ${positionals[0]} (the data set goes after --data)`);
  if (values.data === undefined) throw new Error('--data PATH is required (see --help)');
  if (values.out === undefined) throw new Error('--out DIR is required (see --help)');
  const format = values.format;
  if (format === undefined || !(ALL_ANNOTATION_FORMATS as readonly string[]).includes(format)) {
    throw new Error(`--format ${format ?? '(missing)'}: must be one of ${ALL_ANNOTATION_FORMATS.join(', ')}`);
  }
  if (!['12', '24', '48'].includes(values.size ?? '')) throw new Error(`--size ${values.size ?? '(missing)'}: must be 12, 24 or 48`);
  const num = (name: string, v: string | undefined, check: (x: number) => boolean, what: string) => {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x) || !check(x)) throw new Error(`--${name} ${v}: must be ${what}`);
    return x;
  };
  const prob = (x: number) => x >= 0 && x <= 1;
  const sample: Partial<SampleOptions> = {};
  const perFace = num('per-face', values['per-face'], (x) => Number.isInteger(x) && x >= 1, 'a whole number >= 1');
  if (perFace !== undefined) sample.perFace = perFace;
  const pos = num('pos', values.pos, prob, 'in 0..1');
  if (pos !== undefined) sample.posIoU = pos;
  const neg = num('neg', values.neg, prob, 'in 0..1');
  if (neg !== undefined) sample.negIoU = neg;
  const minFace = num('min-face', values['min-face'], (x) => x >= 1, '>= 1');
  if (minFace !== undefined) sample.minFace = minFace;
  if (values.part !== undefined) {
    const p = values.part.split(',').map(Number);
    if (p.length !== 2 || !p.every(prob) || p[0] > p[1]) throw new Error(`--part ${values.part}: must be two IoUs A,B with A <= B`);
    [sample.partLow, sample.partHigh] = p;
  }
  const o = { ...DEFAULT_SAMPLE_OPTIONS, ...sample };
  if (!(o.negIoU <= o.partLow && o.partHigh <= o.posIoU)) {
    throw new Error(`thresholds overlap: need --neg (${o.negIoU}) <= part low (${o.partLow}) and part high (${o.partHigh}) <= --pos (${o.posIoU})`);
  }
  const size = Number(values.size) as 12 | 24 | 48;
  sample.minCrop ??= size;
  if (values.resize !== undefined && values.resize !== 'area' && values.resize !== 'bilinear') throw new Error(`--resize ${values.resize}: must be area or bilinear`);
  if (values.mine !== undefined && size === 12) throw new Error('--mine: P-Net samples (--size 12) have no earlier stage to mine with; use --size 24 or 48');
  if (values['mine-only'] && values.mine === undefined) throw new Error('--mine-only needs --mine DIR');
  let mineThresholds: [number, number, number] | undefined;
  if (values['mine-thresholds'] !== undefined) {
    const t = values['mine-thresholds'].split(',').map(Number);
    if (t.length !== 3 || !t.every(prob)) throw new Error(`--mine-thresholds ${values['mine-thresholds']}: must be three probabilities a,b,c`);
    mineThresholds = [t[0], t[1], t[2]];
  }
  return {
    data: values.data,
    format: format as AnyAnnotationFormat,
    images: values.images,
    size,
    out: values.out,
    seed: num('seed', values.seed, (x) => Number.isInteger(x) && x >= 0, 'a whole number >= 0') ?? 1,
    limit: num('limit', values.limit, (x) => Number.isInteger(x) && x >= 1, 'a whole number >= 1'),
    resume: values.resume ?? false,
    shardMb: num('shard-mb', values['shard-mb'], (x) => x > 0, '> 0') ?? 64,
    sample,
    resize: values.resize as 'area' | 'bilinear' | undefined,
    mine: values.mine,
    mineOnly: values['mine-only'] ?? false,
    mineNeg: num('mine-neg', values['mine-neg'], (x) => Number.isInteger(x) && x >= 0, 'a whole number >= 0'),
    mineThresholds,
    mineMinFace: num('mine-min-face', values['mine-min-face'], (x) => x >= 1, 'a number of pixels >= 1'),
  };
}

/**
 * Cuts the crops of one image on the GPU and reads them back as RGB bytes,
 * size*size*3 per crop. Boxes in pixel-edge coordinates. 'bilinear' samples
 * them continuously; 'area' is the detector's crop (whole pixels, area
 * averaged, parts outside the image clipped and the rest stretched), whose
 * boxes are 1-based: pixel-edge [x1, x2) is 1-based (x1 + 1 .. x2).
 */
export async function cutCrops(image: RgbaImage, crops: readonly Box[], size: number, method: 'bilinear' | 'area' = 'bilinear'): Promise<Uint8Array[]> {
  if (crops.length === 0) return [];
  const boxes = new Float32Array(crops.length * 4);
  const shift = method === 'area' ? 1 : 0;
  crops.forEach((c, i) => boxes.set([c[0] + shift, c[1] + shift, c[2], c[3]], 4 * i));
  const out = tidy(() => {
    const img = normalizeImage(packRgba(image.data, image.width, image.height), { mean: 0, scale: 1 });
    return cropAndResize(img, Tensor.from(boxes, [crops.length, 4]), null, [size, size], { method, outside: 'clip' });
  });
  let data: ArrayLike<number>;
  try {
    data = (await out.data()) as Float32Array;
  } finally {
    out.dispose();
  }
  const n = size * size * 3;
  return crops.map((_, k) => {
    const px = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const v = Math.round(data[k * n + i]);
      px[i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
    return px;
  });
}

export function toRecords(image: number, samples: readonly Sample[], pixels: readonly Uint8Array[]): ShardRecord[] {
  return samples.map((s, i) => ({ label: s.label, image, crop: s.crop, box: s.box, landmarks: s.landmarks, pixels: pixels[i] }));
}

export interface GenResult {
  images: number;
  skipped: number;
  failed: number;
  seconds: number;
  counts: Record<string, number>;
  total: number;
  shards: number;
}

/**
 * The hard examples of one image: the boxes the cascade hands to the net of
 * this sample size (detector.candidates), from the detector's 1-based
 * coordinates to pixel-edge ones, labelled against the faces.
 */
export async function mineImage(detector: MtcnnDetector, rgba: RgbaImage, faces: AnnotatedImage['faces'], size: 24 | 48, random: () => number, opts: Pick<GenOptions, 'sample' | 'mineNeg' | 'mineThresholds' | 'mineMinFace'>): Promise<Sample[]> {
  const detect: DetectOptions = { thresholds: opts.mineThresholds ?? DEFAULT_MINE_THRESHOLDS };
  if (opts.mineMinFace !== undefined) detect.minFaceSize = opts.mineMinFace;
  const candidates = await detector.candidates(rgba, size === 24 ? 1 : 2, detect);
  const o = { ...DEFAULT_SAMPLE_OPTIONS, ...opts.sample };
  const boxes = candidates.map((c): Box => [c.box[0] - 1, c.box[1] - 1, c.box[2], c.box[3]]);
  const labelled = labelCandidates(boxes, faces, random, { ...o, maxNegatives: Number.MAX_SAFE_INTEGER });
  const faceSamples = labelled.filter((s) => s.label !== 0).length;
  const maxNeg = opts.mineNeg ?? Math.max(3 * faceSamples, 3 * o.perFace);
  // labelCandidates puts the (shuffled) negatives last.
  return labelled.slice(0, faceSamples + maxNeg);
}

export async function generate(list: readonly AnnotatedImage[], opts: GenOptions, source: string, miner?: MtcnnDetector): Promise<GenResult> {
  const method = opts.resize ?? 'area';
  const writer = await ShardWriter.open(opts.out, opts.size, {
    resume: opts.resume,
    maxShardBytes: opts.shardMb * 1024 * 1024,
    meta: {
      source, format: opts.format, seed: opts.seed, images: list.length, resize: method, options: { ...DEFAULT_SAMPLE_OPTIONS, ...opts.sample },
      ...(opts.mine ? { mine: opts.mine, mineOnly: opts.mineOnly ?? false, mineThresholds: opts.mineThresholds ?? DEFAULT_MINE_THRESHOLDS } : {}),
    },
  });
  if (opts.mine && opts.size === 12) throw new Error('mining needs samples of size 24 or 48');
  const detector = opts.mine ? (miner ?? (await loadDetector(opts.mine))) : null;
  const start = performance.now();
  const bar = progressBar(list.length, `gen:mtcnn ${opts.size}`);
  let skipped = 0;
  let failed = 0;
  let sinceCommit = performance.now();
  for (let i = 0; i < list.length; i++) {
    if (writer.isDone(i)) {
      skipped++;
      bar.tick(1);
      continue;
    }
    const { image, faces } = list[i];
    try {
      const rgba = await readImage(image);
      const random = rng(imageSeed(opts.seed, i));
      const samples = opts.mineOnly ? [] : proposeSamples(rgba.width, rgba.height, faces, random, opts.sample);
      if (detector) samples.push(...(await mineImage(detector, rgba, faces, opts.size as 24 | 48, random, opts)));
      const pixels = await cutCrops(rgba, samples.map((s) => s.crop), opts.size, method);
      writer.append(toRecords(i, samples, pixels));
    } catch (e) {
      failed++;
      const msg = (e as Error).message;
      console.error(`\nerror: ${msg.startsWith(image) ? msg : `${image}: ${msg}`}`);
    }
    // A failed image is done too: a resume would fail on it again.
    writer.markDone(i);
    if (performance.now() - sinceCommit > 2000) {
      await writer.commit();
      sinceCommit = performance.now();
    }
    const c = writer.index.counts;
    bar.tick(1, `neg ${c.negative} pos ${c.positive} part ${c.part} lm ${c.landmark}`);
  }
  await writer.close();
  const c = writer.index.counts;
  bar.done(`neg ${c.negative} pos ${c.positive} part ${c.part} lm ${c.landmark}`);
  return {
    images: list.length - skipped,
    skipped,
    failed,
    seconds: (performance.now() - start) / 1000,
    counts: { ...c },
    total: writer.index.total,
    shards: writer.index.shards.length,
  };
}

async function main(): Promise<number> {
  let opts: GenOptions | 'help';
  let file: string;
  let list: AnnotatedImage[];
  try {
    opts = parseGenArgs(process.argv.slice(2));
    if (opts === 'help') {
      console.log(HELP);
      return 0;
    }
    if (opts.images !== undefined && !existsSync(opts.images)) throw new Error(`--images ${opts.images}: no such folder`);
    const loaded = loadAnnotations(opts.data, opts.format, opts.images);
    file = loaded.file;
    if (!opts.resume && existsSync(join(opts.out, 'index.json'))) throw new Error(`${join(opts.out, 'index.json')} exists: pass --resume to continue, or choose another --out`);
    list = opts.limit === undefined ? loaded.images : loaded.images.slice(0, opts.limit);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return 2;
  }
  try {
    await init();
    const r = await generate(list, opts, file);
    console.log(
      `${r.total} samples ${opts.size}x${opts.size} in ${opts.out} (${r.shards} shard${r.shards === 1 ? '' : 's'}): ` +
        `negative ${r.counts.negative}, positive ${r.counts.positive}, part ${r.counts.part}, landmark ${r.counts.landmark}; ` +
        `${r.images} images in ${r.seconds.toFixed(1)} s${r.skipped ? `, ${r.skipped} already done` : ''}${r.failed ? `, ${r.failed} failed` : ''}`,
    );
    return r.failed > 0 && r.failed === r.images ? 1 : 0;
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return 1;
  } finally {
    await shutdown();
  }
}

if (isMain(import.meta.url)) await runMain(main);
