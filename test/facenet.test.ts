// FaceNet nets: output shapes, parameter counts against the published
// architectures, PyTorch names and weight conversion, and a gradient check of
// the Inception-ResNet residual blocks at small widths.
import { describe, it, expect } from 'vitest';
import { Tensor, noGrad, tidy } from '../engine/tensor.js';
import { poolStats, sync } from '../engine/runtime.js';
import { sum } from '../engine/ops/elementwise.js';
import { Module, copyInto } from '../engine/nn/module.js';
import { seedInit, Conv2d, BatchNorm } from '../engine/nn/layers.js';
import type { HostTensor } from '../engine/safetensors.js';
import {
  FaceNet, MobileNetV1, InceptionResNetV1, Block35, Block17, Block8, BasicConv2d, Sequential, countParameters,
  convertTorchFacenet, facenetMetadata, parseFacenetMetadata, FACENET_INPUT,
} from '../nets/facenet/index.js';
import { runGradCase, rng, randomArray, type GradCase } from './gradcheck/harness.js';
import { conv2dRef } from './reference/conv.js';
import { batchNormTraining } from './reference/norm_act.js';

const random = (shape: number[], seed = 1) => Tensor.from(randomArray(shape.reduce((a, d) => a * d, 1), rng(seed)), shape);

describe('FaceNet forward shapes', () => {
  it('MobileNetV1: 160x160 -> 5x5x1024, and any input size (96 -> 3x3)', async () => {
    seedInit(1);
    const net = new MobileNetV1().eval();
    for (const [size, out] of [[160, 5], [96, 3]]) {
      const y = noGrad(() => net.forward(random([2, size, size, 3])));
      expect(y.shape).toEqual([2, out, out, 1024]);
      const v = (await y.data()) as Float32Array;
      expect(v.every((x) => Number.isFinite(x) && x >= 0 && x <= 6)).toBe(true); // ReLU6 output
    }
    net.dispose();
  });

  it('Inception-ResNet-v1: 160x160 -> 3x3x1792', async () => {
    seedInit(2);
    const net = new InceptionResNetV1().eval();
    const y = noGrad(() => net.forward(random([1, 160, 160, 3])));
    expect(y.shape).toEqual([1, 3, 3, 1792]);
    expect(((await y.data()) as Float32Array).every(Number.isFinite)).toBe(true);
    net.dispose();
  });

  it('FaceNet head: unit-length embeddings, pre-normalisation features, classifier logits', async () => {
    seedInit(3);
    const net = new FaceNet({ backbone: 'mobilenet', numClasses: 7 });
    const out = net.forward(random([4, 64, 64, 3]));
    expect(out.embedding.shape).toEqual([4, 128]);
    expect(out.features.shape).toEqual([4, 128]);
    expect(out.logits!.shape).toEqual([4, 7]);
    const e = (await out.embedding.data()) as Float32Array;
    for (let r = 0; r < 4; r++) {
      let s = 0;
      for (let j = 0; j < 128; j++) s += e[r * 128 + j] ** 2;
      expect(Math.sqrt(s)).toBeCloseTo(1, 4);
    }
    net.eval();
    const emb = noGrad(() => net.embed(random([2, 64, 64, 3])));
    expect(emb.shape).toEqual([2, 128]);
    net.dispose();
  });
});

