// MTCNN: the nets, the weight conversion and the detector.
import type { HostTensor } from '../../engine/safetensors.js';
import { PNet, RNet, ONet, type MtcnnVariant } from './nets.js';
import { convertTorchMtcnn } from './weights.js';
import { MtcnnDetector } from './detector.js';

export * from './nets.js';
export * from './detector.js';
export { convertTorchMtcnn, toTorchMtcnn, type MtcnnNetName } from './weights.js';

export interface MtcnnWeights {
  pnet: Map<string, HostTensor>;
  rnet: Map<string, HostTensor>;
  onet: Map<string, HostTensor>;
}

/**
 * Builds the three nets and loads weights in PyTorch layout (facenet-pytorch's
 * state_dicts, as in models/mtcnn/*.safetensors). `source` names where the
 * weights came from in error messages.
 */
export function createMtcnnNets(weights: MtcnnWeights, variant: MtcnnVariant = 'original', source = 'MTCNN weights'): { pnet: PNet; rnet: RNet; onet: ONet } {
  const pnet = new PNet(variant);
  const rnet = new RNet(variant);
  const onet = new ONet(variant);
  pnet.loadStateDict(convertTorchMtcnn('pnet', weights.pnet), { source: `${source} (pnet)` });
  rnet.loadStateDict(convertTorchMtcnn('rnet', weights.rnet), { source: `${source} (rnet)` });
  onet.loadStateDict(convertTorchMtcnn('onet', weights.onet), { source: `${source} (onet)` });
  return { pnet, rnet, onet };
}

export function createMtcnnDetector(weights: MtcnnWeights, source?: string): MtcnnDetector {
  const { pnet, rnet, onet } = createMtcnnNets(weights, 'original', source);
  return new MtcnnDetector(pnet, rnet, onet);
}
