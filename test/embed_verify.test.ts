// The embed and verify commands as a user runs them, on a small random
// FaceNet saved the way a trained one is (weights + facenet.* metadata +
// calibrated threshold): output formats, unit-length embeddings, batching
// across images, exit codes, and the errors for a photo without a face and
// for a missing model.
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveModule } from '../engine/io.js';
import { seedInit } from '../engine/nn/layers.js';
import { FaceNet, FACENET_INPUT, type FaceNetFileInfo } from '../nets/facenet/index.js';
import { encodePng } from '../tools/image.js';
import {
  facenetModelMetadata, loadFacenetModel, resolveFacenetModelPath, writeFacenetModel, inputTemplate, DEFAULT_FACENET_MODEL,
} from '../tools/facenet-model.js';

const root = new URL('..', import.meta.url).pathname;
const run = (tool: 'embed' | 'verify', args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(root, `tools/${tool}.ts`), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' } });

// A 32-pixel input keeps the forward cheap; alignment and batching do not care.
const INFO: FaceNetFileInfo = { config: { backbone: 'mobilenet', embeddingSize: 128, numClasses: 0 }, inputSize: 32, normalization: FACENET_INPUT, crop: 0.6 };
const THRESHOLD = 1.1;

let dir: string;
let model: string;
let modelWithoutThreshold: string;
let grey: string;
const multiface = join(root, 'examples/multiface.jpg');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'embed-verify-'));
  seedInit(7);
  const net = new FaceNet(INFO.config);
  model = join(dir, 'facenet.safetensors');
  await saveModule(model, net, facenetModelMetadata(INFO, THRESHOLD));
  modelWithoutThreshold = join(dir, 'checkpoint.safetensors');
  await saveModule(modelWithoutThreshold, net, facenetModelMetadata(INFO));
  net.dispose();
  grey = join(dir, 'grey.png');
  writeFileSync(grey, encodePng(new Uint8Array(200 * 160 * 4).fill(128), 200, 160));
});

const norm = (v: number[]) => Math.hypot(...v);

describe('npm run embed', () => {
  it('--help of both commands exits 0 and documents the options', () => {
    const e = run('embed', ['--help']);
    expect(e.status).toBe(0);
    for (const o of ['--json', '--model', '--align-template', '--batch']) expect(e.stdout).toContain(o);
    const v = run('verify', ['--help']);
    expect(v.status).toBe(0);
    for (const o of ['--json', '--model', '--threshold']) expect(v.stdout).toContain(o);
  });

  it('embeds every face of a folder, batched across images: unit 128-d vectors, [] for no face, named errors, exit 1', () => {
    const photos = mkdtempSync(join(dir, 'photos-'));
    copyFileSync(multiface, join(photos, 'a_multiface.jpg'));
    copyFileSync(grey, join(photos, 'b_grey.png'));
    writeFileSync(join(photos, 'c_truncated.jpg'), new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16]));
    copyFileSync(multiface, join(photos, 'd_multiface_again.jpg'));
    // --batch 8: both group photos' 12 faces are embedded together, in two forwards of 8 and 4.
    const r = run('embed', ['--json', '--model', model, '--batch', '8', photos]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/c_truncated\.jpg/);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.image.split('/').pop())).toEqual(['a_multiface.jpg', 'b_grey.png', 'd_multiface_again.jpg']);
    const [first, none, again] = lines;
    expect(none.faces).toEqual([]);
    expect(first.faces.length).toBe(6);
    for (const f of first.faces) {
      expect(f.box.length).toBe(4);
      expect(f.embedding.length).toBe(128);
      expect(norm(f.embedding)).toBeCloseTo(1, 4);
    }
    // Six different faces give six different embeddings; the same face in
    // another image of the batch gives the same one.
    expect(new Set(first.faces.map((f: { embedding: number[] }) => f.embedding[0])).size).toBeGreaterThan(1);
    expect(again.faces.length).toBe(6);
    again.faces.forEach((f: { embedding: number[] }, k: number) => {
      f.embedding.forEach((v, i) => expect(v).toBeCloseTo(first.faces[k].embedding[i], 4));
    });
  });

  it.skipIf(existsSync(DEFAULT_FACENET_MODEL))('without --model and no default model: says how to train one or pass --model, exit 1', () => {
    const r = run('embed', [multiface]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no FaceNet model at .*facenet\.safetensors/);
    expect(r.stderr).toMatch(/npm run train:facenet/);
    expect(r.stderr).toMatch(/--model/);
  });
});

