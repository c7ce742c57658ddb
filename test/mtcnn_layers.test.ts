// Per-layer statistics of each MTCNN net against facenet-pytorch's forward
// hooks (test/data/mtcnn/mtcnn_netouts.json): every intermediate tensor's
// sum, mean, min, max, abs-sum and ten sampled values.
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { Tensor, noGradAsync } from '../engine/tensor.js';
import { permute, flatten } from '../engine/ops/shape.js';
import { softmax } from '../engine/ops/softmax.js';
import { maxPool2d } from '../engine/ops/pool.js';
import { Module } from '../engine/nn/module.js';
import { createMtcnnNets } from '../nets/mtcnn/index.js';
import { loadMtcnnWeights } from '../tools/models.js';

const DATA = new URL('./data/mtcnn/', import.meta.url);
const netouts = JSON.parse(readFileSync(new URL('mtcnn_netouts.json', DATA), 'utf8'));
const bin = (name: string) => {
  const b = readFileSync(new URL(name, DATA));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

interface LayerStats {
  layer: string;
  shape: number[];
  sum: number;
  mean: number;
  min: number;
  max: number;
  abs_sum: number;
  samples: { index: number[]; value: number }[];
}

type Step = [name: string, fn: (x: Tensor) => Tensor];

/** The nets' forward passes, unrolled layer by layer over their registered children. */
function steps(net: Module, kind: 'pnet' | 'rnet' | 'onet'): { trunk: Step[]; heads: Step[][] } {
  const m = net.namedChildren() as Map<string, any>;
  const layer = (name: string): Step => [name, (x) => m.get(name).forward(x)];
  const pool = (name: string, k: number): Step => [name, (x) => maxPool2d(x, { kernel: k, stride: 2, ceilMode: true })];
  const sm = (name: string): Step => [name, (x) => softmax(x)];
  const flat = (name: string): Step => [name, (x) => flatten(x)];
  if (kind === 'pnet') {
    return {
      trunk: [layer('conv1'), layer('prelu1'), pool('pool1', 2), layer('conv2'), layer('prelu2'), layer('conv3'), layer('prelu3')],
      heads: [[layer('conv4_1'), sm('softmax4_1')], [layer('conv4_2')]],
    };
  }
  if (kind === 'rnet') {
    return {
      trunk: [layer('conv1'), layer('prelu1'), pool('pool1', 3), layer('conv2'), layer('prelu2'), pool('pool2', 3), layer('conv3'), layer('prelu3'), flat('dense4:input'), layer('dense4'), layer('prelu4')],
      heads: [[layer('dense5_1'), sm('softmax5_1')], [layer('dense5_2')]],
    };
  }
  return {
    trunk: [layer('conv1'), layer('prelu1'), pool('pool1', 3), layer('conv2'), layer('prelu2'), pool('pool2', 3), layer('conv3'), layer('prelu3'), pool('pool3', 2), layer('conv4'), layer('prelu4'), flat('dense5:input'), layer('dense5'), layer('prelu5')],
    heads: [[layer('dense6_1'), sm('softmax6_1')], [layer('dense6_2')], [layer('dense6_3')]],
  };
}

/** Flat NHWC offset of an NCHW (or [N, K]) index. */
function nhwcOffset(index: number[], nchw: number[]): number {
  if (index.length === 2) return index[0] * nchw[1] + index[1];
  const [n, c, h, w] = index;
  const [, C, H, W] = nchw;
  return ((n * H + h) * W + w) * C + c;
}

async function compare(t: Tensor, ref: LayerStats): Promise<void> {
  const v = (await t.data()) as Float32Array;
  expect(v.length).toBe(ref.shape.reduce((a, d) => a * d, 1));
  let sum = 0, abs = 0, min = Infinity, max = -Infinity;
  for (const x of v) {
    sum += x;
    abs += Math.abs(x);
    if (x < min) min = x;
    if (x > max) max = x;
  }
  // Sums are compared relative to the layer's total magnitude; single values to 1e-4.
  const where = `${ref.layer} ${JSON.stringify(ref.shape)}`;
  expect(Math.abs(sum - ref.sum), `${where} sum`).toBeLessThan(1e-5 * ref.abs_sum + 1e-4);
  expect(Math.abs(abs - ref.abs_sum), `${where} abs_sum`).toBeLessThan(1e-5 * ref.abs_sum + 1e-4);
  expect(Math.abs(min - ref.min), `${where} min`).toBeLessThan(1e-4);
  expect(Math.abs(max - ref.max), `${where} max`).toBeLessThan(1e-4);
  // A flatten's element order is the engine's NHWC order, not torch's permuted one: stats only.
  if (ref.layer.endsWith(':input')) return;
  for (const s of ref.samples) {
    expect(Math.abs(v[nhwcOffset(s.index, ref.shape)] - s.value), `${where} at ${s.index}`).toBeLessThan(1e-4);
  }
}

let nets: ReturnType<typeof createMtcnnNets>;
beforeAll(async () => {
  nets = createMtcnnNets(await loadMtcnnWeights());
});

describe('MTCNN per-layer statistics match facenet-pytorch', () => {
  it.each([
    ['pnet', 'pnet_input.bin', [1, 3, 190, 361]],
    ['rnet', 'rnet_input.bin', [4, 3, 24, 24]],
    ['onet', 'onet_input.bin', [4, 3, 48, 48]],
  ] as const)('%s', async (kind, input, shape) => {
    const refs = new Map<string, LayerStats>(netouts[kind].layers.map((l: LayerStats) => [l.layer, l]));
    const net = nets[kind] as unknown as Module;
    const { trunk, heads } = steps(net, kind);
    let checked = 0;
    await noGradAsync(async () => {
      const x0 = Tensor.from(bin(input), [...shape]);
      let x = permute(x0, [0, 2, 3, 1]);
      for (const [name, fn] of trunk) {
        x = fn(x);
        await compare(x, refs.get(name)!);
        checked++;
      }
      for (const head of heads) {
        let h = x;
        for (const [name, fn] of head) {
          h = fn(h);
          await compare(h, refs.get(name)!);
          checked++;
        }
      }
    });
    expect(checked).toBe(refs.size);
  });
});
