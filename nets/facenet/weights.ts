// FaceNet weights trained elsewhere: PyTorch state_dicts (decoded host
// tensors, e.g. from a safetensors file written by `safetensors.torch.save_file`)
// converted to the engine's names and layouts. Reading files is the caller's
// business.
//
// Accepted names (see facenet.ts for the engine's):
//   mobilenet           the design document's Facenet (bubbliiiing/facenet-pytorch,
//                       facenet_mobilenet.pth): backbone.model.stageS.I.J.*, Bottleneck.weight,
//                       last_bn.*, classifier.*; a bare MobileNetV1 backbone dict
//                       (stage1.0.0.weight ...; `fc.*` dropped) loads with strict: false.
//   inception_resnetv1  facenet-pytorch's InceptionResnetV1 (20180402-114759-vggface2.pt,
//                       20180408-102900-casia-webface.pt): conv2d_1a.conv.weight ...,
//                       last_linear.weight, last_bn.*, logits.*; and the design
//                       document's Facenet with that backbone: backbone.model.conv2d_1a...,
//                       Bottleneck.weight, classifier.* (renamed to the former).
// Layouts: conv [out, in, kh, kw] -> [kh, kw, in, out]; depthwise [C, 1, kh, kw]
// -> [kh, kw, C]; linear [out, in] -> [in, out]; batchnorm vectors unchanged.
// `num_batches_tracked` counters are dropped (the engine keeps none).
import type { HostTensor } from '../../engine/safetensors.js';
import { BACKBONES, type Backbone, type FaceNetConfig, type InputNormalization } from './facenet.js';

export interface ConvertOptions {
  /**
   * Keep the identity classifier (`classifier.*` / `logits.*`). Default false:
   * a classifier trained on someone else's identities is of no use for
   * embeddings, and dropping it lets the dict load into a FaceNet without one.
   */
  keepClassifier?: boolean;
}

/** The engine's name for a PyTorch name, or null for entries the engine does not keep. */
function engineName(name: string, backbone: Backbone, keepClassifier: boolean): string | null {
  if (name.endsWith('.num_batches_tracked')) return null;
  if (backbone === 'mobilenet') {
    if (/^(model\.)?fc\./.test(name)) return null; // the ImageNet classifier of a bare MobileNetV1
    let n = name.replace(/^model\./, 'backbone.model.');
    if (/^stage\d\./.test(n)) n = `backbone.model.${n}`;
    if (n.startsWith('classifier.') && !keepClassifier) return null;
    return n;
  }
  let n = name.replace(/^backbone\.model\./, '');
  if (n.startsWith('Bottleneck.')) n = n.replace('Bottleneck.', 'last_linear.');
  if (n.startsWith('classifier.')) n = n.replace('classifier.', 'logits.');
  if (n.startsWith('logits.') && !keepClassifier) return null;
  return n;
}

function transposeConv(t: HostTensor & { dtype: 'f32' }): HostTensor {
  const [o, i, kh, kw] = t.shape;
  const src = t.data;
  const dst = new Float32Array(src.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let p = 0; p < kh; p++)
        for (let q = 0; q < kw; q++) dst[((p * kw + q) * i + b) * o + a] = src[((a * i + b) * kh + p) * kw + q];
  return { dtype: 'f32', shape: [kh, kw, i, o], data: dst };
}

function transposeDepthwise(t: HostTensor & { dtype: 'f32' }): HostTensor {
  const [c, , kh, kw] = t.shape;
  const src = t.data;
  const dst = new Float32Array(src.length);
  for (let a = 0; a < c; a++)
    for (let p = 0; p < kh; p++)
      for (let q = 0; q < kw; q++) dst[(p * kw + q) * c + a] = src[(a * kh + p) * kw + q];
  return { dtype: 'f32', shape: [kh, kw, c], data: dst };
}

function transposeLinear(t: HostTensor & { dtype: 'f32' }): HostTensor {
  const [o, i] = t.shape;
  const src = t.data;
  const dst = new Float32Array(src.length);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) dst[b * o + a] = src[a * i + b];
  return { dtype: 'f32', shape: [i, o], data: dst };
}