describe('npm run verify', () => {
  it('the same photo twice: distance 0, the model threshold, same', () => {
    const r = run('verify', ['--json', '--model', model, multiface, multiface]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.a).toBe(multiface);
    expect(out.b).toBe(multiface);
    expect(out.distance).toBeCloseTo(0, 5);
    expect(out.threshold).toBe(THRESHOLD);
    expect(out.same).toBe(true);
  });

  it('a photo without a face: a message naming it, exit 1, no stack trace', () => {
    const r = run('verify', ['--model', model, '--threshold', '0.9', grey, multiface]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${grey}: no face found`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
  });
});

describe('tools/facenet-model.ts', () => {
  it('a missing default model names the path and the ways to get one', () => {
    expect(() => resolveFacenetModelPath(undefined, join(dir, 'nowhere.safetensors'))).toThrow(/no FaceNet model at .*nowhere\.safetensors[\s\S]*train:facenet[\s\S]*--model/);
    expect(() => resolveFacenetModelPath(join(dir, 'nowhere.safetensors'))).toThrow(/--model .*nowhere\.safetensors: no such file/);
  });

  it('reads the threshold from the metadata; writeFacenetModel installs a checkpoint with one', async () => {
    const bare = await loadFacenetModel(modelWithoutThreshold);
    expect(bare.threshold).toBeNull();
    expect(bare.info.inputSize).toBe(32);
    bare.net.dispose();
    const installed = join(dir, 'models/facenet/facenet.safetensors');
    await writeFacenetModel(modelWithoutThreshold, installed, { threshold: 0.95 });
    const loaded = await loadFacenetModel(installed);
    expect(loaded.threshold).toBe(0.95);
    expect(loaded.info).toEqual(INFO);
    loaded.net.dispose();
  });

  it("the lfw template puts the face where train:facenet's centre crop has it", () => {
    // The centred 0.6 x 0.9 = 135 pixels of a 250-pixel LFW image fill the
    // input: the image's centre (124.5 in pixel-centre coordinates) maps to the input's.
    const [leftEye, rightEye, , leftMouth] = inputTemplate({ ...INFO, inputSize: 96 }, 'lfw');
    expect((leftEye[0] + rightEye[0]) / 2).toBeCloseTo(47.5 + ((126.13 - 124.5) / 135) * 96, 1);
    expect(rightEye[0] - leftEye[0]).toBeCloseTo((42.12 / 135) * 96, 1);
    expect(leftMouth[1]).toBeGreaterThan(leftEye[1]);
  });
});

// The model committed as the default (models/facenet, trained by
// train/recipes/facenet-mobilenet96.sh then facenet-mobilenet112-finetune.sh): loads with no flag and recognises
// people it never saw (ORL is not in its training data).
describe.runIf(existsSync(DEFAULT_FACENET_MODEL))('the bundled default model', () => {
  it('embeds ORL with no --model; nearest enrolled image names 5 unseen photos of each of 10 people far above chance', async () => {
    const orl = join(root, 'test/data/orl');
    const people = Array.from({ length: 10 }, (_, i) => `s${i + 1}`);
    const r = run('embed', ['--json', ...people.map((p) => join(orl, p))]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    const byImage = new Map<string, number[]>();
    for (const line of r.stdout.trim().split('\n')) {
      const o = JSON.parse(line) as { image: string; faces: { embedding: number[] }[] };
      expect(o.faces.length).toBeGreaterThanOrEqual(1);
      byImage.set(o.image.slice(orl.length + 1), o.faces[0].embedding);
    }
    expect(byImage.size).toBe(100);
    for (const v of byImage.values()) {
      expect(v.length).toBe(128);
      expect(norm(v)).toBeCloseTo(1, 3);
    }
    const dist = (a: number[], b: number[]) => Math.hypot(...a.map((x, i) => x - b[i]));
    const enrolled = people.flatMap((p) => [1, 2, 3, 4, 5].map((i) => ({ p, v: byImage.get(`${p}/${i}.png`)! })));
    let right = 0;
    for (const p of people) {
      for (const i of [6, 7, 8, 9, 10]) {
        const q = byImage.get(`${p}/${i}.png`)!;
        const best = enrolled.reduce((b, e) => (dist(q, e.v) < dist(q, b.v) ? e : b));
        if (best.p === p) right++;
      }
    }
    // Chance is 5/50; an untrained network of the same shape gets about 27 (see gallery_cli.test.ts).
    expect(right).toBeGreaterThanOrEqual(35);
    const loaded = await loadFacenetModel();
    expect(loaded.threshold).toBeGreaterThan(0);
    loaded.net.dispose();
  });
});
