// `npm run verify -- <photo a> <photo b> [options]`: are the largest faces of
// two photos the same person? A thin shell over tools/embed.ts's model
// loading and tools/facenet-model.ts: detect, align, one forward for both
// faces, distance against the model's calibrated threshold.
import { runCommand, isMain } from './cli.js';
import { parseArgs } from 'node:util';
import { readImage } from './image.js';
import { embedInputs, embeddingDistance, largestFace, THRESHOLD_KEY } from './facenet-model.js';
import { FACE_MODEL_ARG_SPECS, FACE_MODEL_HELP, parseFaceModelOptions, numberOption, loadFaceModels, fileError, describeModel, type FaceModelOptions } from './embed.js';

const HELP = `usage: npm run verify -- <photo a> <photo b> [options]

Compares the largest face of each photo: the Euclidean distance between their
FaceNet embeddings (0 for identical faces, at most 2) and whether it is below
the threshold the model was calibrated at (the model file's ${THRESHOLD_KEY},
e.g. from eval:lfw), i.e. the same person.

With --json, one line:
  {"a": PATH, "b": PATH, "distance": D, "threshold": T, "same": BOOL}

options:
${FACE_MODEL_HELP}
  --threshold T        decide at this distance instead of the model's threshold

exit status: 0 when the two faces were compared (same person or not: see the
output), 1 when a photo cannot be read or has no face, or the model cannot be
loaded, 2 for bad options.`;

export interface VerifyCliOptions extends FaceModelOptions {
  a: string;
  b: string;
  threshold?: number;
}

export function parseVerifyArgs(argv: string[]): VerifyCliOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...FACE_MODEL_ARG_SPECS, threshold: { type: 'string' } },
  });
  if (values.help) return 'help';
  if (positionals.length !== 2) throw new Error(`needs two photos, got ${positionals.length} (see --help)`);
  return {
    ...parseFaceModelOptions(values),
    threshold: numberOption('threshold', values.threshold, (x) => x > 0, 'a distance > 0'),
    a: positionals[0],
    b: positionals[1],
  };
}

export interface VerifyResult {
  a: string;
  b: string;
  distance: number;
  threshold: number;
  same: boolean;
}

export async function runVerify(opts: VerifyCliOptions): Promise<number> {
  const { model, alignment, detect, inputs } = await loadFaceModels(opts);
  try {
    const threshold = opts.threshold ?? model.threshold;
    if (threshold === null) {
      console.error(`error: ${model.path} carries no calibrated threshold (metadata ${THRESHOLD_KEY}); pass --threshold T (eval:lfw reports one for a model)`);
      return 1;
    }
    // Both photos are read and searched before giving up, so one run names every photo without a face.
    const photos = [];
    let failed = false;
    for (const file of [opts.a, opts.b]) {
      try {
        const img = await readImage(file);
        const faces = await detect(img);
        const face = largestFace(faces);
        if (!face) throw new Error(`${file}: no face found`);
        photos.push({ file, img, face, count: faces.length });
      } catch (e) {
        console.error(fileError(file, e));
        failed = true;
      }
    }
    if (failed) return 1;
    const batch = photos.map((p) => inputs(p.img, [p.face]));
    let embeddings: Float32Array[];
    try {
      embeddings = await embedInputs(model, batch);
    } finally {
      for (const t of batch) t.dispose();
    }
    const distance = embeddingDistance(embeddings[0], embeddings[1]);
    const result: VerifyResult = { a: opts.a, b: opts.b, distance, threshold, same: distance < threshold };
    if (opts.json) console.log(JSON.stringify(result));
    else {
      console.log(describeModel(model, alignment));
      for (const p of photos) {
        const [x1, y1, x2, y2] = p.face.box.map((v) => v.toFixed(1));
        console.log(`${p.file}: face (${x1}, ${y1}) - (${x2}, ${y2})${p.count > 1 ? ` (the largest of ${p.count})` : ''}`);
      }
      const source = opts.threshold !== undefined ? '--threshold' : "the model's";
      console.log(`distance ${distance.toFixed(4)}, threshold ${threshold.toFixed(4)} (${source}): ${result.same ? 'same person' : 'different people'}`);
    }
    return 0;
  } finally {
    model.net.dispose();
  }
}

if (isMain(import.meta.url)) await runCommand(process.argv.slice(2), parseVerifyArgs, HELP, runVerify);
