// Where the bundled models live and how to load them from files. Nets take
// decoded tensors; this is the layer that knows about paths.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadSafetensors } from '../engine/io.js';
import { createMtcnnDetector, type MtcnnWeights } from '../nets/mtcnn/index.js';
import type { MtcnnDetector } from '../nets/mtcnn/detector.js';

export const MODELS_DIR = fileURLToPath(new URL('../models/', import.meta.url));
export const DEFAULT_MTCNN_DIR = join(MODELS_DIR, 'mtcnn');

/** Reads pnet/rnet/onet.safetensors (PyTorch layout, as facenet-pytorch ships them) from a folder. */
export async function loadMtcnnWeights(dir = DEFAULT_MTCNN_DIR): Promise<MtcnnWeights> {
  const read = async (net: string) => (await loadSafetensors(join(dir, `${net}.safetensors`))).tensors;
  return { pnet: await read('pnet'), rnet: await read('rnet'), onet: await read('onet') };
}

export async function loadMtcnnDetector(dir = DEFAULT_MTCNN_DIR): Promise<MtcnnDetector> {
  return createMtcnnDetector(await loadMtcnnWeights(dir), dir);
}
