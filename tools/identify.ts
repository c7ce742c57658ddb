// `npm run identify -- <image or folder>... [options]`: who is in each photo,
// against the enrolled gallery. Every face of an image is embedded and
// searched on the GPU (engine/ops/topk.ts: one matmul against the whole
// gallery, a top-k kernel per face); the nearest people are reported and the
// best one is the identity when within the threshold.
import { runCommand, isMain } from './cli.js';
import { parseArgs } from 'node:util';
import { mkdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { readImage, writePngAtomic } from './image.js';
import { annotate } from './detect.js';
import { imageInputs } from './files.js';
import { embedInputs, resolveFacenetModelPath, THRESHOLD_KEY } from './facenet-model.js';
import { FACE_MODEL_ARG_SPECS, FACE_MODEL_HELP, parseFaceModelOptions, numberOption, loadFaceModels, fileError, type FaceModelOptions } from './embed.js';
import { openGallery, DEFAULT_GALLERY } from './gallery/sqlite.js';
import { modelIdOf } from './gallery/model-id.js';
import { GpuGallery, TOPK_MAX } from '../engine/ops/topk.js';
import { unitEmbedding, type GalleryMatrix } from './gallery/store.js';

const HELP = `usage: npm run identify -- <image or folder>... [options]

Finds every face, embeds it and searches the gallery on the GPU. For each face
the nearest K enrolled people (each at the distance of their nearest face,
among the ${TOPK_MAX} nearest gallery faces) and the identity: the nearest
person when their distance is within the threshold, else unknown (null).

With --json, one line per image:
  {"image": PATH, "faces": [{"box": [x1, y1, x2, y2], "matches": [{"name": N, "distance": D}], "identity": N_or_null}]}

options:
  --top K              people per face (default 3, at most ${TOPK_MAX})
  --threshold T        the identity distance (default: the model's ${THRESHOLD_KEY})
  --gallery PATH       the gallery file (default ${DEFAULT_GALLERY})
  --out DIR            write each image with boxes and names drawn (PNG)
${FACE_MODEL_HELP}

exit status: 0 when every image was searched, 1 when any failed (the others
still run) or the gallery/model cannot be used, 2 for bad options.`;

export interface IdentifyCliOptions extends FaceModelOptions {
  top: number;
  threshold?: number;
  gallery: string;
  out?: string;
  paths: string[];
}

export function parseIdentifyArgs(argv: string[]): IdentifyCliOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...FACE_MODEL_ARG_SPECS, top: { type: 'string' }, threshold: { type: 'string' }, gallery: { type: 'string' }, out: { type: 'string' } },
  });
  if (values.help) return 'help';
  if (positionals.length === 0) throw new Error('no images given (see --help)');
  return {
    ...parseFaceModelOptions(values),
    top: numberOption('top', values.top, (x) => Number.isInteger(x) && x >= 1 && x <= TOPK_MAX, `an integer in 1..${TOPK_MAX}`) ?? 3,
    threshold: numberOption('threshold', values.threshold, (x) => x > 0, 'a distance > 0'),
    gallery: values.gallery ?? DEFAULT_GALLERY,
    out: values.out,
    paths: positionals,
  };
}

export interface Match {
  name: string;
  distance: number;
}

/** The nearest people of each query embedding: the gallery (resident on the GPU) searched there, deduplicated by person. */
export async function searchGallery(gpu: GpuGallery, names: readonly string[], queries: Float32Array[], top: number): Promise<Match[][]> {
  const d = gpu.dim;
  const n = gpu.rows;
  if (queries.length === 0) return [];
  if (n === 0) return queries.map(() => []);
  const k = Math.min(TOPK_MAX, n);
  const flat = new Float32Array(queries.length * d);
  queries.forEach((q, i) => flat.set(q, i * d));
  const { distances, indices } = await gpu.search(flat, k);
  return queries.map((_, qi) => {
    const seen = new Set<string>();
    const out: Match[] = [];
    for (let r = 0; r < k && out.length < top; r++) {
      const row = indices[qi * k + r];
      if (row < 0) break;
      const name = names[row];
      if (seen.has(name)) continue;
      seen.add(name);
      out.push({ name, distance: Number(distances[qi * k + r].toFixed(6)) });
    }
    return out;
  });
}

export async function runIdentify(opts: IdentifyCliOptions): Promise<number> {
  const found = imageInputs(opts.paths);
  if (!found) return 1;
  const { files } = found;
  let failures = found.failures;
  const modelId = modelIdOf(resolveFacenetModelPath(opts.model));
  // The gallery is checked before the GPU starts (embedding size once the model is read).
  openGallery(opts.gallery).close();
  if (opts.out) mkdirSync(opts.out, { recursive: true });
  const { model, detect, inputs } = await loadFaceModels(opts);
  try {
    const threshold = opts.threshold ?? model.threshold;
    if (threshold === null) {
      console.error(`error: ${model.path} carries no calibrated threshold (metadata ${THRESHOLD_KEY}); pass --threshold T`);
      return 1;
    }
    const store = openGallery(opts.gallery, { model: { id: modelId, embeddingSize: model.net.config.embeddingSize } });
    let matrix: GalleryMatrix;
    try {
      matrix = store.allEmbeddings();
    } finally {
      store.close();
    }
    const gpu = new GpuGallery(matrix.matrix, matrix.embeddingSize);
    try {
      if (!opts.json) console.log(`gallery ${opts.gallery}: ${new Set(matrix.names).size} people, ${matrix.names.length} faces; threshold ${threshold}`);
      for (const file of files) {
        try {
          const img = await readImage(file);
          const faces = await detect(img);
          let embeddings: Float32Array[] = [];
          if (faces.length) {
            // One warp per face: a face's embedding does not depend on the other faces of the image.
            const batch = faces.map((f) => inputs(img, [f]));
            try {
              embeddings = (await embedInputs(model, batch)).map(unitEmbedding);
            } finally {
              for (const t of batch) t.dispose();
            }
          }
          const matches = await searchGallery(gpu, matrix.names, embeddings, opts.top);
          const out = faces.map((f, i) => ({
            box: f.box.map((v) => Number(v.toFixed(3))),
            matches: matches[i],
            identity: matches[i].length && matches[i][0].distance <= threshold ? matches[i][0].name : null,
          }));
          if (opts.out) {
            const labels = out.map((f) => (f.identity === null ? 'unknown' : `${f.identity} ${f.matches[0].distance.toFixed(2)}`));
            await writePngAtomic(join(opts.out, basename(file, extname(file)) + '.png'), annotate(img, faces, labels), img.width, img.height);
          }
          if (opts.json) console.log(JSON.stringify({ image: file, faces: out }));
          else {
            console.log(`${file}: ${out.length} face${out.length === 1 ? '' : 's'}`);
            for (const f of out) {
              const [x1, y1, x2, y2] = f.box.map((v) => v.toFixed(1));
              const near = f.matches.map((m) => `${m.name} ${m.distance.toFixed(3)}`).join(', ');
              console.log(`  (${x1}, ${y1}) - (${x2}, ${y2}): ${f.identity ?? 'unknown'}${near ? `  [${near}]` : ''}`);
            }
          }
        } catch (e) {
          failures++;
          console.error(fileError(file, e));
        }
      }
    } finally {
      gpu.dispose();
    }
  } finally {
    model.net.dispose();
  }
  return failures ? 1 : 0;
}

if (isMain(import.meta.url)) await runCommand(process.argv.slice(2), parseIdentifyArgs, HELP, runIdentify);
