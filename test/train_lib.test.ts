// The generic training helpers (train/lib) and the host side of FaceNet
// batches (triplet sampling, crop boxes, colour jitter).
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, appendFileSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../engine/tensor.js';
import { Module } from '../engine/nn/module.js';
import { Adam } from '../engine/optim.js';
import { parseArgs, formatOptions, UsageError, type OptionSpecs } from '../train/lib/args.js';
import { LossGuard } from '../train/lib/loss-guard.js';
import { JsonlLog } from '../train/lib/jsonl.js';
import { saveCheckpoint, loadLatestCheckpoint, latestCheckpoint } from '../train/lib/checkpoint.js';
import { resampleRgba, centreSquare } from '../train/lib/image-cache.js';
import { readIdentityList, holdOutPerIdentity, scanIdentityFolders } from '../train/lib/identity-dataset.js';
import { Rng } from '../train/lib/rng.js';
import { movingAverage } from '../train/lib/charts.js';
import { TripletSampler, cropBoxes, colourJitter, prepareBatch, FACENET_INPUT } from '../nets/facenet/index.js';

const tmp = (name: string) => mkdtempSync(join(tmpdir(), name));

describe('args', () => {
  const specs: OptionSpecs = {
    data: { kind: 'string', help: 'd' },
    epochs: { kind: 'int', help: 'e', default: 3 },
    lr: { kind: 'number', help: 'l', default: 0.1 },
    resume: { kind: 'boolean', help: 'r' },
  };
  it('parses values, = forms and flags, keeps defaults', () => {
    expect(parseArgs(['--data', 'x', '--lr=0.5', '--resume'], specs)).toEqual({ data: 'x', epochs: 3, lr: 0.5, resume: true });
  });
  it('rejects unknown options, bad numbers and missing values', () => {
    expect(() => parseArgs(['--epoch', '3'], specs)).toThrow(UsageError);
    expect(() => parseArgs(['--epochs', '2.5'], specs)).toThrow(/--epochs must be an integer/);
    expect(() => parseArgs(['--lr', 'fast'], specs)).toThrow(/--lr must be a number/);
    expect(() => parseArgs(['--data'], specs)).toThrow(/--data needs a value/);
  });
  it('formats help with defaults', () => {
    expect(formatOptions(specs)).toMatch(/--epochs INT\s+e \(default 3\)/);
  });
});

describe('LossGuard', () => {
  it('stops on NaN / infinity at once and on a loss 10x its running average after the warm-up', () => {
    const g = new LossGuard({ warmup: 3 });
    expect(g.check(NaN)).toMatch(/NaN/);
    expect(g.check(Infinity)).toMatch(/Infinity/);
    for (const l of [2, 2, 2]) expect(g.check(l)).toBeNull();
    expect(g.check(15)).toBeNull();
    expect(g.check(100)).toMatch(/exploded: 100\.0 against a running average/);
  });
});

describe('JsonlLog', () => {
  it('appends records and skips a torn last line', () => {
    const path = join(tmp('jsonl-'), 'log.jsonl');
    const log = new JsonlLog(path);
    log.write({ a: 1 });
    log.write({ a: 2 });
    appendFileSync(path, '{"a": 3');
    expect(log.read()).toEqual([{ a: 1 }, { a: 2 }]);
  });
});

class Tiny extends Module {
  readonly w = this.param('w', Tensor.from([1, 2, 3]));
}

