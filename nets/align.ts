// Face alignment: a similarity transform from a face's five landmarks to a
// fixed template, then one affine warp of all faces on the GPU.
//
// Coordinates follow OpenCV (see engine/ops/warp.ts): pixel (row i, column j)
// is the point (x = j, y = i). MTCNN landmarks are used as such, as the
// insightface / facenet alignment code feeds them to cv2.warpAffine.
//
// The transform is solved on the host: it is a 4-parameter least-squares fit
// to 5 point pairs per face (a few dozen flops), so a kernel would cost more
// in dispatch and readback than the arithmetic; the warp, which touches every
// output pixel, is the GPU's work.
import { Tensor, shapeStr } from '../engine/tensor.js';
import { warpAffine, type WarpBorder } from '../engine/ops/warp.js';

export type Point2 = readonly [number, number];

/** Row-major 2x3 affine map [a, b, c, d, e, f]: (x, y) -> (a x + b y + c, d x + e y + f). */
export type Affine2x3 = [number, number, number, number, number, number];

export interface SimilarityFit {
  /** Maps src points onto dst points. */
  matrix: Affine2x3;
  /** Maps dst back onto src (the exact inverse of `matrix`, not a refit). */
  inverse: Affine2x3;
  /** Uniform scale of `matrix`. */
  scale: number;
  /** Rotation of `matrix`, radians, counter-clockwise in (x right, y down) axes as atan2(d, a). */
  rotation: number;
}

/**
 * Least-squares similarity transform (rotation + uniform scale + translation,
 * no reflection) taking `src` to `dst`: minimises sum |M src_i - dst_i|^2.
 *
 * This is Umeyama's solution (skimage's SimilarityTransform.estimate) in its
 * 2-D closed form: a scaled rotation [[a, -b], [b, a]] is linear in (a, b), so
 * with both point sets centred the optimum is a = sum(x . y) / sum |x|^2,
 * b = sum(x cross y) / sum |x|^2, and any (a, b) is a rotation with scale
 * sqrt(a^2 + b^2) >= 0: no reflection can come out, and no SVD is needed.
 */
export function similarityTransform(src: readonly Point2[], dst: readonly Point2[]): SimilarityFit {
  const op = 'similarityTransform';
  if (src.length !== dst.length || src.length < 2) {
    throw new Error(`${op}: needs two lists of the same number (>= 2) of points, got ${src.length} src and ${dst.length} dst`);
  }
  const n = src.length;
  for (const [name, pts] of [['src', src], ['dst', dst]] as const) {
    pts.forEach((p, i) => {
      if (p.length !== 2 || !Number.isFinite(p[0]) || !Number.isFinite(p[1])) throw new Error(`${op}: ${name}[${i}] = [${p.join(', ')}] is not a finite (x, y) point`);
    });
  }
  let sx = 0, sy = 0, dx = 0, dy = 0;
  for (let i = 0; i < n; i++) {
    sx += src[i][0];
    sy += src[i][1];
    dx += dst[i][0];
    dy += dst[i][1];
  }
  sx /= n;
  sy /= n;
  dx /= n;
  dy /= n;
  let dot = 0, cross = 0, norm = 0;
  for (let i = 0; i < n; i++) {
    const xs = src[i][0] - sx, ys = src[i][1] - sy;
    const xd = dst[i][0] - dx, yd = dst[i][1] - dy;
    dot += xs * xd + ys * yd;
    cross += xs * yd - ys * xd;
    norm += xs * xs + ys * ys;
  }
  if (!(norm > 0)) throw new Error(`${op}: the ${n} src points all coincide; no transform is determined`);
  const a = dot / norm, b = cross / norm;
  const scale = Math.hypot(a, b);
  if (!(scale > 0)) throw new Error(`${op}: the best fit collapses every point to one (dst points all coincide); it has no inverse`);
  const matrix: Affine2x3 = [a, -b, dx - (a * sx - b * sy), b, a, dy - (b * sx + a * sy)];
  return { matrix, inverse: invertAffine(matrix), scale, rotation: Math.atan2(b, a) };
}

/** Inverse of an invertible 2x3 affine map. */
export function invertAffine(m: Affine2x3): Affine2x3 {
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  if (det === 0 || !Number.isFinite(det)) throw new Error(`invertAffine: [${m.join(', ')}] is singular`);
  const ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
  return [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)];
}

export function applyAffine(m: Affine2x3, p: Point2): [number, number] {
  return [m[0] * p[0] + m[1] * p[1] + m[2], m[3] * p[0] + m[4] * p[1] + m[5]];
}

/**
 * The five-point template of the 112x112 face-recognition crop (insightface /
 * ArcFace): left eye, right eye, nose, left mouth corner, right mouth corner.
 */
export const ARCFACE_112_POINTS: readonly Point2[] = [
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
];

export type AlignTemplate = 'arcface112' | 'facenet160';

export interface TemplateOptions {
  /** 'facenet160' (default): 160x160 for FaceNet; 'arcface112': the 112x112 ArcFace crop. */
  template?: AlignTemplate;
  /** Output side in pixels; default 112 for 'arcface112', 160 for 'facenet160'. */
  size?: number;
  /** Pixels of the output left around the template square, split evenly between the sides (facenet-pytorch's MTCNN margin). Default 0. */
  margin?: number;
}