describe('FaceNet inference batchnorm folding', () => {
  /** Non-trivial batchnorm statistics and affines, so folding has something to fold. */
  function randomiseBatchnorms(net: Module, seed: number): void {
    const r = rng(seed);
    for (const [name, t] of net.stateDict()) {
      if (!/(running_mean|running_var|bn\d?\.|\.[14]\.|last_bn)/.test(name) || t.rank !== 1) continue;
      const n = t.shape[0];
      const v = name.endsWith('running_var') ? randomArray(n, r, 0.5, 2) : name.endsWith('weight') ? randomArray(n, r, 0.5, 1.5) : randomArray(n, r, -0.3, 0.3);
      copyInto(t, { shape: [n], dtype: 'f32', data: v } as HostTensor);
    }
    net.dropDerived();
  }

  it('MobileNet FaceNet: folded (eval, noGrad) features equal the unfolded batchnorm path within 1e-4', async () => {
    seedInit(41);
    const net = new FaceNet({ backbone: 'mobilenet' });
    randomiseBatchnorms(net, 42);
    net.eval();
    const x = random([2, 64, 64, 3], 43);
    // With a graph being recorded the blocks keep the separate batchnorms.
    const unfolded = tidy(() => net.forward(x).features);
    const want = (await unfolded.data()) as Float32Array;
    const folded = noGrad(() => net.forward(x).features);
    const got = (await folded.data()) as Float32Array;
    let err = 0;
    for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
    expect(err).toBeLessThan(1e-4);
    expect(want.some((v) => Math.abs(v) > 1e-3)).toBe(true);
    // The backbone's own output (the head's batchnorm could hide it), 1024 channels of 2x2.
    const bbWant = (await tidy(() => net.backbone.forward(x)).data()) as Float32Array;
    const bbGot = (await noGrad(() => net.backbone.forward(x)).data()) as Float32Array;
    let bbErr = 0;
    for (let i = 0; i < bbWant.length; i++) bbErr = Math.max(bbErr, Math.abs(bbGot[i] - bbWant[i]) / (1 + Math.abs(bbWant[i])));
    expect(bbErr).toBeLessThan(1e-4);
    expect(bbWant.filter((v) => v > 1e-2 && v < 6).length).toBeGreaterThan(bbWant.length / 10);
    // Changed weights (loadStateDict) drop the folded copies: the folded path follows.
    const dict = new Map([...net.stateDict()].map(([k, t]) => [k, t]));
    const bnVar = 'last_bn.running_var';
    net.loadStateDict({ [bnVar]: { shape: dict.get(bnVar)!.shape, dtype: 'f32', data: randomArray(dict.get(bnVar)!.size, rng(44), 3, 4) } as HostTensor }, { strict: false });
    const again = noGrad(() => net.forward(x).features);
    const unfoldedAgain = tidy(() => net.forward(x).features);
    const a = (await again.data()) as Float32Array;
    const b = (await unfoldedAgain.data()) as Float32Array;
    let err2 = 0, moved = 0;
    for (let i = 0; i < a.length; i++) {
      err2 = Math.max(err2, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
      moved = Math.max(moved, Math.abs(a[i] - got[i]));
    }
    expect(err2).toBeLessThan(1e-4);
    expect(moved).toBeGreaterThan(1e-4);
    [x, unfolded, folded, again, unfoldedAgain].forEach((t) => t.dispose());
    net.dispose();
  });

  it('dispose() frees the folded copies and the gradients too: nothing of a used net stays live', async () => {
    const useAndDispose = async () => {
      const net = new FaceNet({ backbone: 'mobilenet', numClasses: 4 });
      const x = random([2, 32, 32, 3], 45);
      // Gradients on every parameter, then folded copies from an inference pass.
      tidy(() => sum(net.forward(x).logits!).backward());
      net.eval();
      const features = tidy(() => noGrad(() => net.forward(x).features));
      await features.data();
      [x, features].forEach((t) => t.dispose());
      net.dispose();
      await sync();
    };
    // The first round may leave what ops keep for the process (constants they made once).
    await useAndDispose();
    const live0 = poolStats().liveBytes;
    await useAndDispose();
    // Without freeing them: about 26 MB more a round (gradients, folded weights).
    expect(poolStats().liveBytes).toBeLessThanOrEqual(live0);
  });
});

describe('FaceNet parameter counts', () => {
  // Keras' MobileNet(alpha=1.0, include_top=False) reports 3,228,864
  // parameters, counting batchnorm moving means and variances; PyTorch counts
  // only the trainable 3,206,976.
  it('MobileNetV1 (1.0, no top): 3,228,864 with batchnorm statistics, 3,206,976 trainable', () => {
    const net = new MobileNetV1();
    expect(countParameters(net, { withBuffers: true })).toBe(3_228_864);
    expect(countParameters(net)).toBe(3_206_976);
    net.dispose();
  });

  // facenet-pytorch's InceptionResnetV1() (512-d head, no logits):
  // sum(p.numel() for p in model.parameters()) == 23,482,624.
  // Our 128-d head differs only in last_linear (1792 x E, no bias) and
  // last_bn (2E trainable): 23,482,624 - 1792*(512-128) - 2*(512-128)
  // = 22,793,728, and the backbone alone is 23,482,624 - 1792*512 - 2*512 = 22,564,096.
  it('Inception-ResNet-v1: 23,482,624 with the 512-d head (facenet-pytorch), 22,793,728 with 128-d', () => {
    const f512 = new FaceNet({ backbone: 'inception_resnetv1', embeddingSize: 512 });
    expect(countParameters(f512)).toBe(23_482_624);
    f512.dispose();
    const f128 = new FaceNet({ backbone: 'inception_resnetv1' });
    expect(countParameters(f128)).toBe(22_793_728);
    expect(countParameters(f128.backbone)).toBe(22_564_096);
    f128.dispose();
  });

  it('MobileNet FaceNet 128-d: backbone + 1024x128 bottleneck + batchnorm (+ classifier when training)', () => {
    const f = new FaceNet({ backbone: 'mobilenet', numClasses: 10 });
    expect(countParameters(f)).toBe(3_206_976 + 1024 * 128 + 2 * 128 + (128 * 10 + 10));
    f.dispose();
  });
});

describe('FaceNet names and PyTorch weights', () => {
  it('uses the PyTorch parameter names of each original', () => {
    const m = new FaceNet({ backbone: 'mobilenet', numClasses: 3 });
    const mk = [...m.stateDict().keys()];
    for (const k of ['backbone.model.stage1.0.0.weight', 'backbone.model.stage1.0.1.running_var', 'backbone.model.stage1.1.0.weight', 'backbone.model.stage1.1.3.weight',
      'backbone.model.stage2.5.4.bias', 'backbone.model.stage3.1.4.running_mean', 'Bottleneck.weight', 'last_bn.weight', 'last_bn.running_var', 'classifier.weight', 'classifier.bias']) {
      expect(mk).toContain(k);
    }
    m.dispose();
    const i = new FaceNet({ backbone: 'inception_resnetv1', numClasses: 3 });
    const ik = [...i.stateDict().keys()];
    for (const k of ['conv2d_1a.conv.weight', 'conv2d_1a.bn.running_mean', 'repeat_1.0.branch0.conv.weight', 'repeat_1.4.branch2.2.bn.bias', 'repeat_1.0.conv2d.bias',
      'mixed_6a.branch1.2.conv.weight', 'repeat_2.9.branch1.2.conv.weight', 'mixed_7a.branch2.2.bn.weight', 'repeat_3.4.conv2d.weight', 'block8.conv2d.weight',
      'last_linear.weight', 'last_bn.running_var', 'logits.weight']) {
      expect(ik).toContain(k);
    }
    expect(i.stateDict().get('repeat_2.0.branch1.1.conv.weight')!.shape).toEqual([1, 7, 128, 128]);
    i.dispose();
  });

  /** Engine layout -> PyTorch layout, the inverse of the converter, to fabricate PyTorch state dicts. */
  function toTorch(name: string, t: HostTensor, depthwise: boolean): HostTensor {
    const d = t.data as Float32Array;
    if (t.shape.length === 4) {
      const [kh, kw, i, o] = t.shape;
      const y = new Float32Array(d.length);
      for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let p = 0; p < kh; p++) for (let q = 0; q < kw; q++) y[((a * i + b) * kh + p) * kw + q] = d[((p * kw + q) * i + b) * o + a];
      return { dtype: 'f32', shape: [o, i, kh, kw], data: y };
    }
    if (t.shape.length === 3 && depthwise) {
      const [kh, kw, c] = t.shape;
      const y = new Float32Array(d.length);
      for (let a = 0; a < c; a++) for (let p = 0; p < kh; p++) for (let q = 0; q < kw; q++) y[(a * kh + p) * kw + q] = d[(p * kw + q) * c + a];
      return { dtype: 'f32', shape: [c, 1, kh, kw], data: y };
    }
    if (t.shape.length === 2) {
      const [i, o] = t.shape;
      const y = new Float32Array(d.length);
      for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) y[a * i + b] = d[b * o + a];
      return { dtype: 'f32', shape: [o, i], data: y };
    }
    expect(name).toBeTruthy();
    return t;
  }

  async function hostState(m: Module): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const [k, t] of m.stateDict()) out.set(k, { dtype: 'f32', shape: [...t.shape], data: (await t.data()) as Float32Array });
    return out;
  }

  it('convertTorchFacenet maps a PyTorch MobileNet Facenet state_dict (with num_batches_tracked) onto the engine model exactly', async () => {
    seedInit(11);
    const src = new FaceNet({ backbone: 'mobilenet' }).eval();
    const torch = new Map<string, HostTensor>();
    for (const [k, t] of await hostState(src)) {
      torch.set(k, toTorch(k, t, t.shape.length === 3));
      if (k.endsWith('.running_var')) torch.set(k.replace('running_var', 'num_batches_tracked'), { dtype: 'i32', shape: [], data: new Int32Array([7]) });
    }
    // A conv weight in PyTorch layout, element (out 5, in 2, ky 1, kx 0), lands at engine [1, 0, 2, 5].
    const stem = torch.get('backbone.model.stage1.0.0.weight')!;
    expect(stem.shape).toEqual([32, 3, 3, 3]);
    const converted = convertTorchFacenet(torch, 'mobilenet');
    const w = converted.get('backbone.model.stage1.0.0.weight')!;
    expect(w.shape).toEqual([3, 3, 3, 32]);
    expect(w.data[((1 * 3 + 0) * 3 + 2) * 32 + 5]).toBe(stem.data[((5 * 3 + 2) * 3 + 1) * 3 + 0]);
    expect(converted.get('backbone.model.stage1.1.0.weight')!.shape).toEqual([3, 3, 32]);
    expect(converted.get('Bottleneck.weight')!.shape).toEqual([1024, 128]);

    seedInit(12);
    const dst = new FaceNet({ backbone: 'mobilenet' }).eval();
    dst.loadStateDict(converted, { source: 'converted' });
    const x = random([2, 64, 64, 3], 5);
    const [a, b] = noGrad(() => [src.embed(x), dst.embed(x)]);
    expect(Array.from((await b.data()) as Float32Array)).toEqual(Array.from((await a.data()) as Float32Array));
    src.dispose();
    dst.dispose();
  });

  it('convertTorchFacenet reads facenet-pytorch InceptionResnetV1 names and the design document\'s renamed ones, dropping the classifier by default', async () => {
    const f = new FaceNet({ backbone: 'inception_resnetv1', embeddingSize: 8 });
    const engineShapes = new Map([...f.stateDict()].map(([k, t]) => [k, t.shape]));
    f.dispose();
    // Stand-ins with the PyTorch shapes (values are irrelevant here).
    const torchShape = (s: readonly number[]) => (s.length === 4 ? [s[3], s[2], s[0], s[1]] : s.length === 2 ? [s[1], s[0]] : [...s]);
    const fake = (shape: number[]): HostTensor => ({ dtype: 'f32', shape, data: new Float32Array(shape.reduce((a, d) => a * d, 1)) });
    const pytorch = new Map([...engineShapes].map(([k, s]) => [k, fake(torchShape(s))]));
    pytorch.set('logits.weight', fake([8631, 8]));
    pytorch.set('logits.bias', fake([8631]));
    const a = convertTorchFacenet(pytorch, 'inception_resnetv1');
    expect([...a.keys()].sort()).toEqual([...engineShapes.keys()].sort());
    for (const [k, s] of engineShapes) expect(a.get(k)!.shape).toEqual([...s]);
    expect(convertTorchFacenet(pytorch, 'inception_resnetv1', { keepClassifier: true }).get('logits.weight')!.shape).toEqual([8, 8631]);

    const bubbliiiing = new Map([...pytorch].map(([k, t]) => [k === 'last_linear.weight' ? 'Bottleneck.weight' : k.startsWith('logits.') ? k.replace('logits.', 'classifier.') : k.startsWith('last_bn.') ? k : `backbone.model.${k}`, t]));
    expect([...convertTorchFacenet(bubbliiiing, 'inception_resnetv1').keys()].sort()).toEqual([...engineShapes.keys()].sort());
  });

  it('weights-file metadata round-trips and names what is missing', () => {
    const info = { config: { backbone: 'mobilenet' as const, embeddingSize: 128, numClasses: 40 }, inputSize: 96, normalization: FACENET_INPUT, crop: 0.6 };
    expect(parseFacenetMetadata(facenetMetadata(info), 'f')).toEqual(info);
    expect(() => parseFacenetMetadata({ 'facenet.backbone': 'resnet' }, 'x.safetensors')).toThrow(/x\.safetensors: .*facenet\.backbone is "resnet".*no facenet\.embedding_size/);
  });
});

