// `npm run embed -- [options] <image or folder>...`: FaceNet embeddings of
// every face in photos. A thin shell over nets/mtcnn (detection),
// tools/facenet-model.ts (alignment to the model's training crop, the
// forward) and the files: parse options, read images, print JSON.
import { runCommand, isMain } from './cli.js';
import { parseArgs } from 'node:util';
import { init } from '../engine/runtime.js';
import type { Tensor } from '../engine/tensor.js';
import { readImage } from './image.js';
import { imageInputs } from './files.js';
import { progressBar } from './progress.js';
import { loadMtcnnDetector } from './models.js';
import {
  loadFacenetModel, resolveFacenetModelPath, facenetInputs, embedInputs, defaultAlignment, FACE_ALIGNMENTS,
  type FaceAlignment, type FacenetModel,
} from './facenet-model.js';
import { DEFAULT_DETECT_OPTIONS, type Face } from '../nets/mtcnn/detector.js';

/** Options embed and verify share: the model, and how faces are found and aligned. */
export interface FaceModelOptions {
  json: boolean;
  /** Undefined: the default model. */
  model?: string;
  /** Undefined: the model's own (defaultAlignment). */
  alignment?: FaceAlignment;
  margin: number;
  minFaceSize?: number;
}

export const FACE_MODEL_HELP = `  --json               one JSON object per line (see above)
  --model FILE|DIR     FaceNet weights: a .safetensors file, or a train:facenet run
                       folder (its latest checkpoint); default models/facenet/facenet.safetensors
  --align-template T   how faces are warped into the net's input square:
                       lfw      the five landmarks go where they sit, on average, in the
                                centre-cropped LFW deep-funneled images train:facenet
                                trains on (default for its models: the face is framed
                                as in training)
                       arcface  the ArcFace five-point template scaled to the input
                                (default for models without a recorded training crop)
  --margin N           input pixels around the arcface template (default 0)
  --min-face N         smallest face to find, in pixels (default ${DEFAULT_DETECT_OPTIONS.minFaceSize})
  -h, --help           this text`;

