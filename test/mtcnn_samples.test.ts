import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync, statSync, appendFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnnotationError, loadAnnotations, parseCelebA, parseMtfl, type AnnotatedFace, type Box } from '../tools/annotations.js';
import {
  LABEL,
  boxFromPoints,
  boxToImage,
  faceBox,
  imageSeed,
  iou,
  landmarksToImage,
  proposeSamples,
  rng,
  DEFAULT_SAMPLE_OPTIONS,
  type Sample,
} from '../train/mtcnn/samples.js';
import { ShardWriter, decodeRecord, encodeRecord, readIndex, readShards, recordSize, toRanges, type ShardRecord } from '../train/mtcnn/shards.js';
import { cutCrops, generate, parseGenArgs, type GenOptions } from '../train/mtcnn/gen-samples.js';
import { readImage } from '../tools/image.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(root, 'train/mtcnn/gen-samples.ts'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' } });

const ANN = 'test/data/annotations';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'mtcnn-samples-'));
}

/** digits: 6 for the samples themselves, 3 for records read back (f32). */
function checkSample(s: Sample, faces: readonly AnnotatedFace[], width: number, height: number, o = DEFAULT_SAMPLE_OPTIONS, digits = 6): void {
  const [x1, y1, x2, y2] = s.crop;
  expect(x2 - x1).toBeCloseTo(y2 - y1, digits);
  expect(x1).toBeGreaterThanOrEqual(0);
  expect(y1).toBeGreaterThanOrEqual(0);
  expect(x2).toBeLessThanOrEqual(width + 10 ** -digits);
  expect(y2).toBeLessThanOrEqual(height + 10 ** -digits);
  const boxes = faces.map(faceBox).filter((b): b is Box => b !== null);
  const maxIoU = Math.max(0, ...boxes.map((b) => iou(s.crop, b)));
  if (s.label === LABEL.negative) {
    expect(maxIoU).toBeLessThan(o.negIoU + 10 ** -digits);
    return;
  }
  const face = faceBox(faces[s.face])!;
  const v = iou(s.crop, face);
  // The face the targets refer to is the best-overlapping one.
  expect(v).toBeCloseTo(maxIoU, digits);
  if (s.label === LABEL.positive || s.label === LABEL.landmark) expect(v).toBeGreaterThan(o.posIoU - 10 ** -digits);
  if (s.label === LABEL.part) {
    expect(v).toBeGreaterThanOrEqual(o.partLow - 10 ** -digits);
    expect(v).toBeLessThanOrEqual(o.partHigh + 10 ** -digits);
  }
  if (s.label === LABEL.positive || s.label === LABEL.part) {
    const back = boxToImage(s.crop, s.box);
    back.forEach((c, i) => expect(c).toBeCloseTo(face[i], digits));
  }
  if (s.label === LABEL.landmark) {
    const back = landmarksToImage(s.crop, s.landmarks);
    back.forEach(([x, y], i) => {
      expect(x).toBeCloseTo(faces[s.face].points![i][0], digits);
      expect(y).toBeCloseTo(faces[s.face].points![i][1], digits);
    });
  }
}

