// `npm run enroll -- --name NAME <image or folder>... [options]`: adds a
// person's faces to the gallery (tools/gallery/sqlite.ts). Each image's faces
// are embedded and stored in one transaction, so an interrupted run leaves
// whole images enrolled, never half of one.
import { runCommand, isMain } from './cli.js';
import { parseArgs } from 'node:util';
import { readImage } from './image.js';
import { imageInputs } from './files.js';
import { embedInputs, largestFace, resolveFacenetModelPath } from './facenet-model.js';
import { FACE_MODEL_ARG_SPECS, FACE_MODEL_HELP, parseFaceModelOptions, loadFaceModels, fileError, type FaceModelOptions } from './embed.js';
import { openGallery, DEFAULT_GALLERY } from './gallery/sqlite.js';
import { modelIdOf } from './gallery/model-id.js';
import { unitEmbedding } from './gallery/store.js';

const HELP = `usage: npm run enroll -- --name NAME <image or folder>... [options]

Finds the largest face of each image (every face with --all-faces), embeds it
with the FaceNet model and stores it in the gallery under NAME (the person is
created when new). Each image is stored in one transaction. The gallery
records the model it was made with and refuses others.

With --json, one line per image: {"image": PATH, "enrolled": N, "name": NAME}

options:
  --name NAME          the person (required)
  --metadata JSON      a JSON object stored with the person (replaces earlier metadata)
  --all-faces          enroll every face of each image, not only the largest
  --gallery PATH       the gallery file (default ${DEFAULT_GALLERY} in the working folder; made when missing)
${FACE_MODEL_HELP}

exit status: 0 when every image added a face, 1 when any image failed or had
no face (the others are still enrolled), 2 for bad options.`;

export interface EnrollCliOptions extends FaceModelOptions {
  name: string;
  metadata?: Record<string, unknown>;
  allFaces: boolean;
  gallery: string;
  paths: string[];
}

export function parseEnrollArgs(argv: string[]): EnrollCliOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...FACE_MODEL_ARG_SPECS, name: { type: 'string' }, metadata: { type: 'string' }, 'all-faces': { type: 'boolean', default: false }, gallery: { type: 'string' } },
  });
  if (values.help) return 'help';
  if (!values.name?.trim()) throw new Error('--name NAME is required');
  if (positionals.length === 0) throw new Error('no images given (see --help)');
  let metadata: Record<string, unknown> | undefined;
  if (values.metadata !== undefined) {
    try {
      metadata = JSON.parse(values.metadata);
    } catch (e) {
      throw new Error(`--metadata: not JSON (${(e as Error).message})`);
    }
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) throw new Error('--metadata must be a JSON object');
  }
  return { ...parseFaceModelOptions(values), name: values.name, metadata, allFaces: values['all-faces'] ?? false, gallery: values.gallery ?? DEFAULT_GALLERY, paths: positionals };
}

export async function runEnroll(opts: EnrollCliOptions): Promise<number> {
  const found = imageInputs(opts.paths);
  if (!found) return 1;
  const { files } = found;
  let failures = found.failures;
  const modelId = modelIdOf(resolveFacenetModelPath(opts.model));
  const { model, detect, inputs } = await loadFaceModels(opts);
  const gallery = openGallery(opts.gallery, { model: { id: modelId, embeddingSize: model.net.config.embeddingSize }, create: true });
  try {
    if (opts.metadata) gallery.addPerson(opts.name, opts.metadata);
    let total = 0;
    for (const file of files) {
      try {
        const img = await readImage(file);
        const found = await detect(img);
        const faces = opts.allFaces ? found : found.length ? [largestFace(found)!] : [];
        if (faces.length === 0) throw new Error(`${file}: no face found`);
        // One warp per face (as identify does): a face's embedding does not depend on the other faces of the image.
        const batch = faces.map((f) => inputs(img, [f]));
        let embeddings: Float32Array[];
        try {
          embeddings = await embedInputs(model, batch);
        } finally {
          for (const t of batch) t.dispose();
        }
        gallery.addFaces(opts.name, faces.map((f, i) => ({ embedding: unitEmbedding(embeddings[i]), source: file, box: f.box.map((v) => Number(v.toFixed(2))) })));
        total += faces.length;
        if (opts.json) console.log(JSON.stringify({ image: file, enrolled: faces.length, name: opts.name }));
        else console.log(`${file}: enrolled ${faces.length} face${faces.length === 1 ? '' : 's'} as ${opts.name}`);
      } catch (e) {
        failures++;
        console.error(fileError(file, e));
      }
    }
    if (!opts.json) console.log(`${opts.name}: ${total} face${total === 1 ? '' : 's'} added to ${opts.gallery}${failures ? `, ${failures} failed` : ''}`);
  } finally {
    gallery.close();
    model.net.dispose();
  }
  return failures ? 1 : 0;
}

if (isMain(import.meta.url)) await runCommand(process.argv.slice(2), parseEnrollArgs, HELP, runEnroll);
