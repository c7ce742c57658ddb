import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadAnnotations, type AnnotatedFace, type Box } from '../tools/annotations.js';
import { readImage } from '../tools/image.js';
import { loadMtcnnWeights, DEFAULT_MTCNN_DIR } from '../tools/models.js';
import { loadDetector, mtcnnVariantOf } from '../tools/eval-detect.js';
import { createMtcnnNets, convertTorchMtcnn, toTorchMtcnn, PNet, RNet, ONet } from '../nets/mtcnn/index.js';
import { LABEL, boxToImage, iou, labelCandidates, labelFor, rng, DEFAULT_SAMPLE_OPTIONS, faceBox } from '../train/mtcnn/samples.js';
import { generate, parseGenArgs, type GenOptions } from '../train/mtcnn/gen-samples.js';
import { readShards } from '../train/mtcnn/shards.js';
import { loadSampleSet, makeBatch } from '../train/mtcnn/dataset.js';
import { hostState, exportNet } from '../train/mtcnn/export.js';
import { trainMtcnn, evaluateSet, createNet, DEFAULTS, DEFAULT_WEIGHTS, type MtcnnTrainOptions } from '../train/mtcnn/train.js';
import { JsonlLog } from '../train/lib/jsonl.js';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const ANN = 'test/data/annotations';
const tmp = () => mkdtempSync(join(tmpdir(), 'mtcnn-train-'));