describe('checkpoints', () => {
  it('saves model + optimiser + loop state, points latest.json at the newest, prunes to `keep`', async () => {
    const dir = tmp('ckpt-');
    const m = new Tiny();
    const opt = new Adam(m.namedParameters(), { lr: 0.1 });
    m.w.grad = Tensor.from([1, 1, 1]);
    opt.step();
    for (const step of [1, 2, 3]) await saveCheckpoint(dir, { model: m, optimizer: opt, state: { epoch: step, stepInEpoch: 0, globalStep: step, note: 'x' }, metadata: { k: 'v' } }, 2);
    expect(readdirSync(join(dir, 'checkpoints')).sort()).toEqual(['step-00000002', 'step-00000003']);
    expect(latestCheckpoint(dir)).toBe(join(dir, 'checkpoints/step-00000003'));

    const m2 = new Tiny();
    const opt2 = new Adam(m2.namedParameters(), { lr: 0.5 });
    const loaded = await loadLatestCheckpoint(dir, m2, opt2);
    expect(loaded!.state).toEqual({ epoch: 3, stepInEpoch: 0, globalStep: 3, note: 'x' });
    expect(loaded!.metadata).toEqual({ k: 'v' });
    expect(Array.from((await m2.w.data()) as Float32Array)).toEqual(Array.from((await m.w.data()) as Float32Array));
    expect(opt2.lr).toBe(0.1);
    expect(opt2.stateDict().steps).toEqual({ w: 1 });
  });

  it('a checkpoint folder without a completed pointer update is ignored (a crash mid-save)', async () => {
    const dir = tmp('ckpt-crash-');
    const m = new Tiny();
    const opt = new Adam(m.namedParameters(), { lr: 0.1 });
    await saveCheckpoint(dir, { model: m, optimizer: opt, state: { epoch: 1, stepInEpoch: 0, globalStep: 10 } });
    // What a crash after writing part of the next checkpoint leaves behind.
    mkdirSync(join(dir, 'checkpoints/step-00000020'));
    writeFileSync(join(dir, 'checkpoints/step-00000020/model.safetensors'), 'partial');
    expect(latestCheckpoint(dir)).toBe(join(dir, 'checkpoints/step-00000010'));
    const loaded = await loadLatestCheckpoint(dir, new Tiny(), new Adam(new Tiny().namedParameters(), { lr: 0.1 }));
    expect(loaded!.state.globalStep).toBe(10);
    expect(await loadLatestCheckpoint(tmp('empty-'), m, opt)).toBeNull();
  });
});

describe('image cache resampling', () => {
  const image = (w: number, h: number, f: (x: number, y: number) => number) => {
    const data = new Uint8Array(w * h * 4);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([f(x, y), 255 - f(x, y), 7, 255], (y * w + x) * 4);
    return { width: w, height: h, data };
  };

  it('is the identity on the full box at the same size, and keeps flat images flat', () => {
    const src = image(9, 7, (x, y) => (x * 31 + y * 17) % 256);
    const out = new Uint8Array(9 * 7 * 4);
    resampleRgba(src, { x: 0, y: 0, w: 9, h: 7 }, 9, 7, out);
    expect(Array.from(out)).toEqual(Array.from(src.data));
    const flat = image(250, 250, () => 100);
    const small = new Uint8Array(40 * 40 * 4);
    resampleRgba(flat, centreSquare(250, 250, 0.6), 40, 40, small);
    expect(small.every((v, i) => v === [100, 155, 7, 255][i % 4])).toBe(true);
  });

  it('averages when shrinking by 2 (a ramp keeps its mean) and crops where the box says', () => {
    const ramp = image(8, 2, (x) => x * 10);
    const out = new Uint8Array(4 * 1 * 4);
    resampleRgba(ramp, { x: 0, y: 0, w: 8, h: 2 }, 4, 1, out);
    // Output pixel k covers source columns 2k, 2k+1 (triangle weights over 2k-1 .. 2k+2).
    expect([0, 1, 2, 3].map((k) => out[k * 4])).toEqual([6, 25, 45, 64]);
    const crop = new Uint8Array(2 * 1 * 4);
    resampleRgba(ramp, { x: 4, y: 0, w: 2, h: 1 }, 2, 1, crop);
    expect([crop[0], crop[4]]).toEqual([40, 50]);
  });
});

