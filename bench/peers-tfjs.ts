// The benchmark's peer: TF.js's WebGPU backend (@tensorflow/tfjs-backend-webgpu,
// a devDependency) running the same cases on the same inputs, on the very
// same GPUDevice as this engine (so the same Dawn adapter, limits and
// features). Loaded by `npm run bench -- --peers` only, with a dynamic
// import; nothing in the product imports TF.js.
//
// TF.js picks its adapter with navigator.gpu.requestAdapter() when its
// 'webgpu' backend is first used; its WebGPUBackend class also takes a device
// directly, which is what is done here: navigator.gpu is set to this engine's
// GPU object (the backend's constructor checks that it exists) and the backend
// is registered with the engine's device.
//
// Timing follows bench/harness.ts: median after warm-up, with TF.js's queued
// commands submitted (it batches dispatches into one encoder) and the queue
// drained before and after each sample.
import type { Runtime } from '../engine/runtime.js';
import { timeGpu } from './harness.js';
import { gpuWait } from '../engine/gpu-wait.js';
import type { PeerInput, PeerOp } from './cases.js';

type Tf = typeof import('@tensorflow/tfjs-core');
type TfTensor = import('@tensorflow/tfjs-core').Tensor;

export interface PeerResult {
  ms: number;
  /** Against the case's CPU reference; null when the case has none. */
  maxAbsErr: number | null;
}

export interface Peer {
  name: string;
  version: string;
  run(op: PeerOp, inputs: PeerInput[], opts: { compare?: (got: Float32Array) => number | Promise<number>; params?: Map<string, PeerInput>; timing: { samples: number; warmup: number } }): Promise<PeerResult>;
  dispose(): Promise<void>;
}

/** Internals of tfjs-backend-webgpu's WebGPUBackend used to flush its batched commands. */
interface WebGpuBackendInternals {
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

export async function createTfjsPeer(rt: Runtime): Promise<Peer> {
  const core = await import('@tensorflow/tfjs-core');
  const tf = ((core as unknown as { default?: Tf }).default ?? core) as Tf;
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: { gpu: rt.ctx.gpu }, configurable: true, writable: true });
  else if (!g.navigator.gpu) Object.defineProperty(g.navigator, 'gpu', { value: rt.ctx.gpu, configurable: true });
  const mod = await import('@tensorflow/tfjs-backend-webgpu');
  const { WebGPUBackend } = ((mod as unknown as { default?: typeof mod }).default ?? mod) as typeof mod;
  // Kernels are registered for the backend name 'webgpu': replace its factory (if navigator.gpu
  // was already there at import, TF.js registered one that would request its own device).
  const name = 'webgpu';
  if (tf.findBackendFactory(name)) tf.removeBackend(name);
  tf.registerBackend(name, () => new WebGPUBackend(rt.device, rt.ctx.info), 100);
  if (!(await tf.setBackend(name))) throw new Error('TF.js: could not start its WebGPU backend on this device');
  await tf.ready();
  const backend = tf.backend() as unknown as WebGpuBackendInternals;
  const sync = async () => {
    backend.endComputePassEncoder();
    if (backend.commandEncoder) backend.submitQueue();
    // Waits as the engine does (engine/gpu-wait.ts), so both sides get the same CPU.
    await gpuWait(() => rt.device.queue.onSubmittedWorkDone());
  };

  return {
    name: 'tfjs-webgpu',
    version: tf.version_core,
    async run(op, inputs, { compare, params, timing }) {
      const xs = inputs.map((i) => tf.tensor(i.data, i.shape, 'float32'));
      const build = peerBuilder(tf, op, xs, params);
      let out: TfTensor | null = null;
      try {
        const t = await timeGpu(
          () => {
            out?.dispose();
            out = tf.tidy(build);
          },
          { ...timing, sync },
        );
        const got = compare ? ((await out!.data()) as Float32Array) : null;
        return { ms: t.medianMs, maxAbsErr: compare && got ? await compare(got) : null };
      } finally {
        (out as TfTensor | null)?.dispose();
        xs.forEach((x) => x.dispose());
        build.dispose?.();
        await sync();
      }
    },
    async dispose() {
      await sync();
      tf.disposeVariables();
      tf.removeBackend(name);
    },
  };
}

type Builder = (() => TfTensor) & { dispose?: () => void };

/** The computation of a case in TF.js ops, on its inputs (layouts as in cases.ts). */
function peerBuilder(tf: Tf, op: PeerOp, xs: TfTensor[], params?: Map<string, PeerInput>): Builder {
  const [a, b, c, d, e] = xs;
  const pad4 = (p: number) => p as number; // TF.js takes a number for symmetric padding
  switch (op.kind) {
    case 'matmul':
      return () => tf.matMul(a as never, b as never);
    case 'linear':
      return () => tf.fused.matMul({ a: a as never, b: b as never, bias: c });
    case 'conv2d':
      return () => tf.fused.conv2d({ x: a as never, filter: b as never, strides: op.stride, pad: pad4(op.pad), bias: c, activation: op.activation === 'relu' ? 'relu' : 'linear' });
    case 'depthwise': {
      const [kh, kw, ch] = b.shape;
      const filter = tf.reshape(b, [kh, kw, ch, 1]);
      const f: Builder = () => tf.fused.depthwiseConv2d({ x: a as never, filter: filter as never, strides: op.stride, pad: pad4(op.pad), bias: c });
      f.dispose = () => filter.dispose();
      return f;
    }
    case 'maxpool':
      return () => tf.maxPool(a as never, op.kernel, op.stride, pad4(op.pad));
    case 'batchnorm-relu':
      // x, gamma, beta, mean, variance; TF.js has no fused batchnorm + ReLU.
      return () => tf.relu(tf.batchNorm(a, d, e, c, b, op.eps));
    case 'global-avgpool':
      return () => tf.mean(a, [1, 2]);
    case 'softmax':
      return () => tf.softmax(a);
    case 'l2-normalise':
      return () => tf.div(a, tf.sqrt(tf.maximum(tf.sum(tf.square(a), -1, true), 1e-24)));
    case 'add':
      return () => tf.add(a, b);
    case 'mobilenet-facenet':
      return mobilenetFacenet(tf, a, op.embedding, params);
  }
}

