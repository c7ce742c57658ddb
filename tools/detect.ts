// `npm run detect -- [options] <image or folder>...`: MTCNN face detection
// from the shell. A thin shell over nets/mtcnn: parse options, read files,
// print results, write pictures.
import { parseArgs } from 'node:util';
import { mkdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { init, shutdown } from '../engine/runtime.js';
import { readImage, writePngAtomic, type RgbaImage } from './image.js';
import { drawBox, drawPoint, drawText, PALETTE } from './plot.js';
import { expandImagePaths } from './files.js';
import { progressBar } from './progress.js';
import { loadMtcnnDetector, DEFAULT_MTCNN_DIR } from './models.js';
import { DEFAULT_DETECT_OPTIONS, type DetectOptions, type Face } from '../nets/mtcnn/detector.js';

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
  --weights DIR        folder with pnet/rnet/onet.safetensors (default: the bundled ones)
  -h, --help           this text

exit status: 0 when every image was read and processed, 1 when any failed
(each failure is reported on stderr and the other images still run), 2 for
bad options.`;

export interface DetectCliOptions extends DetectOptions {
  json: boolean;
  out?: string;
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
    weights: values.weights ?? DEFAULT_MTCNN_DIR,
    paths: positionals,
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
  if (positionals.length === 0) throw new Error('no images given (see --help)');
  return opts;
}

const round = (v: number) => Math.round(v * 1000) / 1000;

export function faceToJson(f: Face) {
  return { box: f.box.map(round), score: round(f.score * 1e3) / 1e3, landmarks: f.landmarks.map(([x, y]) => [round(x), round(y)]) };
}

/** Draws boxes, landmarks and scores onto a copy of the image. */
export function annotate(img: RgbaImage, faces: Face[]): Uint8Array {
  const rgba = new Uint8Array(img.data);
  const thick = Math.max(2, Math.round(Math.min(img.width, img.height) / 300));
  faces.forEach((f, i) => {
    const colour = PALETTE[i % PALETTE.length];
    drawBox(rgba, img.width, img.height, f.box, colour, thick);
    for (const [x, y] of f.landmarks) drawPoint(rgba, img.width, img.height, x, y, colour, thick + 1);
    drawText(rgba, img.width, img.height, f.box[0], Math.max(0, f.box[1] - 12 * Math.ceil(thick / 2)), f.score.toFixed(3), colour, Math.ceil(thick / 2), [255, 255, 255]);
  });
  return rgba;
}

export async function runDetect(opts: DetectCliOptions): Promise<number> {
  const { files, missing, fromFolder } = expandImagePaths(opts.paths);
  let failures = missing.length;
  for (const m of missing) console.error(`error: ${m}: no such file or folder`);
  if (files.length === 0) {
    console.error(missing.length ? 'error: nothing to do' : 'error: no .jpg/.png images found in the given folders');
    return 1;
  }
  if (opts.out) mkdirSync(opts.out, { recursive: true });
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

async function main(): Promise<void> {
  let opts;
  try {
    opts = parseDetectArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    process.exit(2);
  }
  if (opts === 'help') {
    console.log(HELP);
    process.exit(0);
  }
  let code = 1;
  try {
    code = await runDetect(opts);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
  }
  await shutdown();
  process.exit(code);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
