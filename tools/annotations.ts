// Face annotations of public detection benchmarks, read into one shape:
// a list of images, each with its ground-truth faces as a box, a set of
// points, or both. Each format has a pure parser (text in, list out: the
// tests feed it strings) and a loader that reads the file and resolves image
// paths. Every malformed line is an AnnotationError naming the file and line.
//
//   caltech  Caltech 10k Web Faces ground truth: `img Leye_x Leye_y Reye_x
//            Reye_y nose_x nose_y mouth_x mouth_y`, one line per face;
//            images in `images/` next to the file.
//   dlib     dlib imglab XML (training.xml / testing.xml): <image file=...>
//            with <box top left width height [ignore='1']/>; image paths are
//            relative to the XML's folder.
//   wider    WIDER FACE `wider_face_*_bbx_gt.txt`: image path, face count,
//            then `x y w h blur expression illumination invalid occlusion
//            pose` per face (a count of 0 is followed by one dummy line).
//   celeba   CelebA in-the-wild `list_bbox_celeba.txt` (`image_id x_1 y_1
//            width height`) with, when present beside it,
//            `list_landmarks_celeba.txt` (`image_id lefteye_x lefteye_y ...
//            rightmouth_y`, five points); both start with a count line and
//            a header line. Images in `img_celeba/` (or `images/`).
//   mtfl     MTFL lists (`training.txt`, `testing.txt`, or this project's
//            `train_subset.txt` / `test_aflw.txt`): `path x1..x5 y1..y5`,
//            five points per image, paths relative to the list's folder.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** x1, y1, x2, y2 in pixels. */
export type Box = [number, number, number, number];
export type Point = [number, number];

export interface AnnotatedFace {
  box?: Box;
  points?: Point[];
  /**
   * Marked "don't care" by the annotators (dlib ignore='1', WIDER invalid=1):
   * finding it is not a hit, missing it is not a miss.
   */
  ignore?: boolean;
}

export interface AnnotatedImage {
  /** Path of the image file (the annotation's folder resolved). */
  image: string;
  faces: AnnotatedFace[];
}

/** The detection benchmarks (what `eval:detect` takes). */
export const ANNOTATION_FORMATS = ['caltech', 'dlib', 'wider'] as const;
export type AnnotationFormat = (typeof ANNOTATION_FORMATS)[number];
/** Every format the loaders read: the benchmarks plus the training sets CelebA and MTFL. */
export const ALL_ANNOTATION_FORMATS = [...ANNOTATION_FORMATS, 'celeba', 'mtfl'] as const;
export type AnyAnnotationFormat = (typeof ALL_ANNOTATION_FORMATS)[number];

export class AnnotationError extends Error {
  constructor(file: string, line: number | null, problem: string) {
    super(line === null ? `${file}: ${problem}` : `${file}:${line}: ${problem}`);
    this.name = 'AnnotationError';
  }
}

function lines(text: string): string[] {
  return text.split(/\r?\n/);
}

/** Parses whitespace-separated numbers; null when any field is not a finite number. */
function numbers(fields: string[]): number[] | null {
  const out = fields.map(Number);
  return out.every(Number.isFinite) ? out : null;
}

// ---------------------------------------------------------------------------
// Caltech Web Faces

/** Left eye, right eye, nose, mouth centre: four points per face. */
export function parseCaltech(text: string, file: string, imagesDir: string): AnnotatedImage[] {
  // Faces of one image need not sit on adjacent lines: group by name, keep
  // the order in which images first appear.
  const byImage = new Map<string, AnnotatedFace[]>();
  lines(text).forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === '') return;
    const fail = (problem: string) => {
      throw new AnnotationError(file, i + 1, `${problem} (expected: image Leye_x Leye_y Reye_x Reye_y nose_x nose_y mouth_x mouth_y)`);
    };
    if (fields.length !== 9) fail(`${fields.length} fields instead of 9`);
    const v = numbers(fields.slice(1));
    if (!v) fail(`not a number among the coordinates "${fields.slice(1).join(' ')}"`);
    const points: Point[] = [0, 2, 4, 6].map((k) => [v![k], v![k + 1]]);
    const faces = byImage.get(fields[0]) ?? [];
    faces.push({ points });
    byImage.set(fields[0], faces);
  });
  return [...byImage].map(([name, faces]) => ({ image: join(imagesDir, name), faces }));
}

