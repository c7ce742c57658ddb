// LFW's pairs.txt: a header line, then one pair per line,
//   name  i  j            two images of one person (matched)
//   name1 i  name2  j     two people (mismatched)
// Image i of a person is <root>/<name>/<name>_<i as 4 digits>.jpg.
// The official file's header is "10 300": 10 sets, each 300 matched lines
// followed by 300 mismatched ones; those sets are the folds of the standard
// protocol. Other files (one fold of it, or hand-made ones) are folded by
// `stratifiedFolds` instead.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stratifiedFolds, evaluateVerification, pairDistances, type VerificationOptions, type VerificationResult } from './verification.js';

export interface ImageRef {
  name: string;
  index: number;
}

export interface FacePair {
  a: ImageRef;
  b: ImageRef;
  same: boolean;
}

export interface PairsFile {
  pairs: FacePair[];
  /** The sets the header announces, as pair indices, when the lines match it; null otherwise. */
  sets: number[][] | null;
}

export function parsePairs(text: string, source = 'pairs'): PairsFile {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  if (!lines.length) throw new Error(`${source}: empty pairs file`);
  const header = lines[0].split(/\s+/);
  const headerNumbers = header.every((f) => /^\d+$/.test(f)) && header.length <= 2;
  if (!headerNumbers) throw new Error(`${source}:1: expected a header line of numbers ("10 300": sets, pairs of each kind per set), got "${lines[0]}"`);
  const pairs: FacePair[] = [];
  const index = (text: string, line: number) => {
    if (!/^\d+$/.test(text)) throw new Error(`${source}:${line}: image number "${text}" is not a positive integer`);
    return Number(text);
  };
  lines.slice(1).forEach((l, k) => {
    const f = l.split(/\s+/);
    const line = k + 2;
    if (f.length === 3) pairs.push({ a: { name: f[0], index: index(f[1], line) }, b: { name: f[0], index: index(f[2], line) }, same: true });
    else if (f.length === 4) pairs.push({ a: { name: f[0], index: index(f[1], line) }, b: { name: f[2], index: index(f[3], line) }, same: false });
    else throw new Error(`${source}:${line}: expected "name i j" or "name1 i name2 j", got "${l}"`);
  });
  let sets: number[][] | null = null;
  if (header.length === 2) {
    const [count, perKind] = header.map(Number);
    if (count * 2 * perKind === pairs.length) {
      sets = Array.from({ length: count }, (_, s) => Array.from({ length: 2 * perKind }, (_, i) => s * 2 * perKind + i));
      const ordered = sets.every((set) => set.every((p, i) => pairs[p].same === i < perKind));
      if (!ordered) sets = null;
    }
  }
  return { pairs, sets };
}

/**
 * The folds to evaluate with: the file's own sets when it has `k` of them
 * (the standard 10-fold protocol on the official file), else a stratified
 * split into k folds (k is lowered to the smaller class's size when that is
 * under k, but not below 2).
 */
export function pairFolds(file: PairsFile, k = 10): number[][] {
  if (file.sets && file.sets.length === k) return file.sets;
  const same = file.pairs.map((p) => p.same);
  const fewest = Math.min(same.filter(Boolean).length, same.filter((s) => !s).length);
  return stratifiedFolds(same, Math.max(2, Math.min(k, fewest)));
}

/**
 * The file of an image: <root>/<name>/<name>_NNNN.jpg (or .png, .jpeg),
 * also looked for under <root>/images/ (the layout of lfw_pairs_fold01).
 */
export function lfwImagePath(root: string, ref: ImageRef): string {
  const stem = `${ref.name}_${String(ref.index).padStart(4, '0')}`;
  const tried: string[] = [];
  for (const base of [root, join(root, 'images')]) {
    for (const ext of ['.jpg', '.png', '.jpeg']) {
      const p = join(base, ref.name, stem + ext);
      if (existsSync(p)) return p;
      tried.push(p);
    }
  }
  throw new Error(`image ${ref.name} ${ref.index} not found (looked for ${tried[0]} and others under ${root})`);
}

/** A pairs file resolved against an image folder: each distinct image once, and each pair as two indices into them. */
export interface PairSet {
  pairs: FacePair[];
  folds: number[][];
  /** Distinct image files, in order of first use. */
  images: string[];
  /** For each pair, the indices of its two images in `images`. */
  pairImages: [number, number][];
}

export function loadPairSet(pairsPath: string, imageRoot: string, folds = 10): PairSet {
  let text: string;
  try {
    text = readFileSync(pairsPath, 'utf8');
  } catch (e) {
    throw new Error(`${pairsPath}: cannot read the pairs file (${(e as Error).message})`);
  }
  const file = parsePairs(text, pairsPath);
  const images: string[] = [];
  const seen = new Map<string, number>();
  const indexOf = (ref: ImageRef) => {
    const path = lfwImagePath(imageRoot, ref);
    let i = seen.get(path);
    if (i === undefined) {
      i = images.length;
      images.push(path);
      seen.set(path, i);
    }
    return i;
  };
  const pairImages = file.pairs.map((p) => [indexOf(p.a), indexOf(p.b)] as [number, number]);
  return { pairs: file.pairs, folds: pairFolds(file, folds), images, pairImages };
}

/** Verification metrics of a pair set from the embeddings of its images ([images.length * dim], row-major). */
export function verifyPairs(set: PairSet, embeddings: ArrayLike<number>, dim: number, opts: VerificationOptions = {}): VerificationResult {
  if (embeddings.length !== set.images.length * dim) {
    throw new Error(`verifyPairs: ${embeddings.length} values are not ${set.images.length} embeddings of ${dim}`);
  }
  const a = new Float32Array(set.pairs.length * dim);
  const b = new Float32Array(set.pairs.length * dim);
  set.pairImages.forEach(([i, j], k) => {
    for (let d = 0; d < dim; d++) {
      a[k * dim + d] = embeddings[i * dim + d];
      b[k * dim + d] = embeddings[j * dim + d];
    }
  });
  return evaluateVerification(pairDistances(a, b, dim), set.pairs.map((p) => p.same), set.folds, opts);
}
