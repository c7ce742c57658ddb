// `npm run eval:detect`: annotation loaders on hand-written fixtures,
// matching and average precision on hand-made detections with answers
// worked out by hand, and one run of the command on examples/multiface.jpg.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { AnnotationError, findAnnotationFile, loadAnnotations, loadCaltech, loadDlib, loadWider, parseWider, type AnnotatedFace, type Box } from '../tools/annotations.js';
import { averagePrecision, iou, matchImage, summarize, parseEvalDetectArgs, type ScoredBox } from '../tools/eval-detect.js';

const root = new URL('..', import.meta.url).pathname;
const fixtures = join(root, 'test/data/annotations');
const run = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(root, 'tools/eval-detect.ts'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' } });

/** The error a function throws (fails the test when it does not throw). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('annotation loaders', () => {
  it('caltech: four points per face, grouped by image in order of first appearance', () => {
    const file = join(fixtures, 'caltech/gt.txt');
    const images = loadCaltech(file, '/photos');
    expect(images.map((im) => im.image)).toEqual(['/photos/a.jpg', '/photos/b.jpg']);
    expect(images[0].faces).toEqual([
      { points: [[10, 20], [30, 20], [20, 30], [20, 40]] },
      { points: [[50, 60], [70, 60], [60, 70], [60, 80]] },
    ]);
    expect(images[1].faces.length).toBe(1);
    // Without an images/ folder next to the file, images sit beside it.
    expect(loadCaltech(file)[0].image).toBe(join(fixtures, 'caltech/a.jpg'));
  });

  it('caltech: a short line or a bad number names the file and line', () => {
    const short = thrown(() => loadCaltech(join(fixtures, 'caltech/bad_gt.txt')));
    expect(short).toBeInstanceOf(AnnotationError);
    expect(short.message).toMatch(/caltech\/bad_gt\.txt:3: 8 fields instead of 9/);
    expect(thrown(() => loadCaltech(join(fixtures, 'caltech/bad_number.txt'))).message).toMatch(/bad_number\.txt:2: not a number.*1OO/);
  });

  it('dlib: boxes as x1,y1,x2,y2, ignore flags, images without faces, comments skipped', () => {
    const images = loadDlib(join(fixtures, 'dlib/testing.xml'));
    const dir = join(fixtures, 'dlib');
    expect(images.map((im) => im.image)).toEqual([join(dir, 'one.jpg'), join(dir, 'sub/two&three.jpg'), join(dir, 'four.jpg')]);
    expect(images[0].faces).toEqual([{ box: [274, 181, 326, 234] }, { box: [20, 10, 50, 50], ignore: true }, { box: [200, 100, 250, 150] }]);
    expect(images[1].faces).toEqual([]);
    expect(images[2].faces).toEqual([]);
  });

  it('dlib: a box without width, an unclosed image, a file that is not imglab XML', () => {
    expect(thrown(() => loadDlib(join(fixtures, 'dlib/bad_box.xml'))).message).toMatch(/bad_box\.xml:6: <box> without a width attribute/);
    expect(thrown(() => loadDlib(join(fixtures, 'dlib/bad_unclosed.xml'))).message).toMatch(/bad_unclosed\.xml:5: <image> inside the <image> opened on line 3/);
    expect(thrown(() => loadDlib(join(fixtures, 'caltech/gt.txt'))).message).toMatch(/gt\.txt: no <image> elements/);
  });

  it('wider: x y w h boxes, invalid faces ignored, a zero count with its dummy line', () => {
    const file = join(fixtures, 'wider/wider_face_val_bbx_gt.txt');
    const images = loadWider(file, '/wider/images');
    expect(images.map((im) => im.image)).toEqual([
      '/wider/images/0--Parade/0_Parade_a.jpg',
      '/wider/images/1--Handshaking/1_Handshaking_b.jpg',
      '/wider/images/2--Demonstration/2_Demonstration_c.jpg',
    ]);
    expect(images[0].faces).toEqual([{ box: [78, 221, 85, 229] }, { box: [449, 330, 571, 479] }]);
    expect(images[1].faces).toEqual([]);
    expect(images[2].faces).toEqual([{ box: [10, 20, 40, 60], ignore: true }]);
    // Some copies drop the dummy line after a zero count.
    const noDummy = parseWider('x/a.jpg\n0\nx/b.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n', 'mem.txt', '/i');
    expect(noDummy.map((im) => im.faces.length)).toEqual([0, 1]);
  });

  it('wider: a bad count, a short face line, a file that ends early', () => {
    expect(thrown(() => loadWider(join(fixtures, 'wider/bad_count.txt'))).message).toMatch(/bad_count\.txt:6: face count "two" is not a whole number/);
    expect(thrown(() => loadWider(join(fixtures, 'wider/bad_face.txt'))).message).toMatch(/bad_face\.txt:4: expected 10 numbers/);
    expect(thrown(() => parseWider('a.jpg\n3\n1 2 3 4 0 0 0 0 0 0\n', 'mem.txt', '/i')).message).toMatch(/mem\.txt:4: file ends after 1 of the 3 faces/);
  });

  it('folders resolve to the format\'s usual file; missing paths are errors', () => {
    expect(findAnnotationFile(join(fixtures, 'dlib'), 'dlib')).toBe(join(fixtures, 'dlib/testing.xml'));
    expect(findAnnotationFile(join(fixtures, 'wider'), 'wider')).toBe(join(fixtures, 'wider/wider_face_val_bbx_gt.txt'));
    expect(thrown(() => findAnnotationFile(join(fixtures, 'caltech'), 'caltech')).message).toMatch(/several candidates/);
    expect(thrown(() => loadAnnotations(join(fixtures, 'nowhere'), 'dlib')).message).toMatch(/nowhere: no such file or folder/);
  });
});

describe('matching and average precision', () => {
  const box = (x1: number, y1: number, x2: number, y2: number): Box => [x1, y1, x2, y2];
  const det = (b: Box, score: number): ScoredBox => ({ box: b, score });

  it('iou of overlapping, nested and disjoint boxes', () => {
    expect(iou(box(0, 0, 10, 10), box(5, 0, 15, 10))).toBeCloseTo(50 / 150, 12);
    expect(iou(box(0, 0, 10, 10), box(2, 2, 7, 7))).toBeCloseTo(25 / 100, 12);
    expect(iou(box(0, 0, 10, 10), box(10, 0, 20, 10))).toBe(0);
  });

  it('IoU matching: greedy by score, duplicates are false, ignored faces set aside', () => {
    const faces: AnnotatedFace[] = [{ box: box(0, 0, 10, 10) }, { box: box(100, 100, 110, 110) }, { box: box(200, 0, 210, 10), ignore: true }];
    const dets = [
      det(box(1, 0, 11, 10), 0.6), // face 0 (IoU 0.82), but lower score than the next
      det(box(0, 0, 10, 10), 0.9), // face 0 exactly: taken first
      det(box(200, 0, 212, 10), 0.8), // only the ignored face
      det(box(100, 100, 116, 110), 0.7), // face 1 at IoU 10/16 = 0.625
      det(box(50, 50, 60, 60), 0.95), // nothing
    ];
    const m = matchImage(dets, faces, { kind: 'iou', threshold: 0.3 });
    expect(m.outcomes).toEqual(['false', 'hit', 'ignored', 'hit', 'false']);
    expect(m.found).toEqual([true, true, false]);
    // At a stricter threshold face 1 is missed.
    expect(matchImage(dets, faces, { kind: 'iou', threshold: 0.7 }).found).toEqual([true, false, false]);
  });

  it('point matching: all points inside; a box over two faces takes the nearer one', () => {
    const face = (cx: number, cy: number): AnnotatedFace => ({ points: [[cx - 5, cy - 5], [cx + 5, cy - 5], [cx, cy], [cx, cy + 6]] });
    const faces = [face(20, 20), face(60, 20), face(200, 200)];
    const dets = [
      det(box(0, 0, 70, 40), 0.9), // contains faces 0 and 1; its centre (35, 20) is nearer face 0's points (centre 20, 19)
      det(box(50, 0, 72, 40), 0.8), // face 1
      det(box(196, 196, 230, 230), 0.7), // misses face 200,200's top-left point (195, 195)
    ];
    const m = matchImage(dets, faces, { kind: 'points' });
    expect(m.outcomes).toEqual(['hit', 'hit', 'false']);
    expect(m.found).toEqual([true, true, false]);
  });

  it('AP with all-point interpolation: hit, false, hit, false over 4 faces is 5/12', () => {
    // recall .25 .25 .5 .5, precision 1 .5 .667 .5; interpolated: .25 * 1 + .25 * 2/3 = 5/12.
    const ranked = [
      { score: 0.9, hit: true },
      { score: 0.8, hit: false },
      { score: 0.7, hit: true },
      { score: 0.6, hit: false },
    ];
    expect(averagePrecision(ranked, 4)).toBeCloseTo(5 / 12, 12);
    // Order of the input does not matter, only the scores.
    expect(averagePrecision([...ranked].reverse(), 4)).toBeCloseTo(5 / 12, 12);
    expect(averagePrecision([{ score: 1, hit: true }, { score: 0.5, hit: true }], 2)).toBe(1);
    expect(averagePrecision([], 3)).toBe(0);
    expect(averagePrecision([{ score: 1, hit: false }, { score: 0.5, hit: true }], 1)).toBeCloseTo(0.5, 12);
  });

  it('summary over images: recall, precision and AP with ignored faces left out', () => {
    const faces1: AnnotatedFace[] = [{ box: box(0, 0, 10, 10) }, { box: box(20, 0, 30, 10) }, { box: box(40, 0, 50, 10), ignore: true }];
    const dets1 = [det(box(0, 0, 10, 10), 0.9), det(box(40, 0, 50, 10), 0.8), det(box(70, 0, 80, 10), 0.95)];
    const faces2: AnnotatedFace[] = [{ box: box(0, 0, 10, 10) }];
    const dets2 = [det(box(0, 0, 10, 10), 0.5)];
    const criterion = { kind: 'iou', threshold: 0.5 } as const;
    const s = summarize([
      { faces: faces1, detections: dets1, match: matchImage(dets1, faces1, criterion) },
      { faces: faces2, detections: dets2, match: matchImage(dets2, faces2, criterion) },
      { faces: [], detections: [], match: matchImage([], [], criterion) },
    ]);
    // 3 faces, 2 found; 3 counted detections (0.95 false, 0.9 hit, 0.5 hit), 1 on the ignored face.
    expect(s).toMatchObject({ faces: 3, hits: 2, detections: 3, ignoredDetections: 1, ignoredFaces: 1, images: 3 });
    expect(s.recall).toBeCloseTo(2 / 3, 12);
    expect(s.precision).toBeCloseTo(2 / 3, 12);
    // ranked: false, hit, hit -> recall 0, 1/3, 2/3 at precision 0, 1/2, 2/3: AP = 1/3 * 2/3 + 1/3 * 2/3.
    expect(s.ap).toBeCloseTo(4 / 9, 12);
  });
});

describe('npm run eval:detect', () => {
  it('parses options and rejects bad ones', () => {
    expect(parseEvalDetectArgs(['--data', 'x', '--format', 'wider', '--iou', '0.5', '--limit', '3'])).toMatchObject({ format: 'wider', iou: 0.5, limit: 3 });
    expect(() => parseEvalDetectArgs(['--data', 'x', '--format', 'celeba'])).toThrow(/--format celeba: must be one of caltech, dlib, wider/);
    expect(() => parseEvalDetectArgs(['--data', 'x', '--format', 'dlib', '--iou', '0'])).toThrow(/--iou 0/);
    expect(() => parseEvalDetectArgs(['--format', 'dlib'])).toThrow(/--data PATH is required/);
  });

  it('--help exits 0; bad paths, formats and annotation files exit 2 with a clear message', () => {
    const help = run(['--help']);
    expect(help.status).toBe(0);
    for (const o of ['--data', '--format', '--json', '--iou', '--limit', '--thresholds', '--min-face', '--weights']) expect(help.stdout).toContain(o);
    const badFormat = run(['--data', fixtures, '--format', 'voc']);
    expect(badFormat.status).toBe(2);
    expect(badFormat.stderr).toMatch(/--format voc: must be one of/);
    const missing = run(['--data', join(fixtures, 'nowhere.xml'), '--format', 'dlib']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/nowhere\.xml: no such file or folder/);
    const malformed = run(['--data', join(fixtures, 'wider/bad_face.txt'), '--format', 'wider']);
    expect(malformed.status).toBe(2);
    expect(malformed.stderr).toMatch(/bad_face\.txt:4: expected 10 numbers/);
    const noImages = run(['--data', join(fixtures, 'dlib/testing.xml'), '--format', 'dlib']);
    expect(noImages.status).toBe(2);
    expect(noImages.stderr).toMatch(/3 of 3 images do not exist \(.*one\.jpg/);
  });

  it('evaluates multiface.jpg against a hand-written dlib XML: the JSON last line has the known answer', () => {
    // 6 detections: 4 match tight hand-drawn boxes, 1 sits on an ignored box,
    // 1 has no box (false); 1 box has no face (missed). Faces 5, counted
    // detections 5, recall = precision = 4/5; the false one has the lowest
    // score, so AP = 4/5 too.
    const r = run(['--data', join(fixtures, 'dlib_multiface'), '--format', 'dlib', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const last = JSON.parse(lines[lines.length - 1]);
    expect(Object.keys(last).slice(0, 5)).toEqual(['recall', 'precision', 'ap', 'faces', 'detections']);
    expect(last).toMatchObject({ recall: 0.8, precision: 0.8, ap: 0.8, faces: 5, detections: 5, images: 1, ignored_detections: 1, ignored_faces: 1 });
    expect(r.stdout).toMatch(/recall\s+0\.8000/);
    expect(r.stderr).toMatch(/eval:detect .*1\/1/);
  });
});