// One CelebA-format face of examples/multiface.jpg with five points: 12x12
// samples of every class (positive, part, negative, landmark).
let samples12: string;
const dirs: string[] = [];
beforeAll(async () => {
  const { file, images } = loadAnnotations(join(ANN, 'celeba'), 'celeba', 'examples');
  samples12 = tmp();
  dirs.push(samples12);
  await generate(images.slice(0, 1), { data: file, format: 'celeba', size: 12, out: samples12, resume: false, seed: 3, shardMb: 64, sample: { perFace: 16, minCrop: 12 } }, file);
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const base = (out: string): Partial<MtcnnTrainOptions> & { net: 'pnet'; data: string[] } => ({
  net: 'pnet', data: [samples12], out, batch: 32, lr: 3e-3, warmupSteps: 0, verbose: false, seed: 7,
});

describe('MTCNN training', () => {
  it('a tiny run lowers every head\'s loss (classification, box, landmark)', async () => {
    const out = tmp();
    dirs.push(out);
    const set = loadSampleSet([samples12]);
    expect(set.counts).toEqual({ negative: 48, positive: 16, part: 16, landmark: 32 });
    const o = { ...DEFAULTS, ...base(out), weights: DEFAULT_WEIGHTS.pnet, epochs: 12 } as MtcnnTrainOptions;
    const fresh = createNet('pnet', 'original');
    const before = await evaluateSet(fresh, set, o);
    fresh.dispose();
    const r = await trainMtcnn({ ...base(out), epochs: 12 });
    expect(r.status).toBe('done');
    const after = await evaluateSet(r.model, set, o);
    expect(after.cls).toBeLessThan(0.7 * before.cls);
    expect(after.box).toBeLessThan(0.7 * before.box);
    expect(after.landmark).toBeLessThan(0.7 * before.landmark);
    expect(after.accuracy).toBeGreaterThan(0.8);
    // Run folder: log, plot, exported weights that the detector's loader reads.
    expect(existsSync(join(out, 'loss.png'))).toBe(true);
    const steps = new JsonlLog(join(out, 'train.jsonl')).read().filter((x) => x.type === 'step');
    expect(steps).toHaveLength(12 * 3);
    expect(r.exported).toBe(join(out, 'pnet.safetensors'));
    const w = await loadMtcnnWeights(DEFAULT_MTCNN_DIR);
    const { loadSafetensors } = await import('../engine/io.js');
    const pnet = (await loadSafetensors(r.exported!)).tensors;
    expect([...pnet.keys()].sort()).toEqual([...w.pnet.keys()].sort());
    expect(() => createMtcnnNets({ ...w, pnet })).not.toThrow();
    r.model.dispose();
  });

  it('resumes an interrupted run from the same step, ending where an uninterrupted run ends', async () => {
    const a = tmp();
    const b = tmp();
    dirs.push(a, b);
    const opts = { epochs: 2, batch: 16 }; // 7 steps per epoch
    const whole = await trainMtcnn({ ...base(a), ...opts });
    const cut = await trainMtcnn({ ...base(b), ...opts, stopAtStep: 4 });
    expect(cut.status).toBe('interrupted');
    expect(cut.state).toMatchObject({ epoch: 0, stepInEpoch: 4, globalStep: 4 });
    cut.model.dispose();
    const resumed = await trainMtcnn({ ...base(b), ...opts, resume: true });
    expect(resumed.status).toBe('done');
    expect(resumed.state.globalStep).toBe(whole.state.globalStep);
    const stepsOf = (dir: string) => new JsonlLog(join(dir, 'train.jsonl')).read().filter((x) => x.type === 'step');
    expect(stepsOf(b).map((s) => s.step)).toEqual(stepsOf(a).map((s) => s.step));
    const la = stepsOf(a).map((s) => s.loss as number);
    const lb = stepsOf(b).map((s) => s.loss as number);
    lb.forEach((v, i) => expect(v).toBeCloseTo(la[i], 4));
    const wa = await hostState(whole.model);
    const wb = await hostState(resumed.model);
    for (const [name, t] of wa) {
      const u = wb.get(name)!.data;
      t.data.forEach((v, i) => expect(u[i]).toBeCloseTo(v, 4));
    }
    whole.model.dispose();
    resumed.model.dispose();
  });

  it('fine-tunes from the pretrained weights (--init): the start is the pretrained net', async () => {
    const out = tmp();
    dirs.push(out);
    const r = await trainMtcnn({ ...base(out), epochs: 1, stepsPerEpoch: 1, lr: 1e-9, init: DEFAULT_MTCNN_DIR });
    const w = await loadMtcnnWeights(DEFAULT_MTCNN_DIR);
    const want = convertTorchMtcnn('pnet', w.pnet);
    const got = await hostState(r.model);
    for (const [name, t] of want) {
      const g = got.get(name)!.data;
      for (let i = 0; i < t.data.length; i += 7) expect(g[i]).toBeCloseTo(t.data[i] as number, 4);
    }
    // The training-only landmark head is not in the file: it starts at zero, so it cannot disturb the trunk.
    for (const v of got.get('conv4_3.weight')!.data) expect(Math.abs(v)).toBeLessThan(1e-6);
    r.model.dispose();
  });

  it('mirrors a batch: pixels reversed, box x targets swapped and negated, landmarks mirrored with left/right swapped', async () => {
    const set = loadSampleSet([samples12]);
    const i = set.labels.findIndex((l) => l === LABEL.landmark);
    const j = set.labels.findIndex((l) => l === LABEL.positive);
    const plain = makeBatch(set, [i, j]);
    const flipped = makeBatch(set, [i, j], [true, true]);
    const [p, f] = [await plain.images.data(), await flipped.images.data()];
    const s = set.size;
    for (const [y, x] of [[0, 0], [5, 3], [11, 11]]) {
      for (let c = 0; c < 3; c++) expect(f[(y * s + x) * 3 + c]).toBe(p[(y * s + (s - 1 - x)) * 3 + c]);
    }
    const [lp, lf] = [await plain.landmarks.data(), await flipped.landmarks.data()];
    expect(lf[0]).toBeCloseTo(1 - lp[1], 6); // new left eye x = mirrored right eye x
    expect(lf[5]).toBeCloseTo(lp[6], 6);
    expect(lf[2]).toBeCloseTo(1 - lp[2], 6); // nose stays the nose
    const [bp, bf] = [await plain.boxes.data(), await flipped.boxes.data()];
    expect([bf[4], bf[5], bf[6], bf[7]].map((v) => +v.toFixed(6))).toEqual([-bp[6], bp[5], -bp[4], bp[7]].map((v) => +v.toFixed(6)));
    for (const b of [plain, flipped]) for (const t of [b.images, b.classes, b.clsMask, b.boxMask, b.lmMask, b.boxes, b.landmarks]) t.dispose();
  });
});

describe('exported weights', () => {
  it('round-trip the PyTorch layout, and a cascade of exported nets detects as the bundled one', async () => {
    const w = await loadMtcnnWeights(DEFAULT_MTCNN_DIR);
    for (const net of ['pnet', 'rnet', 'onet'] as const) {
      const back = toTorchMtcnn(net, convertTorchMtcnn(net, w[net]));
      for (const [name, t] of w[net]) expect(back.get(name)!.data).toEqual(t.data);
    }
    const nets = createMtcnnNets(w);
    const dir = tmp();
    dirs.push(dir);
    for (const net of ['pnet', 'rnet', 'onet'] as const) await exportNet(dir, net, nets[net], 'original');
    const img = await readImage(join(root, 'examples/multiface.jpg'));
    const [mine, bundled] = [await loadDetector(dir), await loadDetector()];
    const [a, b] = [await mine.detect(img, { minFaceSize: 40 }), await bundled.detect(img, { minFaceSize: 40 })];
    expect(a.length).toBeGreaterThan(0);
    expect(a.length).toBe(b.length);
    a.forEach((f, i) => f.box.forEach((v, k) => expect(v).toBeCloseTo(b[i].box[k], 3)));
  });

  it('loads batchnorm nets for the detector by their tensor names', async () => {
    const dir = tmp();
    dirs.push(dir);
    await exportNet(dir, 'pnet', new PNet('bn', { landmarks: true }), 'bn');
    await exportNet(dir, 'rnet', new RNet('bn', { landmarks: true }), 'bn');
    await exportNet(dir, 'onet', new ONet('bn'), 'bn');
    const w = await loadMtcnnWeights(dir);
    expect(mtcnnVariantOf(w)).toBe('bn');
    expect([...w.pnet.keys()].some((k) => k.startsWith('conv4_3'))).toBe(false);
    const det = await loadDetector(dir);
    await expect(det.detect(await readImage(join(root, 'examples/multiface.jpg')), { minFaceSize: 80 })).resolves.toBeInstanceOf(Array);
  });
});

describe('hard-example mining', () => {
  const faces: AnnotatedFace[] = [{ box: [100, 100, 200, 200] }, { box: [300, 100, 360, 160], ignore: true }];

  it('labels candidate boxes by IoU with the faces (pure)', () => {
    const o = { ...DEFAULT_SAMPLE_OPTIONS, maxNegatives: 2 };
    const cands: Box[] = [
      [100, 100, 200, 200], // positive, IoU 1
      [130, 130, 230, 230], // IoU 0.32: between negative and part, dropped
      [120, 110, 220, 210], // IoU 0.6: part
      [0, 0, 50, 50], [400, 300, 450, 350], [200, 300, 260, 360], // negatives, two kept
      [302, 100, 362, 160], // best face is ignored: dropped
    ];
    const s = labelCandidates(cands, faces, rng(1), o);
    expect(s.map((x) => x.label)).toEqual([LABEL.positive, LABEL.part, LABEL.negative, LABEL.negative]);
    expect(boxToImage(s[1].crop, s[1].box)).toEqual([100, 100, 200, 200]);
  });

  it('mined R-Net and O-Net samples (gen:mtcnn --mine) have the IoU labels they claim', async () => {
    const { images } = loadAnnotations(join(ANN, 'dlib_multiface'), 'dlib');
    const im = images[0];
    const det = await loadDetector();
    const boxes = im.faces.map(faceBox);
    for (const size of [24, 48] as const) {
      const out = tmp();
      dirs.push(out);
      const opts: GenOptions = {
        data: 'x', format: 'dlib', size, out, resume: false, seed: 1, shardMb: 64, sample: { minCrop: size },
        mine: DEFAULT_MTCNN_DIR, mineOnly: true, mineMinFace: 40,
      };
      const r = await generate([im], opts, 'x', det);
      const recs = [...readShards(out)];
      expect(recs.length).toBe(r.total);
      // Tight hand-drawn boxes: MTCNN's own boxes overlap them as parts more often than as positives.
      expect(recs.some((s) => s.label === LABEL.positive || s.label === LABEL.part)).toBe(true);
      expect(recs.some((s) => s.label === LABEL.negative)).toBe(true);
      for (const rec of recs) {
        const ious = boxes.map((b) => iou(rec.crop, b!));
        const best = Math.max(...ious);
        expect(rec.crop[2] - rec.crop[0]).toBeCloseTo(rec.crop[3] - rec.crop[1], 2);
        expect(labelFor(best, DEFAULT_SAMPLE_OPTIONS)).toBe(rec.label);
        if (rec.label !== LABEL.negative) {
          const face = ious.indexOf(best);
          expect(im.faces[face].ignore).toBeFalsy();
          boxToImage(rec.crop, rec.box).forEach((v, k) => expect(v).toBeCloseTo(boxes[face]![k], 2));
        }
      }
    }
  });

  it('candidates() are the boxes the cascade hands on; detect() is unchanged by them', async () => {
    const det = await loadDetector();
    const img = await readImage(join(root, 'examples/multiface.jpg'));
    const o = { minFaceSize: 40 };
    const first = await det.detect(img, o);
    const counts = { ...det.lastCounts! };
    expect((await det.candidates(img, 1, o)).length).toBe(counts.afterCrossScaleNms);
    expect((await det.candidates(img, 2, o)).length).toBe(counts.afterRnetNms);
    expect(await det.detect(img, o)).toEqual(first);
  });
});

describe('train.ts command line', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(root, 'train/mtcnn/train.ts'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' } });
  it('--help exits 0; bad options exit 2 with a message', () => {
    const help = cli('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--net pnet\|rnet\|onet/);
    expect(help.stdout).toMatch(/--init DIR/);
    const noNet = cli('--data', samples12);
    expect(noNet.status).toBe(2);
    expect(noNet.stderr).toMatch(/--net must be pnet, rnet or onet/);
    const notShards = cli('--net', 'pnet', '--data', join(root, 'test'));
    expect(notShards.status).toBe(2);
    expect(notShards.stderr).toMatch(/not a gen:mtcnn sample folder/);
    const badWeights = cli('--net', 'onet', '--data', samples12, '--loss-weights', '1,2');
    expect(badWeights.status).toBe(2);
    expect(readFileSync(join(root, 'package.json'), 'utf8')).toMatch(/"train:onet": "tsx train\/mtcnn\/train.ts --net onet"/);
  });
  it('gen:mtcnn parses the mining options', () => {
    const base = ['--data', 'x', '--format', 'dlib', '--out', 'o'];
    expect(parseGenArgs([...base, '--size', '48', '--mine', 'models/mtcnn', '--mine-neg', '5', '--mine-thresholds', '0.5,0.6,0.7', '--mine-min-face', '30', '--resize', 'bilinear']))
      .toMatchObject({ size: 48, mine: 'models/mtcnn', mineNeg: 5, mineThresholds: [0.5, 0.6, 0.7], mineMinFace: 30, resize: 'bilinear', mineOnly: false });
    expect(() => parseGenArgs([...base, '--size', '12', '--mine', 'models/mtcnn'])).toThrow(/--size 12/);
    expect(() => parseGenArgs([...base, '--size', '24', '--mine-only'])).toThrow(/--mine-only needs --mine/);
    expect(() => parseGenArgs([...base, '--size', '24', '--resize', 'cubic'])).toThrow(/--resize cubic/);
  });
});
