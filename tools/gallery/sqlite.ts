// SQLite adapter of GalleryStore (better-sqlite3): one file, WAL journal (a
// reader never blocks the writer and a killed writer leaves the last
// committed state), every change in a transaction, a busy timeout so two
// enrollers on one gallery take turns instead of failing.
//
// Schema (version 1):
//   meta(key, value)              format = webgpu-face-gallery, version, model_id, embedding_size
//   people(id, name UNIQUE, metadata JSON, created)
//   faces(id, person_id -> people ON DELETE CASCADE, embedding f32 little-endian BLOB, source, box JSON)
import Database from 'better-sqlite3';
import { existsSync, statSync } from 'node:fs';
import { checkGalleryModel, type FaceRow, type GalleryMatrix, type GalleryModel, type GalleryStore, type Person } from './store.js';

export const GALLERY_FORMAT = 'webgpu-face-gallery';
export const GALLERY_VERSION = 1;
export const DEFAULT_GALLERY = 'gallery.sqlite';

export interface OpenOptions {
  /** The model the caller embeds with: checked against the gallery's, and recorded in a new one. */
  model?: GalleryModel;
  /** Make the gallery when the file is missing (needs `model`). Default false: a missing file is an error. */
  create?: boolean;
  /** Milliseconds to wait for another writer (default 30 s). */
  busyTimeout?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  metadata TEXT,
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS faces (
  id INTEGER PRIMARY KEY,
  person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
  embedding BLOB NOT NULL,
  source TEXT,
  box TEXT
);
CREATE INDEX IF NOT EXISTS faces_person ON faces(person_id);
`;

function notAGallery(path: string, why: string): Error {
  return new Error(`${path}: not a face gallery (${why}); give a gallery made by "npm run enroll" with --gallery, or a new file name`);
}

export function openGallery(path: string, opts: OpenOptions = {}): SqliteGallery {
  const exists = existsSync(path);
  if (!exists && !opts.create) throw new Error(`${path}: no such gallery; enroll someone first (npm run enroll -- --name NAME --gallery ${path} IMAGE)`);
  if (exists && statSync(path).isDirectory()) throw new Error(`${path}: is a folder, not a gallery file`);
  if (!exists && !opts.model) throw new Error(`${path}: making a gallery needs the model it is for`);
  let db: Database.Database;
  try {
    db = new Database(path, { fileMustExist: !opts.create });
  } catch (e) {
    throw new Error(`${path}: cannot open: ${(e as Error).message}`);
  }
  try {
    db.pragma(`busy_timeout = ${opts.busyTimeout ?? 30000}`);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
      db.prepare('SELECT count(*) FROM sqlite_master').get();
    } catch (e) {
      throw notAGallery(path, `not an SQLite database: ${(e as Error).message}`);
    }
    const model = initialise(db, path, opts.model);
    if (opts.model) checkGalleryModel(path, model, opts.model);
    return new SqliteGallery(db, path, model);
  } catch (e) {
    db.close();
    throw e;
  }
}

/** Reads (or, for an empty database, writes) the meta table; checks the format. */
function initialise(db: Database.Database, path: string, want?: GalleryModel): GalleryModel {
  const read = (): GalleryModel | null => {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
    if (tables.length === 0) return null;
    if (!tables.includes('meta')) throw notAGallery(path, `an SQLite database without the gallery's meta table (tables: ${tables.join(', ')})`);
    const meta = new Map((db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
    if (meta.get('format') !== GALLERY_FORMAT) throw notAGallery(path, `meta format is ${JSON.stringify(meta.get('format') ?? null)}, not ${GALLERY_FORMAT}`);
    const version = Number(meta.get('version'));
    if (version !== GALLERY_VERSION) throw new Error(`${path}: gallery format version ${meta.get('version')}; this program reads version ${GALLERY_VERSION}`);
    for (const t of ['people', 'faces']) if (!tables.includes(t)) throw notAGallery(path, `table ${t} is missing`);
    const embeddingSize = Number(meta.get('embedding_size'));
    const id = meta.get('model_id');
    if (!id || !(Number.isInteger(embeddingSize) && embeddingSize > 0)) throw notAGallery(path, 'model_id / embedding_size missing from meta');
    return { id, embeddingSize };
  };
  let model: GalleryModel | null;
  try {
    model = read();
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith('SQLITE_')) throw notAGallery(path, `corrupted: ${(e as Error).message}`);
    throw e;
  }
  if (model) return model;
  if (!want) throw notAGallery(path, 'an empty database');
  // Two processes may create it at once: the immediate transaction serialises them, the second sees the first's meta.
  return db.transaction(() => {
    const again = read();
    if (again) return again;
    db.exec(SCHEMA);
    const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
    put.run('format', GALLERY_FORMAT);
    put.run('version', String(GALLERY_VERSION));
    put.run('model_id', want.id);
    put.run('embedding_size', String(want.embeddingSize));
    return want;
  }).immediate();
}

const toBlob = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
function fromBlob(b: Buffer): Float32Array {
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}
const parseJson = (s: string | null) => (s === null ? null : JSON.parse(s));

export class SqliteGallery implements GalleryStore {
  constructor(
    readonly db: Database.Database,
    readonly path: string,
    readonly model: GalleryModel,
  ) {}

