// The LFW verification protocol (train/lib/verification.ts, lfw-pairs.ts) on
// hand-made distances with known answers, and eval:lfw end to end.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, copyFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { evaluateVerification, stratifiedFolds, rocCurve } from '../train/lib/verification.js';
import { parsePairs, pairFolds, loadPairSet, verifyPairs } from '../train/lib/lfw-pairs.js';
import { saveModule } from '../engine/io.js';
import { seedInit } from '../engine/nn/layers.js';
import { FaceNet, facenetMetadata, FACENET_INPUT } from '../nets/facenet/index.js';
import { evaluateLfw } from '../train/eval-lfw.js';

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;

describe('verification metrics on hand-made distances', () => {
  // Same pairs at 0.1 0.2 | 0.3 0.4, different pairs at 1.0 1.1 | 1.2 1.3
  // ("|" separates the two folds). Fold 1 is tested with the threshold learnt
  // on fold 2: the first grid value accepting 0.3 and 0.4, i.e. 0.41, which
  // classifies fold 1 perfectly. Fold 2 gets 0.21 from fold 1, which rejects
  // its same pairs 0.3 and 0.4: accuracy 2/4. Mean 0.75, std 0.25, mean
  // threshold 0.31.
  const dist = [0.1, 0.2, 0.3, 0.4, 1.0, 1.1, 1.2, 1.3];
  const same = [true, true, true, true, false, false, false, false];

  it('k-fold accuracy uses the threshold chosen on the other folds', () => {
    const folds = stratifiedFolds(same, 2);
    expect(folds).toEqual([[0, 1, 4, 5], [2, 3, 6, 7]]);
    const r = evaluateVerification(dist, same, folds);
    expect(r.foldThresholds).toEqual([0.41, 0.21]);
    expect(r.foldAccuracies).toEqual([1, 0.5]);
    expect(r.accuracy).toBeCloseTo(0.75, 12);
    expect(r.std).toBeCloseTo(0.25, 12);
    expect(r.threshold).toBeCloseTo(0.31, 12);
    expect(r.pairs).toBe(8);
    expect(r.roc.auc).toBe(1); // the distances separate the classes perfectly
  });

  it('separable classes: accuracy 1, VAL at FAR 1e-3 as the reference computes it; one far same pair costs exactly its share', () => {
    // (With spread-out same distances a fold can lose a pair even when the
    // classes separate: the first best threshold on the other folds hugs their
    // largest same distance, as in the first test.)
    const d = [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 1.3, 1.4, 1.2, 1.5, 1.35, 1.25];
    const s = d.map((_, i) => i < 6);
    const folds = stratifiedFolds(s, 3);
    const r = evaluateVerification(d, s, folds);
    expect(r.accuracy).toBe(1);
    // VAL: each fold's threshold is where the other folds' FAR reaches 1e-3,
    // interpolated just past their smallest different-pair distance: 1.2,
    // 1.25 and 1.2 for the folds, whose different pairs are (1.3, 1.4),
    // (1.2, 1.5) and (1.35, 1.25). Fold 2 therefore accepts its 1.2: FAR 1/2
    // there, 1/6 on average; every same pair (0.2) is accepted.
    expect(folds).toEqual([[0, 1, 6, 7], [2, 3, 8, 9], [4, 5, 10, 11]]);
    expect(r.valRate).toBe(1);
    expect(r.far).toBeCloseTo(1 / 6, 12);
    // A same pair far away (1.45) is misclassified in its fold whatever the threshold: 1 of that fold's 4 pairs.
    const d2 = [...d];
    d2[0] = 1.45;
    const r2 = evaluateVerification(d2, s, folds);
    expect(r2.foldAccuracies).toEqual([0.75, 1, 1]);
    expect(r2.accuracy).toBeCloseTo(0.75 / 3 + 2 / 3, 12);
  });

  it('ROC: one point per distinct distance, AUC 0.5 for a tie between the classes', () => {
    expect(rocCurve([0.5, 0.5], [true, false])).toEqual({ fpr: [0, 1], tpr: [0, 1], auc: 0.5 });
    const r = rocCurve([0.1, 0.2, 0.3, 0.4], [true, false, true, false]);
    expect(r.fpr).toEqual([0, 0, 0.5, 0.5, 1]);
    expect(r.tpr).toEqual([0, 0.5, 0.5, 1, 1]);
    expect(r.auc).toBeCloseTo(0.75, 12);
  });
});