export function loadCaltech(file: string, imagesDir?: string): AnnotatedImage[] {
  const dir = imagesDir ?? (existsSync(join(dirname(file), 'images')) ? join(dirname(file), 'images') : dirname(file));
  return parseCaltech(readText(file), file, dir);
}

// ---------------------------------------------------------------------------
// dlib imglab XML

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeXmlText(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);/gi, (_, e: string) => {
    if (e[0] !== '#') return XML_ENTITIES[e.toLowerCase()];
    return String.fromCodePoint(e[1].toLowerCase() === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });
}

function xmlAttributes(source: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const m of source.matchAll(/([\w:.-]+)\s*=\s*(?:'([^']*)'|"([^"]*)")/g)) attrs.set(m[1], decodeXmlText(m[2] ?? m[3]));
  return attrs;
}

/**
 * Reads the <image> and <box> elements of an imglab file; everything else
 * (<name>, <comment>, <part> landmarks, <label>) is skipped. This is a tag
 * scanner, not a general XML parser: imglab files are flat and machine-written.
 */
export function parseDlibXml(text: string, file: string, imagesDir: string): AnnotatedImage[] {
  // Blank out comments and processing instructions, keeping newlines so
  // that offsets still give the right line numbers.
  const blank = (s: string) => s.replace(/[^\n]/g, ' ');
  const body = text.replace(/<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[[\s\S]*?\]\]>/g, blank);
  const lineStarts = [0];
  for (let i = 0; i < body.length; i++) if (body[i] === '\n') lineStarts.push(i + 1);
  const lineOf = (offset: number) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };

  const images: AnnotatedImage[] = [];
  let current: AnnotatedImage | null = null;
  let currentLine = 0;
  for (const m of body.matchAll(/<(\/?)([A-Za-z_][\w:.-]*)([^>]*?)(\/?)>/g)) {
    const [, closing, tag, attrSource, selfClosing] = m;
    const line = lineOf(m.index);
    const fail = (problem: string): never => {
      throw new AnnotationError(file, line, problem);
    };
    if (tag === 'image') {
      if (closing) {
        if (!current) fail('</image> without an opening <image>');
        images.push(current!);
        current = null;
        continue;
      }
      if (current) fail(`<image> inside the <image> opened on line ${currentLine} (missing </image>?)`);
      const name = xmlAttributes(attrSource).get('file');
      if (!name) fail("<image> without a file='...' attribute");
      const image: AnnotatedImage = { image: join(imagesDir, name!), faces: [] };
      if (selfClosing) images.push(image);
      else {
        current = image;
        currentLine = line;
      }
    } else if (tag === 'box' && !closing) {
      if (!current) fail('<box> outside an <image>');
      const attrs = xmlAttributes(attrSource);
      const v: Record<string, number> = {};
      for (const key of ['top', 'left', 'width', 'height']) {
        const s = attrs.get(key);
        if (s === undefined) fail(`<box> without a ${key} attribute`);
        const x = Number(s);
        if (s!.trim() === '' || !Number.isFinite(x)) fail(`<box> ${key}='${s}' is not a number`);
        v[key] = x;
      }
      if (v.width < 0 || v.height < 0) fail(`<box> with a negative size (width ${v.width}, height ${v.height})`);
      // imglab's width is right - left + 1 in whole pixels: as a continuous
      // box it covers [left, left + width).
      const face: AnnotatedFace = { box: [v.left, v.top, v.left + v.width, v.top + v.height] };
      const ignore = attrs.get('ignore');
      if (ignore !== undefined && ignore !== '0') face.ignore = true;
      current!.faces.push(face);
    }
  }
  if (current) throw new AnnotationError(file, currentLine, '<image> is never closed');
  if (images.length === 0) throw new AnnotationError(file, null, 'no <image> elements: not a dlib imglab XML file');
  return images;
}

