// Converting MTCNN's pretrained PyTorch state_dicts to this engine's layouts.
// Takes decoded tensors (name -> shape + data); reading the file is the
// caller's business.
import type { HostTensor } from '../../engine/safetensors.js';

export type MtcnnNetName = 'pnet' | 'rnet' | 'onet';

/** The dense layer right after the conv stack, and the [C, H, W] it flattens. */
const FLATTENED_DENSE: Partial<Record<MtcnnNetName, { name: string; chw: [number, number, number] }>> = {
  rnet: { name: 'dense4.weight', chw: [64, 3, 3] },
  onet: { name: 'dense5.weight', chw: [128, 3, 3] },
};

/**
 * Where each element of a tensor in the engine's layout sits in PyTorch's:
 * `perm[engineIndex] = torchIndex`, with the PyTorch shape; null for tensors
 * whose layout is the same in both (biases, PReLU slopes). One map serves
 * both directions of the conversion.
 *  - conv: engine [kh, kw, in, out] <-> PyTorch [out, in, kh, kw];
 *  - dense: engine [in, out] <-> PyTorch [out, in];
 *  - the first dense layer's inputs: the engine's NHWC flatten ((h*W + w)*C + c)
 *    <-> facenet-pytorch's (permute(0,3,2,1): (w*H + h)*C + c), so no permute
 *    is needed at run time.
 */
function torchLayout(net: MtcnnNetName, name: string, engineShape: readonly number[]): { torchShape: number[]; perm: Uint32Array } | null {
  if (engineShape.length === 4) {
    const [kh, kw, i, o] = engineShape;
    const perm = new Uint32Array(kh * kw * i * o);
    for (let a = 0; a < o; a++)
      for (let b = 0; b < i; b++)
        for (let p = 0; p < kh; p++)
          for (let q = 0; q < kw; q++) perm[((p * kw + q) * i + b) * o + a] = ((a * i + b) * kh + p) * kw + q;
    return { torchShape: [o, i, kh, kw], perm };
  }
  if (engineShape.length === 2) {
    const [i, o] = engineShape;
    const flat = FLATTENED_DENSE[net]?.name === name ? FLATTENED_DENSE[net]!.chw : null;
    if (flat && flat[0] * flat[1] * flat[2] !== i) {
      throw new Error(`${net} ${name}: expected ${flat.join('x')} = ${flat[0] * flat[1] * flat[2]} inputs, got ${i}`);
    }
    const perm = new Uint32Array(i * o);
    for (let g = 0; g < i; g++) {
      let f = g;
      if (flat) {
        const [C, H, W] = flat;
        const c = g % C;
        const w = Math.floor(g / C) % W;
        const h = Math.floor(g / (C * W));
        f = (w * H + h) * C + c;
      }
      for (let a = 0; a < o; a++) perm[g * o + a] = a * i + f;
    }
    return { torchShape: [o, i], perm };
  }
  return null;
}

/** PyTorch layouts -> engine layouts (see torchLayout). */
export function convertTorchMtcnn(net: MtcnnNetName, tensors: Map<string, HostTensor>): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of tensors) {
    if (t.dtype !== 'f32') throw new Error(`${net} ${name}: expected float32 weights, got ${t.dtype}`);
    const s = t.shape;
    const engineShape = s.length === 4 ? [s[2], s[3], s[1], s[0]] : s.length === 2 ? [s[1], s[0]] : s;
    const layout = torchLayout(net, name, engineShape);
    if (!layout) {
      out.set(name, t);
      continue;
    }
    const y = new Float32Array(t.data.length);
    layout.perm.forEach((from, e) => (y[e] = t.data[from]));
    out.set(name, { dtype: 'f32', shape: engineShape, data: y });
  }
  return out;
}

/** Engine layouts -> PyTorch layouts: the inverse of convertTorchMtcnn. */
export function toTorchMtcnn(net: MtcnnNetName, tensors: Map<string, HostTensor>): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of tensors) {
    const layout = torchLayout(net, name, t.shape);
    if (!layout) {
      out.set(name, t);
      continue;
    }
    const y = new Float32Array(t.data.length);
    layout.perm.forEach((to, e) => (y[to] = t.data[e]));
    out.set(name, { dtype: 'f32', shape: layout.torchShape, data: y });
  }
  return out;
}