  private wrap<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') throw new Error(`${this.path}: gallery is corrupted (${what}: ${(e as Error).message})`);
      throw e;
    }
  }

  private upsertPerson(name: string, metadata?: Record<string, unknown> | null): number {
    if (!name.trim()) throw new Error('a person needs a non-empty name');
    const row = this.db.prepare('SELECT id FROM people WHERE name = ?').get(name) as { id: number } | undefined;
    if (row) {
      if (metadata !== undefined) this.db.prepare('UPDATE people SET metadata = ? WHERE id = ?').run(metadata === null ? null : JSON.stringify(metadata), row.id);
      return row.id;
    }
    return Number(this.db.prepare('INSERT INTO people (name, metadata) VALUES (?, ?)').run(name, metadata ? JSON.stringify(metadata) : null).lastInsertRowid);
  }

  addPerson(name: string, metadata?: Record<string, unknown> | null): number {
    return this.wrap('addPerson', () => this.db.transaction(() => this.upsertPerson(name, metadata)).immediate());
  }

  addFaces(name: string, rows: readonly FaceRow[], metadata?: Record<string, unknown> | null): number[] {
    const d = this.model.embeddingSize;
    rows.forEach((r, i) => {
      if (r.embedding.length !== d) throw new Error(`addFaces: face ${i} has a ${r.embedding.length}-d embedding; the gallery's model gives ${d}-d`);
      if (!r.embedding.every(Number.isFinite)) throw new Error(`addFaces: face ${i} has a non-finite embedding value`);
    });
    return this.wrap('addFaces', () =>
      this.db.transaction(() => {
        const person = this.upsertPerson(name, metadata);
        const insert = this.db.prepare('INSERT INTO faces (person_id, embedding, source, box) VALUES (?, ?, ?, ?)');
        return rows.map((r) => Number(insert.run(person, toBlob(r.embedding), r.source, r.box ? JSON.stringify(r.box) : null).lastInsertRowid));
      }).immediate(),
    );
  }

  listPeople(): Person[] {
    return this.wrap('listPeople', () =>
      (this.db.prepare('SELECT p.id, p.name, p.metadata, count(f.id) AS faces FROM people p LEFT JOIN faces f ON f.person_id = p.id GROUP BY p.id ORDER BY p.name').all() as {
        id: number; name: string; metadata: string | null; faces: number;
      }[]).map((r) => ({ ...r, metadata: parseJson(r.metadata) })),
    );
  }

  removePerson(name: string): boolean {
    return this.wrap('removePerson', () =>
      this.db.transaction(() => {
        const row = this.db.prepare('SELECT id FROM people WHERE name = ?').get(name) as { id: number } | undefined;
        if (!row) return false;
        this.db.prepare('DELETE FROM faces WHERE person_id = ?').run(row.id);
        this.db.prepare('DELETE FROM people WHERE id = ?').run(row.id);
        return true;
      }).immediate(),
    );
  }

  allEmbeddings(): GalleryMatrix {
    const d = this.model.embeddingSize;
    return this.wrap('allEmbeddings', () => {
      const rows = this.db.prepare('SELECT f.id, p.name, f.embedding FROM faces f JOIN people p ON p.id = f.person_id ORDER BY f.id').all() as { id: number; name: string; embedding: Buffer }[];
      const matrix = new Float32Array(rows.length * d);
      const ids = new Int32Array(rows.length);
      rows.forEach((r, i) => {
        if (r.embedding.byteLength !== 4 * d) throw new Error(`${this.path}: gallery is corrupted (face ${r.id} has a ${r.embedding.byteLength}-byte embedding, expected ${4 * d})`);
        matrix.set(fromBlob(r.embedding), i * d);
        ids[i] = r.id;
      });
      return { ids, names: rows.map((r) => r.name), matrix, embeddingSize: d };
    });
  }

  allFaces() {
    return this.wrap('allFaces', () =>
      (this.db.prepare('SELECT p.name, p.metadata, f.embedding, f.source, f.box FROM faces f JOIN people p ON p.id = f.person_id ORDER BY f.id').all() as {
        name: string; metadata: string | null; embedding: Buffer; source: string | null; box: string | null;
      }[]).map((r) => ({ name: r.name, metadata: parseJson(r.metadata), face: { embedding: fromBlob(r.embedding), source: r.source, box: parseJson(r.box) } })),
    );
  }

  /** SQLite's own consistency check plus the gallery's invariants; [] when sound. */
  check(): string[] {
    const problems: string[] = [];
    const ic = this.db.pragma('integrity_check') as { integrity_check: string }[];
    for (const r of ic) if (r.integrity_check !== 'ok') problems.push(r.integrity_check);
    const orphans = (this.db.prepare('SELECT count(*) AS n FROM faces WHERE person_id NOT IN (SELECT id FROM people)').get() as { n: number }).n;
    if (orphans) problems.push(`${orphans} faces without a person`);
    const bad = (this.db.prepare('SELECT count(*) AS n FROM faces WHERE length(embedding) != ?').get(4 * this.model.embeddingSize) as { n: number }).n;
    if (bad) problems.push(`${bad} faces with a wrong-size embedding`);
    return problems;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