export function loadDlib(file: string): AnnotatedImage[] {
  return parseDlibXml(readText(file), file, dirname(file));
}

// ---------------------------------------------------------------------------
// WIDER FACE

const WIDER_FIELDS = 'x y w h blur expression illumination invalid occlusion pose';

export function parseWider(text: string, file: string, imagesDir: string): AnnotatedImage[] {
  const all = lines(text);
  // The official files end with a newline; a trailing empty line is not an image.
  while (all.length > 0 && all[all.length - 1].trim() === '') all.pop();
  const images: AnnotatedImage[] = [];
  let i = 0;
  const boxFields = (k: number) => {
    const fields = all[k]?.trim().split(/\s+/) ?? [];
    return fields.length === 10 ? numbers(fields) : null;
  };
  while (i < all.length) {
    const name = all[i].trim();
    if (name === '') throw new AnnotationError(file, i + 1, 'empty line where an image path was expected');
    if (/^\d+$/.test(name)) throw new AnnotationError(file, i + 1, `"${name}" where an image path was expected (face count does not match the face lines above?)`);
    const countLine = all[i + 1]?.trim();
    if (countLine === undefined) throw new AnnotationError(file, i + 1, `file ends after the image path "${name}" (expected a face count)`);
    if (!/^\d+$/.test(countLine)) throw new AnnotationError(file, i + 2, `face count "${countLine}" is not a whole number`);
    const count = Number(countLine);
    i += 2;
    const faces: AnnotatedFace[] = [];
    for (let k = 0; k < count; k++, i++) {
      if (i >= all.length) throw new AnnotationError(file, i + 1, `file ends after ${k} of the ${count} faces of ${name}`);
      const v = boxFields(i);
      if (!v) throw new AnnotationError(file, i + 1, `expected 10 numbers (${WIDER_FIELDS}), got "${all[i].trim()}"`);
      const [x, y, w, h, , , , invalid] = v;
      const face: AnnotatedFace = { box: [x, y, x + w, y + h] };
      // WIDER marks faces it considers unusable as invalid; zero-size boxes
      // cannot be overlapped. Neither should count as a miss.
      if (invalid === 1 || w <= 0 || h <= 0) face.ignore = true;
      faces.push(face);
    }
    // An image without faces is followed by one dummy `0 0 0 ...` line in
    // the official files; some re-distributions drop it.
    if (count === 0 && i < all.length && boxFields(i)) i++;
    images.push({ image: join(imagesDir, name), faces });
  }
  if (images.length === 0) throw new AnnotationError(file, null, 'no images listed');
  return images;
}

/**
 * WIDER's archives unpack to `wider_face_split/wider_face_<split>_bbx_gt.txt`
 * beside `WIDER_<split>/images/`; that is the default image folder.
 */
export function widerImagesDir(file: string): string {
  const split = /wider_face_(\w+?)_bbx_gt\.txt$/.exec(basename(file))?.[1];
  const here = dirname(file);
  const candidates = [
    ...(split ? [join(here, '..', `WIDER_${split}`, 'images'), join(here, `WIDER_${split}`, 'images')] : []),
    join(here, 'images'),
  ];
  return candidates.find((d) => isDirectory(d)) ?? candidates[0];
}

export function loadWider(file: string, imagesDir?: string): AnnotatedImage[] {
  return parseWider(readText(file), file, imagesDir ?? widerImagesDir(file));
}

// ---------------------------------------------------------------------------
// CelebA