/**
 * MobileNetV1-FaceNet inference in TF.js ops, with the same shapes as
 * nets/facenet (stem 3x3 s2 3->32, 13 depthwise-separable blocks, global
 * average pool, 1024->embedding bottleneck, l2 normalisation) and the
 * batchnorms folded into the convs as an inference graph does: fused conv +
 * bias + ReLU6 per layer. With `params` (nets/facenet's state-dict names and
 * layouts) the weights are the engine's own, so the outputs can be compared;
 * without, random ones.
 */
function mobilenetFacenet(tf: Tf, x: TfTensor, embedding: number, params?: Map<string, PeerInput>): Builder {
  const blocks: [number, number, number][] = [
    [32, 64, 1], [64, 128, 2], [128, 128, 1], [128, 256, 2], [256, 256, 1],
    [256, 512, 2], [512, 512, 1], [512, 512, 1], [512, 512, 1], [512, 512, 1], [512, 512, 1],
    [512, 1024, 2], [1024, 1024, 1],
  ];
  let seed = 1;
  // A conv/linear weight whose last axis is the output channel, with the batchnorm after it folded in.
  const folded = (name: string, shape: number[], fanIn: number, bn: string, eps: number): [TfTensor, TfTensor] => {
    const cout = shape[shape.length - 1];
    if (!params) return [tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed++), tf.randomUniform([cout], -0.05, 0.05, 'float32', seed++)];
    const get = (k: string) => {
      const p = params.get(k);
      if (!p) throw new Error(`mobilenet-facenet peer: no parameter ${k}`);
      return p.data;
    };
    const w = Float32Array.from(get(name));
    if (w.length !== shape.reduce((a, d) => a * d, 1)) throw new Error(`mobilenet-facenet peer: ${name} has ${w.length} values, expected [${shape}]`);
    const [g, beta, mean, variance] = ['weight', 'bias', 'running_mean', 'running_var'].map((s) => get(`${bn}.${s}`));
    const b = new Float32Array(cout);
    for (let o = 0; o < cout; o++) {
      const scale = g[o] / Math.sqrt(variance[o] + eps);
      for (let i = o; i < w.length; i += cout) w[i] *= scale;
      b[o] = beta[o] - mean[o] * scale;
    }
    return [tf.tensor(w, shape), tf.tensor(b)];
  };
  const m = 'backbone.model';
  const [sw, sb] = folded(`${m}.stage1.0.0.weight`, [3, 3, 3, 32], 27, `${m}.stage1.0.1`, 1e-5);
  const stem = { w: sw, b: sb };
  const layers = blocks.map(([cin, cout, stride], i) => {
    const at = i < 5 ? `${m}.stage1.${i + 1}` : i < 11 ? `${m}.stage2.${i - 5}` : `${m}.stage3.${i - 11}`;
    const [dw3, dwb] = folded(`${at}.0.weight`, [3, 3, cin], 9, `${at}.1`, 1e-5); // depthwise [kh, kw, C]
    const dw = tf.reshape(dw3, [3, 3, cin, 1]);
    dw3.dispose();
    const [pw, pwb] = folded(`${at}.3.weight`, [1, 1, cin, cout], cin, `${at}.4`, 1e-5);
    return { stride, dw, dwb, pw, pwb };
  });
  const [hw, hb] = folded('Bottleneck.weight', [1024, embedding], 1024, 'last_bn', 1e-3);
  const head = { w: hw, b: hb };
  const all = [stem.w, stem.b, ...layers.flatMap((l) => [l.dw, l.dwb, l.pw, l.pwb]), head.w, head.b];
  const f: Builder = () => {
    let h = tf.fused.conv2d({ x: x as never, filter: stem.w as never, strides: 2, pad: 1, bias: stem.b, activation: 'relu6' }) as TfTensor;
    for (const l of layers) {
      h = tf.fused.depthwiseConv2d({ x: h as never, filter: l.dw as never, strides: l.stride, pad: 1, bias: l.dwb, activation: 'relu6' });
      h = tf.fused.conv2d({ x: h as never, filter: l.pw as never, strides: 1, pad: 0, bias: l.pwb, activation: 'relu6' });
    }
    const pooled = tf.mean(h, [1, 2]);
    const e = tf.fused.matMul({ a: pooled as never, b: head.w as never, bias: head.b });
    return tf.div(e, tf.sqrt(tf.maximum(tf.sum(tf.square(e), -1, true), 1e-24)));
  };
  f.dispose = () => all.forEach((t) => t.dispose());
  return f;
}