export const FACE_MODEL_ARG_SPECS = {
  json: { type: 'boolean', default: false },
  model: { type: 'string' },
  'align-template': { type: 'string' },
  margin: { type: 'string' },
  'min-face': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** Checks a numeric option; undefined when absent. */
export function numberOption(name: string, text: string | undefined, ok: (x: number) => boolean, what: string): number | undefined {
  if (text === undefined) return undefined;
  const x = Number(text);
  if (text.trim() === '' || !Number.isFinite(x) || !ok(x)) throw new Error(`--${name} ${text}: must be ${what}`);
  return x;
}

export function parseFaceModelOptions(values: { json?: boolean; model?: string; 'align-template'?: string; margin?: string; 'min-face'?: string }): FaceModelOptions {
  const template = values['align-template'];
  if (template !== undefined && !FACE_ALIGNMENTS.includes(template as FaceAlignment)) {
    throw new Error(`--align-template ${template}: must be ${FACE_ALIGNMENTS.join(' or ')}`);
  }
  return {
    json: values.json ?? false,
    model: values.model,
    alignment: template as FaceAlignment | undefined,
    margin: numberOption('margin', values.margin, (x) => x >= 0, 'a number of pixels >= 0') ?? 0,
    minFaceSize: numberOption('min-face', values['min-face'], (x) => x >= 1, 'a number of pixels >= 1'),
  };
}

/** Loads MTCNN and the FaceNet model; the model path is checked first, so a missing model fails before the GPU starts. */
export async function loadFaceModels(opts: FaceModelOptions) {
  resolveFacenetModelPath(opts.model);
  await init();
  const model = await loadFacenetModel(opts.model);
  const detector = await loadMtcnnDetector();
  const alignment = opts.alignment ?? defaultAlignment(model.info);
  const detect = (img: Parameters<typeof detector.detect>[0]) => detector.detect(img, opts.minFaceSize !== undefined ? { minFaceSize: opts.minFaceSize } : {});
  const inputs = (img: Parameters<typeof facenetInputs>[0], faces: Face[]) => facenetInputs(img, faces, model, { alignment, margin: opts.margin });
  return { model, alignment, detect, inputs };
}

/** The error line for a file, naming it once. */
export function fileError(file: string, e: unknown): string {
  const msg = (e as Error).message;
  return `error: ${msg.startsWith(file) ? msg : `${file}: ${msg}`}`;
}

/** The model in one line, for the human-readable output. */
export function describeModel(model: FacenetModel, alignment: FaceAlignment): string {
  const { config } = model.info;
  return `model: ${model.path} (${config.backbone}, ${config.embeddingSize}-d, ${model.info.inputSize}x${model.info.inputSize} input, ${alignment} alignment)`;
}

const HELP = `usage: npm run embed -- [options] <image or folder>...

Finds faces with MTCNN, aligns each on its five landmarks to the crop the
FaceNet model was trained on and prints its embedding: a unit-length vector
(128 numbers for models trained by train:facenet) whose Euclidean distance to
another face's is small for the same person. The faces of several images go
through the net together. Folders are searched recursively for .jpg/.png.

With --json, one line per image:
  {"image": PATH, "faces": [{"box": [x1, y1, x2, y2], "embedding": [...]}]}
(faces in detection-score order; an image without faces has "faces": []).

options:
${FACE_MODEL_HELP}
  --batch N            faces per FaceNet forward (default 32)

exit status: 0 when every image was read and processed, 1 when any failed or
the model could not be loaded (each failure is reported on stderr and the
other images still run), 2 for bad options.`;

export interface EmbedCliOptions extends FaceModelOptions {
  batch: number;
  paths: string[];
}

export function parseEmbedArgs(argv: string[]): EmbedCliOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...FACE_MODEL_ARG_SPECS, batch: { type: 'string' } },
  });
  if (values.help) return 'help';
  const opts: EmbedCliOptions = {
    ...parseFaceModelOptions(values),
    batch: numberOption('batch', values.batch, (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1') ?? 32,
    paths: positionals,
  };
  if (positionals.length === 0) throw new Error('no images given (see --help)');
  return opts;
}

const round = (v: number, digits: number) => Number(v.toFixed(digits));

interface PendingImage {
  file: string;
  faces: Face[];
  /** The faces' net inputs on the GPU; null without faces. */
  inputs: Tensor | null;
}

export async function runEmbed(opts: EmbedCliOptions): Promise<number> {
  const found = imageInputs(opts.paths);
  if (!found) return 1;
  const { files, fromFolder } = found;
  let failures = found.failures;
  const { model, alignment, detect, inputs } = await loadFaceModels(opts);
  if (!opts.json) console.log(describeModel(model, alignment));
  const bar = fromFolder || files.length > 1 ? progressBar(files.length, 'embed') : null;
  let faceCount = 0;

  // Images wait, detected and aligned, until `batch` faces are ready; then one
  // forward embeds them all and their lines are printed in input order.
  const pending: PendingImage[] = [];
  let pendingFaces = 0;
  const flush = async () => {
    let embeddings: Float32Array[] | null = null;
    try {
      embeddings = await embedInputs(model, pending.flatMap((p) => (p.inputs ? [p.inputs] : [])), opts.batch);
    } catch (e) {
      for (const p of pending) console.error(fileError(p.file, e));
      failures += pending.length;
    } finally {
      for (const p of pending) p.inputs?.dispose();
    }
    let next = 0;
    for (const p of embeddings ? pending : []) {
      const faces = p.faces.map((f) => ({ box: f.box.map((v) => round(v, 3)), embedding: Array.from(embeddings![next++], (v) => round(v, 6)) }));
      faceCount += faces.length;
      if (opts.json) console.log(JSON.stringify({ image: p.file, faces }));
      else {
        console.log(`${p.file}: ${faces.length} face${faces.length === 1 ? '' : 's'}`);
        for (const f of faces) {
          const [x1, y1, x2, y2] = f.box.map((v) => v.toFixed(1));
          console.log(`  box (${x1}, ${y1}) - (${x2}, ${y2})  embedding [${f.embedding.slice(0, 4).map((v) => v.toFixed(4)).join(', ')}, ...] (${f.embedding.length} values; --json prints all)`);
        }
      }
    }
    bar?.tick(pending.length, `${faceCount} faces`);
    pending.length = 0;
    pendingFaces = 0;
  };

  for (const file of files) {
    try {
      const img = await readImage(file);
      const faces = await detect(img);
      pending.push({ file, faces, inputs: faces.length ? inputs(img, faces) : null });
      pendingFaces += faces.length;
    } catch (e) {
      failures++;
      console.error(fileError(file, e));
      bar?.tick(1);
    }
    if (pendingFaces >= opts.batch) await flush();
  }
  await flush();
  bar?.done(`${faceCount} faces${failures ? `, ${failures} failed` : ''}`);
  model.net.dispose();
  return failures ? 1 : 0;
}

if (isMain(import.meta.url)) await runCommand(process.argv.slice(2), parseEmbedArgs, HELP, runEmbed);