const DEFAULT_SIZE: Record<AlignTemplate, number> = { arcface112: 112, facenet160: 160 };

/**
 * Template landmark positions in a size x size crop.
 *
 * Both templates are the ArcFace points read as a fraction of their 112x112
 * square, and that square is placed to fill (size - margin) pixels centred in
 * the output. So 'arcface112' at its defaults is exactly the standard 112
 * points, and 'facenet160' is the same crop at 160 pixels. FaceNet has no
 * landmark template of its own: facenet-pytorch does not align, it crops the
 * detector box plus `margin` and resizes to 160; here the face is aligned by
 * its landmarks instead, and `margin` keeps the meaning it has there (output
 * pixels around the face square).
 *
 * The square is scaled by its pixel edges, not its pixel centres: a template
 * point p (integer-centred pixel coordinates) is first taken to the continuous
 * position (p + 0.5) / 112 in the unit square, then back to
 * margin / 2 + u * (size - margin) - 0.5. That makes a 'facenet160' crop (margin
 * 0) the 'arcface112' crop resampled like F.interpolate(align_corners=False),
 * rather than shifted by a fraction of a pixel.
 */
export function templatePoints(opts: TemplateOptions = {}): Point2[] {
  return templateFor('templatePoints', opts);
}

function templateFor(op: string, opts: TemplateOptions): Point2[] {
  const template = opts.template ?? 'facenet160';
  if (template !== 'arcface112' && template !== 'facenet160') throw new Error(`${op}: template "${template}" is not 'arcface112' or 'facenet160'`);
  const size = opts.size ?? DEFAULT_SIZE[template];
  const margin = opts.margin ?? 0;
  if (!Number.isInteger(size) || size < 1) throw new Error(`${op}: size ${size} must be a positive integer`);
  if (!Number.isFinite(margin) || margin < 0 || margin >= size) throw new Error(`${op}: margin ${margin} must be >= 0 and less than size ${size}`);
  const fill = size - margin;
  return ARCFACE_112_POINTS.map(([x, y]) => [margin / 2 + ((x + 0.5) / 112) * fill - 0.5, margin / 2 + ((y + 0.5) / 112) * fill - 0.5] as const);
}

/**
 * The similarity transform of one face: `matrix` maps image points to crop
 * points, `inverse` maps crop pixels back into the image (what the warp uses).
 *
 * It is fitted from the landmarks to the template, the way insightface's
 * norm_crop does (skimage estimate(landmarks, template), then cv2.warpAffine),
 * so the least-squares error is measured in crop pixels; fitting template ->
 * landmarks instead would weigh it in image pixels and give a slightly
 * different crop when the five points do not match the template exactly.
 */
export function alignmentTransform(landmarks: readonly Point2[], opts: TemplateOptions = {}): SimilarityFit {
  const template = templateFor('alignmentTransform', opts);
  if (landmarks.length !== template.length) throw new Error(`alignmentTransform: needs ${template.length} landmarks, got ${landmarks.length}`);
  return similarityTransform(landmarks, template);
}

export interface AlignOptions extends TemplateOptions {
  /** What the crop shows where it extends past the image; default 'zero' (black, as cv2.warpAffine's default). */
  border?: WarpBorder;
}

/**
 * Aligned crops of faces from img (f32 [1, H, W, C], any value range, e.g.
 * 0..255): [K, size, size, C] on the GPU, one warpAffine dispatch for all
 * faces. Each face needs its five landmarks (left eye, right eye, nose, left
 * mouth corner, right mouth corner), as the MTCNN detector returns them.
 */
export function alignFaces(img: Tensor, faces: readonly { landmarks: readonly Point2[] }[], opts: AlignOptions = {}): Tensor {
  const op = 'alignFaces';
  if (img.rank !== 4 || img.shape[0] !== 1 || img.dtype !== 'f32') {
    throw new Error(`${op}: image ${shapeStr(img.shape)} ${img.dtype} must be one f32 NHWC image [1, H, W, C]`);
  }
  const template = templateFor(op, opts);
  const size = opts.size ?? DEFAULT_SIZE[opts.template ?? 'facenet160'];
  const cropToImage = new Float32Array(6 * faces.length);
  faces.forEach((face, k) => {
    if (face.landmarks.length !== template.length) throw new Error(`${op}: face ${k} has ${face.landmarks.length} landmarks; alignment needs ${template.length}`);
    let fit: SimilarityFit;
    try {
      fit = similarityTransform(face.landmarks, template);
    } catch (e) {
      throw new Error(`${op}: face ${k}: ${(e as Error).message}`);
    }
    cropToImage.set(fit.inverse, 6 * k);
  });
  const matrices = Tensor.from(cropToImage, [faces.length, 6]);
  try {
    return warpAffine(img, matrices, null, [size, size], { border: opts.border ?? 'zero' });
  } finally {
    // Safe right after recording: the pool hands the buffer out again only to
    // later commands, which run after this warp has read it.
    matrices.dispose();
  }
}
