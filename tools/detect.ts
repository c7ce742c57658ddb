// `npm run detect -- [options] <image or folder>...`: MTCNN face detection
// from the shell. A thin shell over nets/mtcnn: parse options, read files,
// print results, write pictures.
import { runCommand, isMain } from './cli.js';
import { parseArgs } from 'node:util';
import { mkdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { init } from '../engine/runtime.js';
import { readImage, writePngAtomic, type RgbaImage } from './image.js';
import { drawBox, drawPoint, drawText, PALETTE } from './plot.js';
import { imageInputs } from './files.js';
import { progressBar } from './progress.js';
import { loadMtcnnDetector, DEFAULT_MTCNN_DIR } from './models.js';
import { DEFAULT_DETECT_OPTIONS, type DetectOptions, type Face } from '../nets/mtcnn/detector.js';
import { alignFaces, type AlignTemplate } from '../nets/align.js';
import { normalizeImage, packRgba } from '../engine/ops/image.js';
import { noGradAsync, tidyAsync } from '../engine/tensor.js';

const HELP = `usage: npm run detect -- [options] <image or folder>...

Finds faces with MTCNN (pretrained weights bundled in models/mtcnn) and prints
each face's box, score and five landmarks (left eye, right eye, nose, left
and right mouth corner). Folders are searched recursively for .jpg/.png.

options:
  --json               one JSON object per image per line:
                       {"image","width","height","faces":[{"box","score","landmarks"}]}
  --min-face N         smallest face to find, in pixels (default ${DEFAULT_DETECT_OPTIONS.minFaceSize})
  --thresholds a,b,c   P-Net, R-Net, O-Net face probability thresholds (default ${DEFAULT_DETECT_OPTIONS.thresholds.join(',')})
  --factor F           image pyramid scale step, 0 < F < 1 (default ${DEFAULT_DETECT_OPTIONS.factor})
  --out DIR            write each image with boxes and landmarks drawn (PNG)
  --align DIR          write each face aligned on its five landmarks (PNG,
                       <image>_<k>.png, k in score order)
  --align-template T   facenet160 (default: square crop, arcface template
                       scaled to --align-size) or arcface112 (the 112x112
                       five-point template common in face recognition)
  --align-size N       side of the aligned crop (default 160; 112 for arcface112)
  --margin N           pixels of margin around the template (facenet160; default 0)
  --weights DIR        folder with pnet/rnet/onet.safetensors (default: the bundled ones)
  -h, --help           this text

exit status: 0 when every image was read and processed, 1 when any failed
(each failure is reported on stderr and the other images still run), 2 for
bad options.`;

export interface DetectCliOptions extends DetectOptions {
  json: boolean;
  out?: string;
  align?: string;
  alignTemplate: AlignTemplate;
  alignSize?: number;
  margin: number;
  weights: string;
  paths: string[];
}

export function parseDetectArgs(argv: string[]): DetectCliOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      'min-face': { type: 'string' },
      thresholds: { type: 'string' },
      factor: { type: 'string' },
      out: { type: 'string' },
      align: { type: 'string' },
      'align-template': { type: 'string' },
      'align-size': { type: 'string' },
      margin: { type: 'string' },
      weights: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  const num = (name: string, v: string | undefined, check: (x: number) => boolean, what: string) => {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!Number.isFinite(x) || !check(x)) throw new Error(`--${name} ${v}: must be ${what}`);
    return x;
  };
  const opts: DetectCliOptions = {
    json: values.json ?? false,
    out: values.out,
    align: values.align,
    alignTemplate: 'facenet160',
    margin: 0,
    weights: values.weights ?? DEFAULT_MTCNN_DIR,
    paths: positionals,
  };
  const minFace = num('min-face', values['min-face'], (x) => x >= 1, 'a number of pixels >= 1');
  if (minFace !== undefined) opts.minFaceSize = minFace;
  const factor = num('factor', values.factor, (x) => x > 0 && x < 1, 'between 0 and 1');
  if (factor !== undefined) opts.factor = factor;
  const template = values['align-template'];
  if (template !== undefined) {
    if (template !== 'facenet160' && template !== 'arcface112') throw new Error(`--align-template ${template}: must be facenet160 or arcface112`);
    opts.alignTemplate = template;
  }
  opts.alignSize = num('align-size', values['align-size'], (x) => Number.isInteger(x) && x >= 16 && x <= 1024, 'an integer from 16 to 1024');
  opts.margin = num('margin', values.margin, (x) => x >= 0, 'a number of pixels >= 0') ?? 0;
  if (values.thresholds !== undefined) {
    const t = values.thresholds.split(',').map(Number);
    if (t.length !== 3 || t.some((x) => !(x >= 0 && x <= 1))) throw new Error(`--thresholds ${values.thresholds}: must be three probabilities a,b,c`);
    opts.thresholds = [t[0], t[1], t[2]];
  }
  if (positionals.length === 0) throw new Error('no images given (see --help)');
  return opts;
}