// ---- gradient check of the residual blocks -------------------------------------

/** Host copies of every parameter (for the CPU reference). */
async function hostParams(m: Module): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [k, t] of m.namedParameters()) out.set(k, (await t.data()) as Float32Array);
  return out;
}

/** Sets every batchnorm's gamma and beta to random values, so the check does not rest on gamma = 1, beta = 0. */
function randomiseBatchNorms(m: Module, seed: number): void {
  const r = rng(seed);
  for (const [k, t] of m.namedParameters()) {
    const host = (lo: number, hi: number): HostTensor => ({ dtype: 'f32', shape: [...t.shape], data: randomArray(t.size, r, lo, hi) });
    if (k.endsWith('bn.weight')) copyInto(t, host(0.5, 1.5));
    if (k.endsWith('bn.bias')) copyInto(t, host(-0.5, 0.5));
  }
}

type HostImage = { data: Float64Array | Float32Array; shape: number[] };

function basicConvRef(x: HostImage, p: Map<string, Float32Array>, prefix: string, conv: Conv2d, bn: BatchNorm): HostImage {
  const pair = (v: number | readonly [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);
  const y = conv2dRef(Float32Array.from(x.data), x.shape, p.get(`${prefix}conv.weight`)!, [...conv.weight.shape], null, { stride: pair(conv.stride), padding: pair(conv.padding), groups: 1 });
  const C = y.shape[3];
  const n = batchNormTraining(y.data, C, p.get(`${prefix}bn.weight`)!, p.get(`${prefix}bn.bias`)!, bn.opts.eps).y;
  return { data: n.map((v) => Math.max(v, 0)), shape: y.shape };
}

function concatRef(parts: HostImage[]): HostImage {
  const [n, h, w] = parts[0].shape;
  const C = parts.reduce((a, p) => a + p.shape[3], 0);
  const out = new Float64Array(n * h * w * C);
  for (let px = 0; px < n * h * w; px++) {
    let at = 0;
    for (const p of parts) {
      const c = p.shape[3];
      for (let j = 0; j < c; j++) out[px * C + at + j] = p.data[px * c + j];
      at += c;
    }
  }
  return { data: out, shape: [n, h, w, C] };
}

/** CPU forward of Block35 / Block17 / Block8 (training-mode batchnorm), read off the module's own structure. */
function residualBlockRef(block: Block35 | Block17 | Block8, p: Map<string, Float32Array>, x: Float32Array, shape: number[]): Float64Array {
  const img: HostImage = { data: x, shape };
  const branches = block.branches.map((b, i) => {
    if (b instanceof BasicConv2d) return basicConvRef(img, p, `branch${i}.`, b.conv, b.bn);
    let h = img;
    (b as Sequential<BasicConv2d>).items.forEach((c, j) => (h = basicConvRef(h, p, `branch${i}.${j}.`, c.conv, c.bn)));
    return h;
  });
  const cat = concatRef(branches);
  const mixed = conv2dRef(Float32Array.from(cat.data), cat.shape, p.get('conv2d.weight')!, [...block.conv2d.weight.shape], p.get('conv2d.bias')!, { stride: [1, 1], padding: [0, 0], groups: 1 });
  return mixed.data.map((v, i) => {
    const out = x[i] + block.residualScale * v;
    return block.withRelu ? Math.max(out, 0) : out;
  });
}

/**
 * The block's gradients with respect to its parameters, against central
 * differences: L = sum(block(x) * R); for sampled elements of each named
 * parameter, perturb it by +-eps in place and difference L. Returns the
 * worst error in units of the tolerance (2e-3 + 2e-2 |numeric|): < 1 passes.
 * eps is small because a weight moves a whole channel, whose batchnorm over
 * few rows then pushes some ReLU input across 0 for larger steps (at 1e-2 one
 * sampled element differed for that reason; at 1e-3 and 3e-4 it agreed).
 */
async function parameterGradError(block: Module & { forward(x: Tensor): Tensor }, x: Tensor, names: string[], seed: number, eps = 1e-3, samples = 6): Promise<number> {
  const r = rng(seed);
  const y0 = noGrad(() => block.forward(x));
  const R = Tensor.from(randomArray(y0.size, r), y0.shape);
  y0.dispose();
  const params = block.namedParameters();
  for (const t of params.values()) t.zeroGrad();
  tidy(() => block.forward(x).backward(R));
  const Rh = (await R.data()) as Float32Array;
  let worst = 0;
  for (const name of names) {
    const p = params.get(name)!;
    const base = (await p.data()) as Float32Array;
    const grad = (await p.grad!.data()) as Float32Array;
    for (let s = 0; s < samples; s++) {
      const k = Math.floor(r() * p.size);
      const loss = async (delta: number) => {
        const v = Float32Array.from(base);
        v[k] += delta;
        copyInto(p, { dtype: 'f32', shape: [...p.shape], data: v });
        const y = noGrad(() => block.forward(x));
        const d = (await y.data()) as Float32Array;
        y.dispose();
        let l = 0;
        for (let i = 0; i < d.length; i++) l += d[i] * Rh[i];
        return l;
      };
      const numeric = ((await loss(eps)) - (await loss(-eps))) / (2 * eps);
      copyInto(p, { dtype: 'f32', shape: [...p.shape], data: base });
      worst = Math.max(worst, Math.abs(grad[k] - numeric) / (2e-3 + 2e-2 * Math.abs(numeric)));
    }
  }
  for (const t of params.values()) t.zeroGrad();
  R.dispose();
  return worst;
}

describe('Inception-ResNet residual blocks: gradient check at small widths', () => {
  const blocks: [string, () => Block35 | Block17 | Block8, number[]][] = [
    ['Block35 (scale 0.17), 8 channels, branches of 4', () => new Block35(0.17, { channels: 8, branch: 4 }), [2, 5, 5, 8]],
    ['Block17 (scale 0.10), 8 channels, branches of 4, 1x7 / 7x1 convs', () => new Block17(0.1, { channels: 8, branch: 4 }), [2, 7, 7, 8]],
    ['Block8 (scale 1, no ReLU), 8 channels, branches of 4', () => new Block8(1, false, { channels: 8, branch: 4 }), [2, 4, 4, 8]],
  ];

  it.each(blocks)('%s: input gradient (runGradCase) and parameter gradients', async (label, make, shape) => {
    seedInit(21);
    const block = make();
    randomiseBatchNorms(block, 22);
    const p = await hostParams(block);
    const c: GradCase = {
      op: 'inception_resnet_block',
      case: label,
      inputs: [{ shape }],
      forward: (x) => block.forward(x),
      reference: (x) => residualBlockRef(block, p, x, shape),
      eps: 3e-3,
      samples: 32,
    };
    const r = await runGradCase(c);
    expect(r.message ?? '').toBe('');
    expect(r.passed).toBe(true);

    const x = random(shape, 23);
    const names = ['conv2d.weight', 'conv2d.bias', 'branch0.conv.weight', 'branch0.bn.weight', 'branch1.1.conv.weight', 'branch1.1.bn.bias'];
    expect(await parameterGradError(block, x, names, 24)).toBeLessThan(1);
    block.dispose();
  });
});