/** Reads CelebA's two header lines (count, column names); returns the data lines with their 1-based numbers. */
function celebaRows(text: string, file: string, columns: string[]): { line: number; fields: string[] }[] {
  const all = lines(text);
  while (all.length > 0 && all[all.length - 1].trim() === '') all.pop();
  const countLine = all[0]?.trim() ?? '';
  if (!/^\d+$/.test(countLine)) throw new AnnotationError(file, 1, `"${countLine}" is not the image count CelebA lists start with`);
  const header = all[1]?.trim().split(/\s+/) ?? [];
  const named = header[0] === 'image_id' ? header.slice(1) : header;
  if (named.join(' ') !== columns.join(' ')) {
    throw new AnnotationError(file, 2, `header "${all[1]?.trim() ?? ''}" is not "${columns.join(' ')}"`);
  }
  const rows: { line: number; fields: string[] }[] = [];
  for (let i = 2; i < all.length; i++) {
    const fields = all[i].trim().split(/\s+/);
    if (fields[0] === '') continue;
    if (fields.length !== columns.length + 1) {
      throw new AnnotationError(file, i + 1, `${fields.length} fields instead of ${columns.length + 1} (expected: image_id ${columns.join(' ')})`);
    }
    rows.push({ line: i + 1, fields });
  }
  if (rows.length !== Number(countLine)) throw new AnnotationError(file, 1, `says ${countLine} images but lists ${rows.length}`);
  return rows;
}

const CELEBA_BOX = ['x_1', 'y_1', 'width', 'height'];
const CELEBA_POINTS = ['lefteye_x', 'lefteye_y', 'righteye_x', 'righteye_y', 'nose_x', 'nose_y', 'leftmouth_x', 'leftmouth_y', 'rightmouth_x', 'rightmouth_y'];

/**
 * CelebA boxes (one face per image) and, when given, the in-the-wild
 * landmarks (five points, matched by image id). Not the `_align_` lists:
 * those are for the aligned 178x218 crops.
 */
export function parseCelebA(bboxText: string, bboxFile: string, imagesDir: string, landmarks?: { text: string; file: string }): AnnotatedImage[] {
  const points = new Map<string, Point[]>();
  if (landmarks) {
    for (const { line, fields } of celebaRows(landmarks.text, landmarks.file, CELEBA_POINTS)) {
      const v = numbers(fields.slice(1));
      if (!v) throw new AnnotationError(landmarks.file, line, `not a number among the coordinates "${fields.slice(1).join(' ')}"`);
      if (points.has(fields[0])) throw new AnnotationError(landmarks.file, line, `${fields[0]} is listed twice`);
      points.set(fields[0], [0, 2, 4, 6, 8].map((k) => [v[k], v[k + 1]] as Point));
    }
  }
  const images: AnnotatedImage[] = [];
  for (const { line, fields } of celebaRows(bboxText, bboxFile, CELEBA_BOX)) {
    const v = numbers(fields.slice(1));
    if (!v) throw new AnnotationError(bboxFile, line, `not a number among "${fields.slice(1).join(' ')}" (expected: x_1 y_1 width height)`);
    const [x, y, w, h] = v;
    if (w < 0 || h < 0) throw new AnnotationError(bboxFile, line, `negative box size (width ${w}, height ${h})`);
    const face: AnnotatedFace = { box: [x, y, x + w, y + h] };
    if (w === 0 || h === 0) face.ignore = true;
    const p = points.get(fields[0]);
    if (p) face.points = p;
    images.push({ image: join(imagesDir, fields[0]), faces: [face] });
  }
  return images;
}

/** `list_bbox_celeba.txt` and, beside it, `list_landmarks_celeba.txt` when present. */
export function loadCelebA(bboxFile: string, imagesDir?: string): AnnotatedImage[] {
  const here = dirname(bboxFile);
  const dir =
    imagesDir ??
    [join(here, 'img_celeba'), join(here, '..', 'img_celeba'), join(here, 'images')].find((d) => isDirectory(d)) ??
    join(here, 'img_celeba');
  const lmFile = join(here, 'list_landmarks_celeba.txt');
  const landmarks = existsSync(lmFile) ? { text: readText(lmFile), file: lmFile } : undefined;
  return parseCelebA(readText(bboxFile), bboxFile, dir, landmarks);
}

// ---------------------------------------------------------------------------
// MTFL

