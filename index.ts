// The package's library entry: the engine, the nets, and one-call helpers
// that take a path or decoded pixels.
import { init } from './engine/runtime.js';
import { readImage, type RgbaImage } from './tools/image.js';
import { loadMtcnnDetector, DEFAULT_MTCNN_DIR } from './tools/models.js';
import type { DetectOptions, Face, RgbaPixels } from './nets/mtcnn/detector.js';
import type { MtcnnDetector } from './nets/mtcnn/detector.js';

export * from './engine/index.js';
export * as mtcnn from './nets/mtcnn/index.js';
export * as facenet from './nets/facenet/index.js';
export * as align from './nets/align.js';
export { readImage, decodeImage, encodePng } from './tools/image.js';
export { loadMtcnnDetector } from './tools/models.js';
export type { Face, DetectOptions, RgbaPixels, RgbaImage };

const detectors = new Map<string, Promise<MtcnnDetector>>();

/**
 * Detects faces in an image file (JPEG/PNG) or in decoded RGBA pixels with the
 * bundled MTCNN weights (or those in `weightsDir`). Initialises WebGPU on
 * first use; call `shutdown()` when done so the process can exit.
 *
 *   const faces = await detectFaces('group.jpg');
 *   faces[0].box, faces[0].score, faces[0].landmarks
 */
export async function detectFaces(input: string | RgbaPixels, opts: DetectOptions & { weightsDir?: string } = {}): Promise<Face[]> {
  await init();
  const dir = opts.weightsDir ?? DEFAULT_MTCNN_DIR;
  if (!detectors.has(dir)) detectors.set(dir, loadMtcnnDetector(dir));
  const detector = await detectors.get(dir)!;
  const pixels = typeof input === 'string' ? await readImage(input) : input;
  return detector.detect(pixels, opts);
}