describe('identity data sets', () => {
  it('reads folders and list files (label;path or path), and holds images out per identity', () => {
    const orl = scanIdentityFolders(join(new URL('..', import.meta.url).pathname, 'test/data/orl'));
    expect(orl.names).toEqual(['s1', 's10', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9']);
    expect(orl.files).toHaveLength(100);
    const { train, held } = holdOutPerIdentity(orl, 2);
    expect(train.files).toHaveLength(80);
    expect(held.files).toHaveLength(20);
    expect(held.labels.filter((l) => l === 0)).toHaveLength(2);

    const dir = tmp('list-');
    writeFileSync(join(dir, 'cls_train.txt'), '10;a/1.jpg\n2;b/1.jpg\n10;a/2.jpg\n');
    const ds = readIdentityList(join(dir, 'cls_train.txt'));
    expect(ds.names).toEqual(['2', '10']);
    expect(ds.files).toEqual([join(dir, 'b/1.jpg'), join(dir, 'a/1.jpg'), join(dir, 'a/2.jpg')]);
    expect(ds.labels).toEqual([0, 1, 1]);
    writeFileSync(join(dir, 'plain.txt'), 'Ann/x.png\nBob/y.png\n');
    expect(readIdentityList(join(dir, 'plain.txt')).names).toEqual(['Ann', 'Bob']);
  });
});

describe('FaceNet batches (host side)', () => {
  it('samples anchor and positive from one identity (two different images) and the negative from another', () => {
    const labels = [0, 0, 0, 1, 1, 2, 3];
    const s = new TripletSampler(labels);
    const b = s.sample(200, new Rng(3));
    expect(b.images).toHaveLength(600);
    for (let t = 0; t < 200; t++) {
      const [a, p, n] = [b.images[t], b.images[200 + t], b.images[400 + t]];
      expect(labels[a]).toBe(labels[p]);
      expect(a).not.toBe(p);
      expect(labels[n]).not.toBe(labels[a]);
      expect([b.labels[t], b.labels[200 + t], b.labels[400 + t]]).toEqual([labels[a], labels[p], labels[n]]);
    }
    // Identities 2 and 3 have one image each: never anchors, but negatives.
    expect(new Set(b.images.slice(0, 200).map((i) => labels[i]))).toEqual(new Set([0, 1]));
    expect(new Set(b.images.slice(400).map((i) => labels[i]))).toEqual(new Set([0, 1, 2, 3]));
    expect(() => new TripletSampler([0, 1, 2])).toThrow(/no identity has two images/);
  });

  it('crop boxes: centred for evaluation; random ones inside the image, about half mirrored', () => {
    expect(Array.from(cropBoxes(1, 100, null))).toEqual([5, 5, 95, 95]);
    const boxes = cropBoxes(400, 100, new Rng(1));
    let mirrored = 0;
    for (let k = 0; k < 400; k++) {
      const [x1, y1, x2, y2] = boxes.subarray(k * 4, k * 4 + 4);
      if (x2 < x1) mirrored++;
      const [l, r] = [Math.min(x1, x2), Math.max(x1, x2)];
      expect(l).toBeGreaterThanOrEqual(0);
      expect(r).toBeLessThanOrEqual(100 + 1e-4);
      expect(y1).toBeGreaterThanOrEqual(0);
      expect(y2).toBeLessThanOrEqual(100 + 1e-4);
      expect(r - l).toBeGreaterThan(75);
    }
    expect(mirrored).toBeGreaterThan(160);
    expect(mirrored).toBeLessThan(240);
  });

  it('prepareBatch: a mirrored box mirrors the image, and the colour map applies x M + b per image', async () => {
    // A 4x4 cached image whose red channel is the column index x 10.
    const size = 4;
    const rgba = new Uint8Array(size * size * 4);
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) rgba.set([x * 10, 100, 200, 255], (y * size + x) * 4);
    const packed = new Uint32Array(rgba.buffer);
    const two = new Uint32Array([...packed, ...packed]);
    const boxes = new Float32Array([0, 0, 4, 4, 4, 0, 0, 4]);
    const plain = (await prepareBatch({ packed: two, size, boxes }, 4, { mean: 0, scale: 1 }).data()) as Float32Array;
    const red = (img: number, x: number) => plain[((img * 4 + 0) * 4 + x) * 3];
    expect([0, 1, 2, 3].map((x) => red(0, x))).toEqual([0, 10, 20, 30]);
    expect([0, 1, 2, 3].map((x) => red(1, x))).toEqual([30, 20, 10, 0]);

    const jitter = colourJitter(2, new Rng(9));
    const out = (await prepareBatch({ packed: two, size, boxes: new Float32Array([0, 0, 4, 4, 0, 0, 4, 4]), colour: jitter }, 4, FACENET_INPUT).data()) as Float32Array;
    const px = [0, 100, 200].map((v) => (v - 127.5) / 128); // pixel (0, 0), normalised
    for (let img = 0; img < 2; img++) {
      const M = jitter.matrices.subarray(img * 9, img * 9 + 9);
      const b = jitter.offsets.subarray(img * 3, img * 3 + 3);
      for (let j = 0; j < 3; j++) {
        const want = px[0] * M[j] + px[1] * M[3 + j] + px[2] * M[6 + j] + b[j];
        expect(out[img * 48 + j]).toBeCloseTo(want, 5);
      }
    }
  });

  it('movingAverage smooths over the window and skips non-finite values', () => {
    expect(movingAverage([[1, 1], [2, 3], [3, NaN], [4, 5]], 2)).toEqual([[1, 1], [2, 2], [4, 4]]);
  });
});