/** `path x1 x2 x3 x4 x5 y1 y2 y3 y4 y5` (eyes, nose, mouth corners); extra trailing fields (MTFL's attributes) are ignored. */
export function parseMtfl(text: string, file: string, imagesDir: string): AnnotatedImage[] {
  const images: AnnotatedImage[] = [];
  lines(text).forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === '') return;
    if (fields.length < 11) throw new AnnotationError(file, i + 1, `${fields.length} fields instead of 11 (expected: path x1..x5 y1..y5)`);
    const v = numbers(fields.slice(1, 11));
    if (!v) throw new AnnotationError(file, i + 1, `not a number among the coordinates "${fields.slice(1, 11).join(' ')}"`);
    const points: Point[] = [0, 1, 2, 3, 4].map((k) => [v[k], v[k + 5]]);
    images.push({ image: join(imagesDir, fields[0].replace(/\\/g, '/')), faces: [{ points }] });
  });
  if (images.length === 0) throw new AnnotationError(file, null, 'no images listed');
  return images;
}

export function loadMtfl(file: string, imagesDir?: string): AnnotatedImage[] {
  return parseMtfl(readText(file), file, imagesDir ?? dirname(file));
}

// ---------------------------------------------------------------------------
// Finding and loading

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function readText(file: string): string {
  try {
    // imglab's XML header says ISO-8859-1, but dlib writes file names as the
    // bytes it was given, which on today's systems are UTF-8.
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new AnnotationError(file, null, code === 'ENOENT' ? 'no such file' : `cannot read (${(e as Error).message})`);
  }
}

/**
 * The annotation file a path stands for: a file is itself; a folder is
 * searched for the format's usual file name (caltech: its one ground-truth
 * .txt; dlib: testing.xml; wider: the validation split's gt file; celeba:
 * list_bbox_celeba.txt; mtfl: the training list, else the test list).
 */
export function findAnnotationFile(path: string, format: AnyAnnotationFormat): string {
  if (!existsSync(path)) throw new AnnotationError(path, null, 'no such file or folder');
  if (!isDirectory(path)) return path;
  const names = readdirSync(path).sort();
  let found: string[];
  let wanted: string;
  switch (format) {
    case 'caltech':
      wanted = 'a Caltech ground-truth .txt file';
      found = names.filter((n) => /\.txt$/i.test(n) && !/^(SHA\d*SUMS|README)/i.test(n));
      break;
    case 'dlib':
      wanted = 'testing.xml';
      found = names.filter((n) => n === 'testing.xml');
      break;
    case 'wider':
      wanted = 'wider_face_val_bbx_gt.txt';
      found = ['wider_face_val_bbx_gt.txt', 'wider_face_split/wider_face_val_bbx_gt.txt'].filter((n) => existsSync(join(path, n)));
      break;
    case 'celeba':
      wanted = 'list_bbox_celeba.txt';
      found = ['list_bbox_celeba.txt', 'Anno/list_bbox_celeba.txt'].filter((n) => existsSync(join(path, n)));
      break;
    case 'mtfl':
      wanted = 'an MTFL list (training.txt, train_subset.txt, testing.txt or test_aflw.txt)';
      found = ['training.txt', 'train_subset.txt'].filter((n) => existsSync(join(path, n)));
      if (found.length === 0) found = ['testing.txt', 'test_aflw.txt'].filter((n) => existsSync(join(path, n)));
      break;
  }
  if (found.length === 1) return join(path, found[0]);
  throw new AnnotationError(
    path,
    null,
    found.length === 0 ? `folder has no ${wanted}; give the annotation file itself` : `folder has several candidates (${found.join(', ')}); give the annotation file itself`,
  );
}

/** Finds the annotation file under `path` and loads it. `imagesDir` overrides where images are looked up (caltech, wider). */
export function loadAnnotations(path: string, format: AnyAnnotationFormat, imagesDir?: string): { file: string; images: AnnotatedImage[] } {
  const file = findAnnotationFile(path, format);
  switch (format) {
    case 'caltech':
      return { file, images: loadCaltech(file, imagesDir) };
    case 'dlib':
      return { file, images: imagesDir ? parseDlibXml(readText(file), file, imagesDir) : loadDlib(file) };
    case 'wider':
      return { file, images: loadWider(file, imagesDir) };
    case 'celeba':
      return { file, images: loadCelebA(file, imagesDir) };
    case 'mtfl':
      return { file, images: loadMtfl(file, imagesDir) };
  }
}
