// `npm run gallery -- list | remove NAME | export FILE | import FILE [--gallery PATH] [--json]`:
// looks after the enrolled gallery without the GPU.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../engine/io.js';
import { openGallery, DEFAULT_GALLERY, GALLERY_FORMAT, GALLERY_VERSION } from './gallery/sqlite.js';
import type { GalleryModel } from './gallery/store.js';

const HELP = `usage: npm run gallery -- <command> [--gallery PATH] [--json]

commands:
  list           the people, their face counts and metadata (--json: one object per line)
  remove NAME    removes a person and their faces
  export FILE    writes the gallery (model, people, faces, embeddings) as JSON
  import FILE    adds an exported gallery's people and faces (made when missing;
                 refused when the export's model differs from the gallery's)

options:
  --gallery PATH   the gallery file (default ${DEFAULT_GALLERY})
  --json           machine-readable list
  -h, --help       this text

exit status: 0 on success, 1 when the gallery or file cannot be used or NAME is
not enrolled, 2 for bad arguments.`;

interface ExportFile {
  format: string;
  version: number;
  model: GalleryModel;
  people: { name: string; metadata: Record<string, unknown> | null; faces: { embedding: string; source: string | null; box: number[] | null }[] }[];
}

const EXPORT_FORMAT = `${GALLERY_FORMAT}-export`;

function encodeEmbedding(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}
function decodeEmbedding(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

export async function runGallery(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { gallery: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const path = values.gallery ?? DEFAULT_GALLERY;
  const [command, arg, ...rest] = positionals;
  const needs = { list: 0, remove: 1, export: 1, import: 1 } as Record<string, number>;
  if (!(command in needs)) throw Object.assign(new Error(`unknown command ${JSON.stringify(command ?? '')}: one of list, remove NAME, export FILE, import FILE`), { usage: true });
  if ((arg === undefined ? 0 : 1) + rest.length !== needs[command]) throw Object.assign(new Error(`${command} takes ${needs[command] ? 'one argument' : 'no arguments'}`), { usage: true });

  if (command === 'import') {
    let data: ExportFile;
    try {
      data = JSON.parse(readFileSync(arg, 'utf8'));
    } catch (e) {
      throw new Error(`${arg}: cannot read an export: ${(e as Error).message}`);
    }
    if (data?.format !== EXPORT_FORMAT || data.version !== GALLERY_VERSION || !data.model || !Array.isArray(data.people)) {
      throw new Error(`${arg}: not a gallery export (format ${EXPORT_FORMAT} version ${GALLERY_VERSION})`);
    }
    const g = openGallery(path, { model: data.model, create: true });
    try {
      let faces = 0;
      // One transaction per person.
      for (const p of data.people) {
        g.addFaces(p.name, p.faces.map((f) => ({ embedding: decodeEmbedding(f.embedding), source: f.source, box: f.box })), p.metadata);
        faces += p.faces.length;
      }
      console.log(`imported ${data.people.length} people, ${faces} faces into ${path}`);
    } finally {
      g.close();
    }
    return 0;
  }

  const g = openGallery(path);
  try {
    if (command === 'list') {
      const people = g.listPeople();
      if (values.json) for (const p of people) console.log(JSON.stringify({ name: p.name, faces: p.faces, metadata: p.metadata }));
      else {
        console.log(`${path}: model ${g.model.id} (${g.model.embeddingSize}-d), ${people.length} people, ${people.reduce((s, p) => s + p.faces, 0)} faces`);
        for (const p of people) console.log(`  ${p.name}: ${p.faces} face${p.faces === 1 ? '' : 's'}${p.metadata ? ` ${JSON.stringify(p.metadata)}` : ''}`);
      }
      return 0;
    }
    if (command === 'remove') {
      if (!g.removePerson(arg)) {
        console.error(`error: ${path}: no person named ${JSON.stringify(arg)}`);
        return 1;
      }
      console.log(`removed ${arg} from ${path}`);
      return 0;
    }
    // export
    const byName = new Map<string, ExportFile['people'][number]>();
    for (const { name, metadata, face } of g.allFaces()) {
      if (!byName.has(name)) byName.set(name, { name, metadata, faces: [] });
      byName.get(name)!.faces.push({ embedding: encodeEmbedding(face.embedding), source: face.source, box: face.box ? [...face.box] : null });
    }
    for (const p of g.listPeople()) if (!byName.has(p.name)) byName.set(p.name, { name: p.name, metadata: p.metadata, faces: [] });
    const out: ExportFile = { format: EXPORT_FORMAT, version: GALLERY_VERSION, model: g.model, people: [...byName.values()] };
    await writeFileAtomic(arg, new TextEncoder().encode(JSON.stringify(out) + '\n'));
    console.log(`exported ${out.people.length} people, ${out.people.reduce((s, p) => s + p.faces.length, 0)} faces to ${arg}`);
    return 0;
  } finally {
    g.close();
  }
}

async function main(): Promise<void> {
  let code: number;
  try {
    code = await runGallery(process.argv.slice(2));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    code = (e as { usage?: boolean }).usage ? 2 : 1;
  }
  process.exit(code);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
