// Face identity data sets: which image files belong to which person.
//
// Two layouts are read:
//   a folder per identity   DIR/<person>/<image>.jpg|png, as CASIA-WebFace and
//                           LFW are distributed (sub-folders deeper down count
//                           for the identity folder they are in);
//   a list file             one image per line, either `label;path` (the design
//                           document's cls_train.txt: an integer label) or just
//                           `path`, whose identity is then its parent folder's
//                           name; relative paths are relative to the list file.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';

export interface IdentityDataset {
  /** Identity names; label i is names[i]. */
  names: string[];
  /** Image paths, sorted by identity then file name. */
  files: string[];
  /** Label of each file. */
  labels: number[];
}

const IMAGE = /\.(jpe?g|png)$/i;

function imagesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...imagesUnder(p));
    else if (IMAGE.test(name)) out.push(p);
  }
  return out;
}

/** One identity per sub-folder of `dir`; folders without images are left out. */
export function scanIdentityFolders(dir: string): IdentityDataset {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch (e) {
    throw new Error(`${dir}: cannot read the data folder (${(e as Error).message})`);
  }
  const ds: IdentityDataset = { names: [], files: [], labels: [] };
  for (const name of entries) {
    const p = join(dir, name);
    if (!statSync(p).isDirectory()) continue;
    const images = imagesUnder(p);
    if (!images.length) continue;
    const label = ds.names.length;
    ds.names.push(name);
    for (const f of images) {
      ds.files.push(f);
      ds.labels.push(label);
    }
  }
  if (!ds.files.length) throw new Error(`${dir}: no identity folders with JPEG/PNG images (expected DIR/<person>/<image>.jpg)`);
  return ds;
}

/** Reads a list file (see the top of this file). */
export function readIdentityList(listPath: string): IdentityDataset {
  const base = dirname(resolve(listPath));
  const text = readFileSync(listPath, 'utf8');
  const byName = new Map<string, { path: string }[]>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const semi = line.indexOf(';');
    let name: string;
    let path: string;
    if (semi >= 0) {
      name = line.slice(0, semi).trim();
      path = line.slice(semi + 1).trim();
      if (!name || !path) throw new Error(`${listPath}:${i + 1}: expected "label;path", got "${line}"`);
    } else {
      path = line;
      name = basename(dirname(path));
    }
    const full = isAbsolute(path) ? path : join(base, path);
    const list = byName.get(name) ?? [];
    list.push({ path: full });
    byName.set(name, list);
  });
  const ds: IdentityDataset = { names: [], files: [], labels: [] };
  // Integer labels keep their numeric order; names sort as strings.
  const names = [...byName.keys()].sort((a, b) => (/^\d+$/.test(a) && /^\d+$/.test(b) ? Number(a) - Number(b) : a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    const label = ds.names.length;
    ds.names.push(name);
    for (const { path } of byName.get(name)!) {
      ds.files.push(path);
      ds.labels.push(label);
    }
  }
  if (!ds.files.length) throw new Error(`${listPath}: no image lines`);
  return ds;
}

/** A folder is scanned as identity folders; a file is read as a list. */
export function loadIdentityDataset(path: string): IdentityDataset {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new Error(`${path}: no such file or folder`);
  }
  return st.isDirectory() ? scanIdentityFolders(path) : readIdentityList(path);
}

/**
 * Splits off the last `perIdentity` images of every identity that keeps at
 * least `minLeft` for training (a held-out set of known people). Labels stay
 * the same in both parts.
 */
export function holdOutPerIdentity(ds: IdentityDataset, perIdentity: number, minLeft = 2): { train: IdentityDataset; held: IdentityDataset } {
  const train: IdentityDataset = { names: ds.names, files: [], labels: [] };
  const held: IdentityDataset = { names: ds.names, files: [], labels: [] };
  const byLabel = new Map<number, number[]>();
  ds.labels.forEach((l, i) => byLabel.set(l, [...(byLabel.get(l) ?? []), i]));
  for (const [label, idx] of byLabel) {
    const cut = idx.length - perIdentity >= minLeft ? idx.length - perIdentity : idx.length;
    idx.forEach((i, k) => {
      const part = k < cut ? train : held;
      part.files.push(ds.files[i]);
      part.labels.push(label);
    });
  }
  return { train, held };
}