describe('sample proposals (pure)', () => {
  const faces: AnnotatedFace[] = [
    { box: [100, 80, 180, 180], points: [[125, 115], [155, 115], [140, 135], [128, 155], [152, 155]] },
    { box: [300, 200, 340, 250] },
    { box: [20, 20, 30, 30] }, // too small for positives
    { box: [400, 40, 460, 100], ignore: true },
  ];

  it('labels agree with IoU and targets round-trip to image coordinates', () => {
    for (let seed = 0; seed < 5; seed++) {
      const samples = proposeSamples(640, 480, faces, rng(seed), { perFace: 10 });
      expect(samples.length).toBeGreaterThan(50);
      for (const s of samples) checkSample(s, faces, 640, 480);
      // Only faces 0 and 1 are usable; only face 0 has five points.
      expect(samples.filter((s) => s.label !== LABEL.negative).every((s) => s.face === 0 || s.face === 1)).toBe(true);
      expect(samples.filter((s) => s.label === LABEL.landmark).every((s) => s.face === 0)).toBe(true);
    }
  });

  it('aims at neg:pos:part:landmark = 3:1:1:2 per face', () => {
    const one: AnnotatedFace[] = [faces[0]];
    const samples = proposeSamples(640, 480, one, rng(7), { perFace: 10 });
    const count = (l: number) => samples.filter((s) => s.label === l).length;
    expect(count(LABEL.positive)).toBe(10);
    expect(count(LABEL.part)).toBe(10);
    expect(count(LABEL.landmark)).toBe(20);
    expect(count(LABEL.negative)).toBe(30);
  });

  it('honours other thresholds (the design document: 0.7 / 0.4-0.6 / 0.2)', () => {
    const o = { ...DEFAULT_SAMPLE_OPTIONS, posIoU: 0.7, partLow: 0.4, partHigh: 0.6, negIoU: 0.2 };
    const samples = proposeSamples(640, 480, faces, rng(3), o);
    for (const s of samples) checkSample(s, faces, 640, 480, o);
    expect(() => proposeSamples(640, 480, faces, rng(3), { negIoU: 0.5, partLow: 0.4 })).toThrow(/negIoU <= partLow/);
  });

  it('gives negatives for an image without faces, deterministic per seed', () => {
    const a = proposeSamples(300, 200, [], rng(imageSeed(1, 4)));
    const b = proposeSamples(300, 200, [], rng(imageSeed(1, 4)));
    expect(a.length).toBe(DEFAULT_SAMPLE_OPTIONS.perFace * 3);
    expect(a.every((s) => s.label === LABEL.negative)).toBe(true);
    expect(a).toEqual(b);
    expect(imageSeed(1, 4)).not.toBe(imageSeed(1, 5));
  });

  it('derives a face box from points that contains them', () => {
    const pts: [number, number][] = [[125, 115], [155, 115], [140, 135], [140, 155]];
    const b = boxFromPoints(pts);
    for (const [x, y] of pts) {
      expect(x).toBeGreaterThan(b[0]);
      expect(x).toBeLessThan(b[2]);
      expect(y).toBeGreaterThan(b[1]);
      expect(y).toBeLessThan(b[3]);
    }
    expect(b[2] - b[0]).toBeCloseTo(b[3] - b[1], 9);
  });
});

describe('CelebA and MTFL loaders', () => {
  it('reads CelebA boxes with landmarks', () => {
    const { file, images } = loadAnnotations(join(ANN, 'celeba'), 'celeba', 'examples');
    expect(file).toBe(join(ANN, 'celeba', 'list_bbox_celeba.txt'));
    expect(images).toHaveLength(2);
    expect(images[0].image).toBe(join('examples', 'multiface.jpg'));
    expect(images[0].faces[0].box).toEqual([420, 133, 503, 240]);
    expect(images[0].faces[0].points).toEqual([[452, 175], [489, 179], [475, 202], [452, 216], [483, 217]]);
    expect(images[1].faces[0].box).toEqual([72, 94, 293, 400]);
  });

  it('names file and line of malformed CelebA lines', () => {
    expect(() => loadAnnotations(join(ANN, 'celeba_bad'), 'celeba')).toThrow(AnnotationError);
    expect(() => loadAnnotations(join(ANN, 'celeba_bad'), 'celeba')).toThrow(/list_bbox_celeba\.txt:4: not a number/);
    expect(() => parseCelebA('3\nimage_id x_1 y_1 width height\na.jpg 1 2 3 4\n', 'f.txt', '.')).toThrow(/f\.txt:1: says 3 images but lists 1/);
    expect(() => parseCelebA('1\nx_1 y_1 w h\na.jpg 1 2 3 4\n', 'f.txt', '.')).toThrow(/f\.txt:2: header/);
    expect(() => parseCelebA('1\nx_1 y_1 width height\na.jpg 1 2 3\n', 'f.txt', '.')).toThrow(/f\.txt:3: 4 fields instead of 5/);
    expect(() =>
      parseCelebA('1\nx_1 y_1 width height\na.jpg 1 2 3 4\n', 'b.txt', '.', { text: '1\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y\na.jpg 1 2 3 4 5 6 7 8 9 z\n', file: 'l.txt' }),
    ).toThrow(/l\.txt:3: not a number/);
  });

  it('reads MTFL lists (x1..x5 then y1..y5) and names bad lines', () => {
    const { images } = loadAnnotations(join(ANN, 'mtfl'), 'mtfl');
    expect(images).toHaveLength(2);
    expect(images[0].image).toBe(join(ANN, 'mtfl', 'lfw_5590/a.jpg'));
    expect(images[0].faces[0].points![0]).toEqual([34.32, 34.8]);
    expect(images[0].faces[0].points![4]).toEqual([45.04, 52.08]);
    expect(images[1].image).toBe(join(ANN, 'mtfl', 'AFLW/0001-image20056.jpg'));
    expect(() => loadAnnotations(join(ANN, 'mtfl', 'bad_list.txt'), 'mtfl')).toThrow(/bad_list\.txt:3: 10 fields instead of 11/);
    expect(() => parseMtfl('a.jpg 1 2 3 4 5 6 7 8 9 q\n', 'm.txt', '.')).toThrow(/m\.txt:1: not a number/);
  });
});

