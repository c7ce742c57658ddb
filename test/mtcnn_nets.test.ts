// Each MTCNN net against facenet-pytorch's outputs on fixed inputs
// (test/data/mtcnn, from the shared PyTorch reference).
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { Tensor, noGrad, tidy } from '../engine/tensor.js';
import type { HostTensor } from '../engine/safetensors.js';
import { permute } from '../engine/ops/shape.js';
import { softmax } from '../engine/ops/softmax.js';
import { loadSafetensors } from '../engine/io.js';
import { createMtcnnNets, type MtcnnWeights, PNet, RNet, ONet } from '../nets/mtcnn/index.js';

const DATA = new URL('./data/mtcnn/', import.meta.url);
const bin = (name: string) => {
  const b = readFileSync(new URL(name, DATA));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};
/** NCHW host data -> NHWC GPU tensor (the permute runs on the GPU). */
const nhwc = (data: Float32Array, [n, c, h, w]: number[]) => {
  const t = Tensor.from(data, [n, c, h, w]);
  const y = permute(t, [0, 2, 3, 1]);
  t.dispose();
  return y;
};
/** GPU NHWC [N, h, w, C] -> host NCHW (to compare with PyTorch's layout). */
const toNchw = async (t: Tensor) => (await permute(t, [0, 3, 1, 2]).data()) as Float32Array;

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// float32 conv chains of this depth agree with PyTorch's CPU kernels to ~1e-5;
// the issue asks for ~1e-4.
const TOL = 1e-4;

let nets: { pnet: PNet; rnet: RNet; onet: ONet };

beforeAll(async () => {
  const root = new URL('../models/mtcnn/', import.meta.url).pathname;
  const w: MtcnnWeights = {
    pnet: (await loadSafetensors(root + 'pnet.safetensors')).tensors,
    rnet: (await loadSafetensors(root + 'rnet.safetensors')).tensors,
    onet: (await loadSafetensors(root + 'onet.safetensors')).tensors,
  };
  nets = createMtcnnNets(w);
  for (const n of Object.values(nets)) n.eval();
});

describe('MTCNN nets match facenet-pytorch', () => {
  it('P-Net on the multiface.jpg level 0.3 (190x361)', async () => {
    const x = nhwc(bin('pnet_input.bin'), [1, 3, 190, 361]);
    const out = noGrad(() => nets.pnet.forward(x));
    expect(out.cls.shape).toEqual([1, 90, 176, 2]);
    const prob = await toNchw(noGrad(() => softmax(out.cls)));
    const reg = await toNchw(out.reg);
    expect(maxDiff(prob, bin('pnet_out_prob.bin'))).toBeLessThan(TOL);
    expect(maxDiff(reg, bin('pnet_out_reg.bin'))).toBeLessThan(TOL);
  });

  it('P-Net inference (fused pool, joined heads) equals its training-mode forward, and follows changed head weights', async () => {
    const x = nhwc(bin('pnet_input.bin'), [1, 3, 190, 361]);
    const infer = async () => {
      const o = noGrad(() => nets.pnet.forward(x));
      return { cls: (await o.cls.data()) as Float32Array, reg: (await o.reg.data()) as Float32Array };
    };
    const graph = async () => {
      const o = tidy(() => nets.pnet.forward(x));
      return { cls: (await o.cls.data()) as Float32Array, reg: (await o.reg.data()) as Float32Array };
    };
    const a = await infer();
    const g = await graph();
    expect(maxDiff(a.cls, g.cls)).toBeLessThan(1e-5);
    expect(maxDiff(a.reg, g.reg)).toBeLessThan(1e-5);
    // New head weights through loadStateDict: the joined copy is remade.
    const bias = nets.pnet.conv4_2.bias!;
    const saved = (await bias.data()) as Float32Array;
    nets.pnet.loadStateDict({ 'conv4_2.bias': { shape: [4], dtype: 'f32', data: saved.map((v) => v + 1) } as HostTensor }, { strict: false });
    const moved = await infer();
    expect(maxDiff(moved.reg.map((v) => v - 1), a.reg)).toBeLessThan(1e-5);
    nets.pnet.loadStateDict({ 'conv4_2.bias': { shape: [4], dtype: 'f32', data: saved } as HostTensor }, { strict: false });
    expect(maxDiff((await infer()).reg, a.reg)).toBe(0);
  });

  it.each([
    ['random input', 'rnet_input.bin', 4, 'rnet_out_prob.bin', 'rnet_out_reg.bin'],
    ['real multiface stage batch (first 96)', 'multiface_rnet_stage_input96.bin', 96, 'multiface_rnet_stage_prob96.bin', 'multiface_rnet_stage_reg96.bin'],
  ])('R-Net on %s', async (_name, input, n, probFile, regFile) => {
    const x = nhwc(bin(input), [n, 3, 24, 24]);
    const out = noGrad(() => nets.rnet.forward(x));
    const prob = (await noGrad(() => softmax(out.cls)).data()) as Float32Array;
    expect(maxDiff(prob, bin(probFile))).toBeLessThan(TOL);
    expect(maxDiff((await out.reg.data()) as Float32Array, bin(regFile))).toBeLessThan(TOL);
  });

  it.each([
    ['random input', 'onet_input.bin', 4, 'onet_out'],
    ['real multiface stage batch', 'multiface_onet_stage_input.bin', 49, 'multiface_onet_stage'],
  ])('O-Net on %s', async (_name, input, n, prefix) => {
    const x = nhwc(bin(input), [n, 3, 48, 48]);
    const out = noGrad(() => nets.onet.forward(x));
    const prob = (await noGrad(() => softmax(out.cls)).data()) as Float32Array;
    const suffix = prefix === 'onet_out' ? '' : '';
    expect(maxDiff(prob, bin(`${prefix}_prob${suffix}.bin`))).toBeLessThan(TOL);
    expect(maxDiff((await out.reg.data()) as Float32Array, bin(`${prefix}_reg.bin`))).toBeLessThan(TOL);
    expect(maxDiff((await out.landmarks!.data()) as Float32Array, bin(`${prefix}_landmarks.bin`))).toBeLessThan(TOL);
  });
});