/** The JSON form of a face: boxes and landmarks in pixels, unrounded (float32 values as computed). */
export function faceToJson(f: Face) {
  return { box: f.box, score: f.score, landmarks: f.landmarks };
}

/** Aligned crops of the faces as RGBA images (warped on the GPU, read back once). */
export async function alignedCrops(img: RgbaImage, faces: Face[], opts: { template: AlignTemplate; size?: number; margin: number }): Promise<RgbaImage[]> {
  if (faces.length === 0) return [];
  const size = opts.size ?? (opts.template === 'arcface112' ? 112 : 160);
  const floats = await tidyAsync(() =>
    noGradAsync(async () => {
      const pixels = normalizeImage(packRgba(img.data, img.width, img.height), { mean: 0, scale: 1 });
      return (await alignFaces(pixels, faces, { template: opts.template, size, margin: opts.margin }).data()) as Float32Array;
    }),
  );
  const per = size * size * 3;
  return faces.map((_, k) => {
    const data = new Uint8Array(size * size * 4);
    for (let p = 0; p < size * size; p++) {
      for (let c = 0; c < 3; c++) data[p * 4 + c] = Math.max(0, Math.min(255, Math.round(floats[k * per + p * 3 + c])));
      data[p * 4 + 3] = 255;
    }
    return { width: size, height: size, data };
  });
}

/** Draws boxes, landmarks and a label per face (default: its score) onto a copy of the image. */
export function annotate(img: RgbaImage, faces: Face[], labels: readonly string[] = faces.map((f) => f.score.toFixed(3))): Uint8Array {
  const rgba = new Uint8Array(img.data);
  const thick = Math.max(2, Math.round(Math.min(img.width, img.height) / 300));
  faces.forEach((f, i) => {
    const colour = PALETTE[i % PALETTE.length];
    drawBox(rgba, img.width, img.height, f.box, colour, thick);
    for (const [x, y] of f.landmarks) drawPoint(rgba, img.width, img.height, x, y, colour, thick + 1);
    drawText(rgba, img.width, img.height, f.box[0], Math.max(0, f.box[1] - 12 * Math.ceil(thick / 2)), labels[i], colour, Math.ceil(thick / 2), [255, 255, 255]);
  });
  return rgba;
}

export async function runDetect(opts: DetectCliOptions): Promise<number> {
  const found = imageInputs(opts.paths);
  if (!found) return 1;
  const { files, fromFolder } = found;
  let failures = found.failures;
  if (opts.out) mkdirSync(opts.out, { recursive: true });
  if (opts.align) mkdirSync(opts.align, { recursive: true });
  await init();
  const detector = await loadMtcnnDetector(opts.weights);
  const bar = fromFolder || files.length > 1 ? progressBar(files.length, 'detect') : null;
  let faceCount = 0;
  for (const file of files) {
    try {
      const img = await readImage(file);
      const faces = await detector.detect(img, opts);
      faceCount += faces.length;
      if (opts.json) {
        console.log(JSON.stringify({ image: file, width: img.width, height: img.height, faces: faces.map(faceToJson) }));
      } else {
        console.log(`${file}: ${img.width}x${img.height}, ${faces.length} face${faces.length === 1 ? '' : 's'}`);
        for (const f of faces) {
          const [x1, y1, x2, y2] = f.box.map((v) => v.toFixed(1));
          console.log(`  box (${x1}, ${y1}) - (${x2}, ${y2})  score ${f.score.toFixed(4)}  eyes (${f.landmarks[0].map((v) => v.toFixed(0))}) (${f.landmarks[1].map((v) => v.toFixed(0))})`);
        }
      }
      if (opts.out) {
        const name = basename(file, extname(file)) + '.png';
        await writePngAtomic(join(opts.out, name), annotate(img, faces), img.width, img.height);
      }
      if (opts.align) {
        const crops = await alignedCrops(img, faces, { template: opts.alignTemplate, size: opts.alignSize, margin: opts.margin });
        for (const [k, crop] of crops.entries()) {
          await writePngAtomic(join(opts.align, `${basename(file, extname(file))}_${k}.png`), crop.data, crop.width, crop.height);
        }
      }
    } catch (e) {
      failures++;
      const msg = (e as Error).message;
      console.error(`error: ${msg.startsWith(file) ? msg : `${file}: ${msg}`}`);
    }
    bar?.tick(1, `${faceCount} faces`);
  }
  bar?.done(`${faceCount} faces${failures ? `, ${failures} failed` : ''}`);
  return failures ? 1 : 0;
}

if (isMain(import.meta.url)) await runCommand(process.argv.slice(2), parseDetectArgs, HELP, runDetect);
