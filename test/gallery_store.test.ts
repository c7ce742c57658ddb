// The SQLite gallery store: round trip, transactions, the model check, and
// the errors for files that are not galleries or are corrupted.
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openGallery } from '../tools/gallery/sqlite.js';
import type { GalleryModel } from '../tools/gallery/store.js';

const MODEL: GalleryModel = { id: 'a.safetensors sha256:1111', embeddingSize: 4 };
const OTHER: GalleryModel = { id: 'b.safetensors sha256:2222', embeddingSize: 4 };
const unit = (...v: number[]) => {
  const n = Math.hypot(...v);
  return new Float32Array(v.map((x) => x / n));
};

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gallery-store-'));
});

describe('SQLite gallery store', () => {
  it('round-trips people, faces, metadata; WAL mode; remove cascades', () => {
    const path = join(dir, 'round.sqlite');
    const g = openGallery(path, { model: MODEL, create: true });
    expect(g.db.pragma('journal_mode', { simple: true })).toBe('wal');
    g.addPerson('ann', { team: 'x' });
    const ids = g.addFaces('ann', [
      { embedding: unit(1, 0, 0, 0), source: 'a1.png', box: [1, 2, 3, 4] },
      { embedding: unit(1, 1, 0, 0), source: 'a2.png', box: null },
    ]);
    expect(ids.length).toBe(2);
    g.addFaces('bob', [{ embedding: unit(0, 0, 1, 0), source: null, box: null }]);
    g.close();

    const h = openGallery(path, { model: MODEL });
    expect(h.listPeople().map((p) => [p.name, p.faces, p.metadata])).toEqual([['ann', 2, { team: 'x' }], ['bob', 1, null]]);
    const all = h.allEmbeddings();
    expect(all.names).toEqual(['ann', 'ann', 'bob']);
    expect(Array.from(all.matrix.subarray(4, 8))).toEqual(Array.from(unit(1, 1, 0, 0)));
    expect(h.allFaces()[0].face.box).toEqual([1, 2, 3, 4]);
    expect(h.removePerson('ann')).toBe(true);
    expect(h.removePerson('ann')).toBe(false);
    expect(h.allEmbeddings().names).toEqual(['bob']);
    expect(h.check()).toEqual([]);
    h.close();
  });

  it('addFaces is all-or-nothing: a bad row adds none and no person', () => {
    const g = openGallery(join(dir, 'atomic.sqlite'), { model: MODEL, create: true });
    expect(() => g.addFaces('cy', [{ embedding: unit(1, 0, 0, 0), source: null, box: null }, { embedding: new Float32Array(3), source: null, box: null }])).toThrow(/3-d embedding/);
    expect(g.listPeople()).toEqual([]);
    g.close();
  });

  it('refuses a gallery made with another model, naming both', () => {
    const path = join(dir, 'model.sqlite');
    openGallery(path, { model: MODEL, create: true }).close();
    expect(() => openGallery(path, { model: OTHER })).toThrow(/made with model a\.safetensors sha256:1111.*not b\.safetensors sha256:2222/);
    // Opened without a model (list, export), it reports its own.
    const g = openGallery(path);
    expect(g.model).toEqual(MODEL);
    g.close();
  });

  it('a missing gallery, a non-database file, a foreign database and a corrupted one give clear errors', () => {
    expect(() => openGallery(join(dir, 'none.sqlite'), { model: MODEL })).toThrow(/no such gallery/);
    const text = join(dir, 'text.sqlite');
    writeFileSync(text, 'hello, this is not a database at all, but it is long enough to look like one'.repeat(20));
    expect(() => openGallery(text, { model: MODEL })).toThrow(/not a face gallery \(not an SQLite database/);
    const foreign = join(dir, 'foreign.sqlite');
    const db = new Database(foreign);
    db.exec('CREATE TABLE songs (title TEXT)');
    db.close();
    expect(() => openGallery(foreign, { model: MODEL, create: true })).toThrow(/not a face gallery.*tables: songs/);

    // Overwrite the middle of a real gallery's pages.
    const broken = join(dir, 'broken.sqlite');
    const g = openGallery(broken, { model: MODEL, create: true });
    for (let i = 0; i < 200; i++) g.addFaces(`p${i}`, [{ embedding: unit(1, i, 0, 0), source: `img${i}.png`, box: [0, 0, 1, 1] }]);
    g.db.pragma('wal_checkpoint(TRUNCATE)');
    g.close();
    const bytes = readFileSync(broken);
    bytes.fill(0xa5, 4096, bytes.length - 4096);
    writeFileSync(broken, bytes);
    expect(existsSync(broken)).toBe(true);
    let message = '';
    try {
      const h = openGallery(broken, { model: MODEL });
      h.allEmbeddings();
      h.listPeople();
      h.close();
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/broken\.sqlite: .*(corrupted|not a face gallery)/);
  });
});
