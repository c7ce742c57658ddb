// Trained MTCNN nets back to the layout the pretrained files use (PyTorch:
// conv [out, in, kh, kw], dense [out, in], facenet-pytorch's flatten order),
// the layout tools/models.ts, the detector and eval:detect --weights read.
// The layout conversion itself is nets/mtcnn/weights.ts's toTorchMtcnn.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Module } from '../../engine/nn/module.js';
import type { HostTensor } from '../../engine/safetensors.js';
import { encodeSafetensors } from '../../engine/safetensors.js';
import { writeFileAtomic } from '../../engine/io.js';
import { toTorchMtcnn, type MtcnnNetName } from '../../nets/mtcnn/index.js';

export type NetName = MtcnnNetName;

/** Training-only heads the detector has no place for (nets.ts: MtcnnNetOptions.landmarks). */
const TRAINING_ONLY = /^(conv4_3|dense5_3)\./;

/** Engine layouts -> PyTorch layouts (nets/mtcnn/weights.ts), leaving out training-only heads. */
export function torchStateForExport(net: NetName, tensors: Map<string, HostTensor>): Map<string, HostTensor> {
  return toTorchMtcnn(net, new Map([...tensors].filter(([name]) => !((net === 'pnet' || net === 'rnet') && TRAINING_ONLY.test(name)))));
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
  const bytes = encodeSafetensors(torchStateForExport(net, await hostState(model)), { ...metadata, 'mtcnn.arch': arch });
  await writeFileAtomic(path, bytes);
  return path;
}
