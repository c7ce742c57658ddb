// Trained MTCNN nets back to the layout the pretrained files use (PyTorch:
// conv [out, in, kh, kw], dense [out, in], facenet-pytorch's flatten order),
// the layout tools/models.ts, the detector and eval:detect --weights read.
// The inverse of nets/mtcnn/weights.ts's convertTorchMtcnn.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Module } from '../../engine/nn/module.js';
import type { HostTensor } from '../../engine/safetensors.js';
import { encodeSafetensors } from '../../engine/safetensors.js';
import { writeFileAtomic } from '../../engine/io.js';

export type NetName = 'pnet' | 'rnet' | 'onet';

/** The dense layer right after the conv stack and the [C, H, W] it flattens (as weights.ts). */
const FLATTENED_DENSE: Partial<Record<NetName, { name: string; chw: [number, number, number] }>> = {
  rnet: { name: 'dense4.weight', chw: [64, 3, 3] },
  onet: { name: 'dense5.weight', chw: [128, 3, 3] },
};

/** Training-only heads the detector has no place for (nets.ts: MtcnnNetOptions.landmarks). */
const TRAINING_ONLY = /^(conv4_3|dense5_3)\./;

/** Engine layouts -> PyTorch layouts, leaving out training-only heads. */
export function toTorchMtcnn(net: NetName, tensors: Map<string, HostTensor>): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of tensors) {
    if ((net === 'pnet' || net === 'rnet') && TRAINING_ONLY.test(name)) continue;
    const data = t.data as Float32Array;
    if (t.shape.length === 4) {
      const [kh, kw, i, o] = t.shape;
      const y = new Float32Array(data.length);
      for (let a = 0; a < o; a++)
        for (let b = 0; b < i; b++)
          for (let p = 0; p < kh; p++)
            for (let q = 0; q < kw; q++) y[((a * i + b) * kh + p) * kw + q] = data[((p * kw + q) * i + b) * o + a];
      out.set(name, { dtype: 'f32', shape: [o, i, kh, kw], data: y });
    } else if (t.shape.length === 2) {
      const [i, o] = t.shape;
      const flat = FLATTENED_DENSE[net]?.name === name ? FLATTENED_DENSE[net]!.chw : null;
      const y = new Float32Array(data.length);
      for (let g = 0; g < i; g++) {
        // g: the engine's NHWC flatten index; f: facenet-pytorch's (w*H + h)*C + c.
        let f = g;
        if (flat) {
          const [C, H, W] = flat;
          const c = g % C;
          const w = Math.floor(g / C) % W;
          const h = Math.floor(g / (C * W));
          f = (w * H + h) * C + c;
        }
        for (let a = 0; a < o; a++) y[a * i + f] = data[g * o + a];
      }
      out.set(name, { dtype: 'f32', shape: [o, i], data: y });
    } else {
      out.set(name, t);
    }
  }
  return out;
}

/** A module's parameters and buffers read back to the host. */
export async function hostState(model: Module): Promise<Map<string, HostTensor>> {
  const entries = await Promise.all(
    [...model.stateDict()].map(async ([name, t]) => [name, { dtype: t.dtype, shape: [...t.shape], data: await t.data() } as HostTensor] as const),
  );
  return new Map(entries);
}

/**
 * Writes DIR/<net>.safetensors in PyTorch layout (atomically), with the
 * architecture in the metadata ("mtcnn.arch": original | bn) for loaders that
 * want to know without looking at tensor names.
 */
export async function exportNet(dir: string, net: NetName, model: Module, arch: string, metadata: Record<string, string> = {}): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${net}.safetensors`);
  const bytes = encodeSafetensors(toTorchMtcnn(net, await hostState(model)), { ...metadata, 'mtcnn.arch': arch });
  await writeFileAtomic(path, bytes);
  return path;
}
