// Converting MTCNN's pretrained PyTorch state_dicts to this engine's layouts.
// Takes decoded tensors (name -> shape + data); reading the file is the
// caller's business.
import type { HostTensor } from '../../engine/safetensors.js';

/** The dense layer right after the conv stack, and the [C, H, W] it flattens. */
const FLATTENED_DENSE: Record<string, { name: string; chw: [number, number, number] }> = {
  rnet: { name: 'dense4.weight', chw: [64, 3, 3] },
  onet: { name: 'dense5.weight', chw: [128, 3, 3] },
};

/**
 * PyTorch layouts -> engine layouts:
 *  - conv [out, in, kh, kw] -> [kh, kw, in, out];
 *  - dense [out, in] -> [in, out];
 *  - the first dense layer's inputs reordered from facenet-pytorch's flatten
 *    (permute(0,3,2,1): flat index (w*H + h)*C + c) to the engine's NHWC
 *    flatten ((h*W + w)*C + c), so no permute is needed at run time.
 */
export function convertTorchMtcnn(net: 'pnet' | 'rnet' | 'onet', tensors: Map<string, HostTensor>): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of tensors) {
    if (t.dtype !== 'f32') throw new Error(`${net} ${name}: expected float32 weights, got ${t.dtype}`);
    const data = t.data;
    if (t.shape.length === 4) {
      const [o, i, kh, kw] = t.shape;
      const y = new Float32Array(data.length);
      for (let a = 0; a < o; a++)
        for (let b = 0; b < i; b++)
          for (let p = 0; p < kh; p++)
            for (let q = 0; q < kw; q++) y[((p * kw + q) * i + b) * o + a] = data[((a * i + b) * kh + p) * kw + q];
      out.set(name, { dtype: 'f32', shape: [kh, kw, i, o], data: y });
    } else if (t.shape.length === 2) {
      const [o, i] = t.shape;
      const flat = FLATTENED_DENSE[net]?.name === name ? FLATTENED_DENSE[net].chw : null;
      if (flat && flat[0] * flat[1] * flat[2] !== i) {
        throw new Error(`${net} ${name}: expected ${flat.join('x')} = ${flat[0] * flat[1] * flat[2]} inputs, got ${i}`);
      }
      const y = new Float32Array(data.length);
      for (let g = 0; g < i; g++) {
        let f = g;
        if (flat) {
          const [C, H, W] = flat;
          const c = g % C;
          const w = Math.floor(g / C) % W;
          const h = Math.floor(g / (C * W));
          f = (w * H + h) * C + c;
        }
        for (let a = 0; a < o; a++) y[g * o + a] = data[a * i + f];
      }
      out.set(name, { dtype: 'f32', shape: [i, o], data: y });
    } else {
      out.set(name, t);
    }
  }
  return out;
}