describe('shards', () => {
  const size = 12;
  const record = (label: ShardRecord['label'], k: number): ShardRecord => ({
    label,
    image: k,
    crop: [k, k + 1, k + 13, k + 14],
    box: [0.1, -0.2, 0.05, k / 7],
    landmarks: Array.from({ length: 10 }, (_, i) => i / 10 + k),
    pixels: Uint8Array.from({ length: size * size * 3 }, (_, i) => (i * 7 + k) & 255),
  });

  it('encodes and decodes a record', () => {
    const r = record(LABEL.landmark, 3);
    const bytes = encodeRecord(r, size);
    expect(bytes.length).toBe(recordSize(size));
    const d = decodeRecord(bytes, size);
    expect(d.label).toBe(-2);
    expect(d.image).toBe(3);
    expect(d.crop).toEqual(r.crop);
    Array.from(d.box).forEach((v, i) => expect(v).toBeCloseTo(r.box[i], 6));
    Array.from(d.landmarks).forEach((v, i) => expect(v).toBeCloseTo(r.landmarks[i], 5));
    expect(d.pixels).toEqual(r.pixels);
    expect(toRanges([5, 0, 2, 1, 7, 6])).toEqual([[0, 2], [5, 7]]);
  });

  it('splits into bounded shards, counts classes, resumes and cuts unrecorded bytes', async () => {
    const dir = tmp();
    try {
      const w = await ShardWriter.open(dir, size, { maxShardBytes: recordSize(size) * 4 });
      const labels = [1, 0, 0, 0, -1, -2, -2, 0, 1, 0] as const;
      w.append(labels.slice(0, 6).map((l, k) => record(l, k)));
      w.markDone(0);
      await w.commit();
      // A crash after appending image 1's records but before the index update.
      w.append(labels.slice(6).map((l, k) => record(l, k + 6)));
      expect(readIndex(dir).total).toBe(6);
      await expect(ShardWriter.open(dir, size)).rejects.toThrow(/--resume/);
      await expect(ShardWriter.open(dir, 24, { resume: true })).rejects.toThrow(/not 24x24/);

      const r = await ShardWriter.open(dir, size, { resume: true });
      expect(r.isDone(0)).toBe(true);
      expect(r.isDone(1)).toBe(false);
      expect(statSync(join(dir, 'shard-00001.bin')).size).toBe(2 * recordSize(size));
      r.append(labels.slice(6).map((l, k) => record(l, k + 6)));
      r.markDone(1);
      await r.close();
      const index = readIndex(dir);
      expect(index.shards.map((s) => s.records)).toEqual([4, 4, 2]);
      expect(index.counts).toEqual({ negative: 5, positive: 2, part: 1, landmark: 2 });
      expect(index.doneImages).toEqual([[0, 1]]);
      for (const s of index.shards) expect(statSync(join(dir, s.file)).size).toBe(s.records * recordSize(size));
      const back = [...readShards(dir)];
      expect(back.map((b) => b.label)).toEqual([...labels]);
      expect(back.map((b) => b.image)).toEqual(labels.map((_, k) => k));
      // A shard shorter than its index says is an error, not silent loss.
      appendFileSync(join(dir, 'shard-00002.bin'), new Uint8Array(3));
      const truncated = readFileSync(join(dir, 'shard-00002.bin')).subarray(0, 10);
      rmSync(join(dir, 'shard-00002.bin'));
      appendFileSync(join(dir, 'shard-00002.bin'), truncated);
      await expect(ShardWriter.open(dir, size, { resume: true })).rejects.toThrow(/shard truncated/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('gen:mtcnn on the GPU', () => {
  it('cuts crops with bilinear resize on the GPU', async () => {
    // 4x4 image, left half 0, right half 200; a 2x2 crop of the right half resized to 2x2 is all 200.
    const data = new Uint8Array(4 * 4 * 4);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) data.set(x >= 2 ? [200, 100, 50, 255] : [0, 0, 0, 255], (y * 4 + x) * 4);
    const [right, whole] = await cutCrops({ width: 4, height: 4, data }, [[2, 0, 4, 2], [0, 0, 4, 4]], 2);
    expect([...right]).toEqual([200, 100, 50, 200, 100, 50, 200, 100, 50, 200, 100, 50]);
    expect([...whole.subarray(0, 3)]).toEqual([0, 0, 0]);
    expect([...whole.subarray(3, 6)]).toEqual([200, 100, 50]);
  });

  it('generates shards from CelebA-format annotations, resumable to the same result', async () => {
    const { file, images } = loadAnnotations(join(ANN, 'celeba'), 'celeba', 'examples');
    const list = images.slice(0, 1);
    const base: Omit<GenOptions, 'out' | 'resume'> = { data: file, format: 'celeba', size: 24, seed: 5, shardMb: 64, sample: { perFace: 4, minCrop: 24 } };
    const a = tmp();
    const b = tmp();
    try {
      const r = await generate(list, { ...base, out: a, resume: false }, file);
      expect(r.counts).toEqual({ negative: 12, positive: 4, part: 4, landmark: 8 });
      const recs = [...readShards(a)];
      expect(recs).toHaveLength(28);
      const face = images[0].faces[0];
      const img = await readImage(images[0].image);
      for (const rec of recs) {
        const box = Array.from(rec.box) as [number, number, number, number];
        checkSample({ label: rec.label, crop: rec.crop, face: rec.label === 0 ? -1 : 0, box, landmarks: Array.from(rec.landmarks), iou: 0 }, [face], img.width, img.height, DEFAULT_SAMPLE_OPTIONS, 3);
        expect(rec.pixels.length).toBe(24 * 24 * 3);
      }
      // Resume over a finished folder does nothing more; a fresh run with the same seed gives the same bytes.
      const again = await generate(list, { ...base, out: a, resume: true }, file);
      expect(again.skipped).toBe(1);
      expect(again.total).toBe(28);
      await generate(list, { ...base, out: b, resume: false }, file);
      expect(readFileSync(join(b, 'shard-00000.bin')).equals(readFileSync(join(a, 'shard-00000.bin')))).toBe(true);
    } finally {
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  });

  it('CLI: --help exits 0, a malformed annotation line exits 2 naming file and line', () => {
    const help = cli('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--format caltech\|dlib\|wider\|celeba\|mtfl/);
    const bad = cli('--data', join(ANN, 'celeba_bad'), '--format', 'celeba', '--size', '12', '--out', join(tmpdir(), 'never-written'));
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/list_bbox_celeba\.txt:4: not a number/);
  });

  it('parses the command line', () => {
    expect(parseGenArgs(['--help'])).toBe('help');
    const o = parseGenArgs(['--data', 'x', '--format', 'caltech', '--size', '12', '--out', 'o', '--per-face', '5', '--seed', '3', '--limit', '50', '--resume']);
    expect(o).toMatchObject({ size: 12, seed: 3, limit: 50, resume: true, sample: { perFace: 5, minCrop: 12 } });
    expect(() => parseGenArgs(['--data', 'x', '--format', 'caltech', '--size', '20', '--out', 'o'])).toThrow(/--size 20/);
    expect(() => parseGenArgs(['--data', 'x', '--format', 'voc', '--size', '12', '--out', 'o'])).toThrow(/--format voc/);
    expect(() => parseGenArgs(['--data', 'x', '--format', 'caltech', '--size', '12', '--out', 'o', '--neg', '0.5'])).toThrow(/thresholds overlap/);
  });
});