/** PyTorch names and layouts -> the engine's, for a FaceNet with the given backbone. */
export function convertTorchFacenet(tensors: Map<string, HostTensor>, backbone: Backbone, opts: ConvertOptions = {}): Map<string, HostTensor> {
  if (!BACKBONES.includes(backbone)) throw new Error(`convertTorchFacenet: unknown backbone "${backbone}" (one of ${BACKBONES.join(', ')})`);
  const out = new Map<string, HostTensor>();
  for (const [name, t] of tensors) {
    const target = engineName(name, backbone, opts.keepClassifier ?? false);
    if (target === null) continue;
    if (t.dtype !== 'f32') throw new Error(`convertTorchFacenet: ${name} is ${t.dtype}; expected float weights`);
    if (out.has(target)) throw new Error(`convertTorchFacenet: ${name} and another entry both map to ${target}`);
    const rank = t.shape.length;
    // MobileNet's depthwise convs are the only ones with one input channel per group.
    if (rank === 4 && backbone === 'mobilenet' && t.shape[1] === 1 && /\.0\.weight$/.test(target)) out.set(target, transposeDepthwise(t));
    else if (rank === 4) out.set(target, transposeConv(t));
    else if (rank === 2) out.set(target, transposeLinear(t));
    else if (rank === 1) out.set(target, t);
    else throw new Error(`convertTorchFacenet: ${name} has shape [${t.shape.join(', ')}]; expected a conv, linear or per-channel tensor`);
  }
  return out;
}

// ---- file metadata -----------------------------------------------------------

/**
 * What a FaceNet weights file says about itself (safetensors string
 * metadata), so a loader can rebuild the model and its preprocessing:
 * facenet.backbone, facenet.embedding_size, facenet.num_classes,
 * facenet.input_size, facenet.input_mean, facenet.input_scale and optionally
 * facenet.crop.
 */
export interface FaceNetFileInfo {
  config: Required<Pick<FaceNetConfig, 'backbone' | 'embeddingSize' | 'numClasses'>>;
  /** Side of the square input the net was trained on. */
  inputSize: number;
  normalization: InputNormalization;
  /** Centre crop of the source images, as a fraction of their shorter side, the net was trained on (facenet.crop; 1 when absent). */
  crop?: number;
}

export function facenetMetadata(info: FaceNetFileInfo): Record<string, string> {
  return {
    'facenet.backbone': info.config.backbone,
    'facenet.embedding_size': String(info.config.embeddingSize),
    'facenet.num_classes': String(info.config.numClasses),
    'facenet.input_size': String(info.inputSize),
    'facenet.input_mean': String(info.normalization.mean),
    'facenet.input_scale': String(info.normalization.scale),
    ...(info.crop !== undefined ? { 'facenet.crop': String(info.crop) } : {}),
  };
}

/** Reads facenetMetadata back; throws naming `source` and each missing or bad entry. */
export function parseFacenetMetadata(meta: Record<string, string>, source: string): FaceNetFileInfo {
  const problems: string[] = [];
  const num = (key: string, ok: (v: number) => boolean) => {
    const text = meta[`facenet.${key}`];
    const v = Number(text);
    if (text === undefined) problems.push(`no facenet.${key}`);
    else if (!ok(v)) problems.push(`facenet.${key} is "${text}"`);
    return v;
  };
  const backbone = meta['facenet.backbone'] as Backbone;
  if (!BACKBONES.includes(backbone)) problems.push(meta['facenet.backbone'] === undefined ? 'no facenet.backbone' : `facenet.backbone is "${backbone}"`);
  const posInt = (v: number) => Number.isInteger(v) && v > 0;
  const info: FaceNetFileInfo = {
    config: {
      backbone,
      embeddingSize: num('embedding_size', posInt),
      numClasses: num('num_classes', (v) => Number.isInteger(v) && v >= 0),
    },
    inputSize: num('input_size', posInt),
    normalization: { mean: num('input_mean', Number.isFinite), scale: num('input_scale', (v) => Number.isFinite(v) && v !== 0) },
  };
  if (meta['facenet.crop'] !== undefined) info.crop = num('crop', (v) => v > 0 && v <= 1);
  if (problems.length) throw new Error(`${source}: not a FaceNet weights file of this engine (${problems.join('; ')}); PyTorch checkpoints go through convertTorchFacenet first`);
  return info;
}