describe("LFW's pairs.txt format", () => {
  const text = '2\t2\nA\t1\t2\nB\t1\t3\nA\t1\tC\t1\nB\t2\tC\t2\nC\t1\t2\nD\t1\t2\nA\t2\tD\t1\nB\t1\tD\t2\n';

  it('reads matched and mismatched lines and the header\'s sets (the folds of the standard protocol)', () => {
    const f = parsePairs(text);
    expect(f.pairs).toHaveLength(8);
    expect(f.pairs[0]).toEqual({ a: { name: 'A', index: 1 }, b: { name: 'A', index: 2 }, same: true });
    expect(f.pairs[2]).toEqual({ a: { name: 'A', index: 1 }, b: { name: 'C', index: 1 }, same: false });
    expect(f.sets).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]);
    expect(pairFolds(f, 2)).toEqual(f.sets);
    // Asking for more folds than the file has sets: stratified, limited by the class sizes.
    expect(pairFolds(f, 10)).toHaveLength(4);
  });

  it('rejects malformed lines with the line number', () => {
    expect(() => parsePairs('1 1\nA 1\n', 'p.txt')).toThrow(/p\.txt:2: expected "name i j" or "name1 i name2 j"/);
    expect(() => parsePairs('A 1 2\n', 'p.txt')).toThrow(/p\.txt:1: expected a header/);
  });
});

describe('eval:lfw', () => {
  it('evaluates a model on an LFW-style folder and ends --json output with the summary line', async () => {
    // ORL images laid out as LFW: <root>/<name>/<name>_000i.png.
    const root = mkdtempSync(join(tmpdir(), 'eval-lfw-'));
    const people = ['s1', 's2', 's3', 's4'];
    for (const p of people) {
      mkdirSync(join(root, 'images', p), { recursive: true });
      for (let i = 1; i <= 4; i++) copyFileSync(join(ROOT, `test/data/orl/${p}/${i}.png`), join(root, 'images', p, `${p}_${String(i).padStart(4, '0')}.png`));
    }
    const lines = ['1\t6'];
    for (const p of people.slice(0, 3)) lines.push(`${p}\t1\t2`, `${p}\t3\t4`);
    lines.push('s1\t1\ts2\t1', 's2\t2\ts3\t2', 's3\t3\ts4\t3', 's4\t4\ts1\t4', 's1\t2\ts3\t1', 's2\t3\ts4\t1');
    const pairs = join(root, 'pairs.txt');
    writeFileSync(pairs, lines.join('\n') + '\n');

    seedInit(5);
    const model = new FaceNet({ backbone: 'mobilenet', numClasses: 4 });
    const modelPath = join(root, 'model.safetensors');
    await saveModule(modelPath, model, facenetMetadata({ config: { backbone: 'mobilenet', embeddingSize: 128, numClasses: 4 }, inputSize: 32, normalization: FACENET_INPUT, crop: 0.9 }));
    model.dispose();

    const roc = join(root, 'roc.png');
    const { stdout } = await run('npx', ['tsx', 'train/eval-lfw.ts', '--data', root, '--pairs', pairs, '--model', modelPath, '--roc', roc, '--json'], { cwd: ROOT });
    const out = stdout.trim().split('\n');
    const last = JSON.parse(out[out.length - 1]);
    expect(Object.keys(last)).toEqual(['accuracy', 'std', 'threshold', 'pairs']);
    expect(last.pairs).toBe(12);
    expect(existsSync(roc)).toBe(true);
    expect(stdout).toMatch(/accuracy: [\d.]+% \+- [\d.]+%/);
    expect(stdout).toMatch(/validation rate: .* at FAR/);

    // The same evaluation in-process gives the same numbers.
    const inProcess = await evaluateLfw({ data: root, pairs, model: modelPath });
    expect(inProcess.result.accuracy).toBeCloseTo(last.accuracy, 12);
    expect(inProcess.result.threshold).toBeCloseTo(last.threshold, 12);

    // verifyPairs on hand-fed embeddings, one axis per person: same pairs at
    // distance 0, different ones at sqrt(2), so every fold is perfect.
    const set = loadPairSet(pairs, root, 3);
    const dim = people.length;
    const emb = new Float32Array(set.images.length * dim);
    set.images.forEach((path, i) => (emb[i * dim + people.findIndex((p) => path.includes(`/${p}/`))] = 1));
    const v = verifyPairs(set, emb, dim);
    expect(v.pairs).toBe(12);
    expect(v.folds).toBe(3);
    expect(v.accuracy).toBe(1);
  }, 120_000);

  it('--help exits 0 and describes the options', async () => {
    const { stdout } = await run('npx', ['tsx', 'train/eval-lfw.ts', '--help'], { cwd: ROOT });
    expect(stdout).toMatch(/--pairs FILE/);
    expect(stdout).toMatch(/--json/);
  });
});
