// The benchmark cases: realistic shapes from MobileNetV1-FaceNet at 160x160
// and MTCNN, each with a CPU reference check.
import type { KernelTime } from '../engine/profiler.js';
import { Tensor, noGrad, tidy } from '../engine/tensor.js';
import { poolStats, sync } from '../engine/runtime.js';
import { GpuGallery, type Nearest } from '../engine/ops/topk.js';
import { add } from '../engine/ops/elementwise.js';
import { conv2d, depthwiseConv2d } from '../engine/ops/conv.js';
import { matmul, linear } from '../engine/ops/matmul.js';
import { maxPool2d, globalAvgPool } from '../engine/ops/pool.js';
import { batchNorm } from '../engine/ops/batchnorm.js';
import { softmax } from '../engine/ops/softmax.js';
import { l2Normalize } from '../engine/ops/normalize.js';
import { crossEntropy } from '../engine/ops/losses.js';
import { resizeArea } from '../engine/ops/image.js';
import { Adam } from '../engine/optim.js';
import { FaceNet } from '../nets/facenet/index.js';
import { loadMtcnnDetector } from '../tools/models.js';
import { readImage } from '../tools/image.js';
import { conv2dRef, depthwiseConv2dRef } from '../test/reference/conv.js';
import { matmulRef, linearRef } from '../test/reference/matmul.js';
import { maxPool2dRef, globalAvgPoolRef } from '../test/reference/pool_shape.js';
import { batchNormEval } from '../test/reference/norm_act.js';
import { softmaxRef, l2NormalizeRef } from '../test/reference/losses.js';
import { resizeAreaRef } from '../test/reference/image_boxes.js';
import { randomArray, rng } from '../test/gradcheck/harness.js';
import { broadcastBinary } from '../test/reference/elementwise.js';
import { maxAbsDiff } from './harness.js';

export interface BenchResult {
  name: string;
  ms: number;
  gflops: number | null;
  gbps: number | null;
  peakFraction: number | null;
  maxAbsErr: number | null;
  poolPeakBytes: number | null;
  stages?: Record<string, number>;
  /** Median ms of the same case in a peer framework (`--peers`), by peer name. */
  peerMs?: Record<string, number>;
  /** The peer's max abs error against the same CPU reference, by peer name. */
  peerMaxAbsErr?: Record<string, number | null>;
  /** Gallery searches: gallery rows scanned per second. */
  entriesPerSec?: number;
  imagesPerSec?: number;
  /** Live pool bytes before and after repeated runs (no-growth check). */
  growth?: { runs: number; liveBytesBefore: number; liveBytesAfter: number };
  /** GPU time per kernel of one run (`--profile`), largest first. */
  profile?: KernelTime[];
}

/**
 * What a case computes, in framework-neutral terms, so that a peer framework
 * (bench/peers-tfjs.ts) can run the same computation on the same inputs.
 * Layouts as in this engine: NHWC, conv weights [kh, kw, Cin, Cout],
 * depthwise [kh, kw, C], linear [in, out].
 */
export type PeerOp =
  | { kind: 'matmul' }
  | { kind: 'linear' }
  | { kind: 'conv2d'; stride: number; pad: number; activation: 'none' | 'relu' }
  | { kind: 'depthwise'; stride: number; pad: number }
  | { kind: 'maxpool'; kernel: number; stride: number; pad: number }
  | { kind: 'batchnorm-relu'; eps: number }
  | { kind: 'global-avgpool' }
  | { kind: 'softmax' }
  | { kind: 'l2-normalise' }
  | { kind: 'add' }
  /** MobileNetV1-FaceNet inference (batchnorm folded into the convs), input [batch, size, size, 3]. */
  | { kind: 'mobilenet-facenet'; embedding: number };

export interface PeerInput {
  data: Float32Array;
  shape: number[];
}

export interface BenchSetup {
  run: () => void | Promise<void>;
  /** Max abs error of the output against the CPU reference. */
  check?: () => Promise<number>;
  inner?: number;
  poolPeakBytes?: () => number;
  /** Median ms per stage, for cases that report a breakdown. */
  stages?: () => Record<string, number>;
  /** The inputs, for a peer framework to run the same case on (see BenchCase.peer). */
  peerInputs?: PeerInput[];
  /**
   * Max abs error of an output (from anywhere) against this case's CPU
   * reference; for whole nets, which have none, against this engine's output.
   */
  compare?: (got: Float32Array) => number | Promise<number>;
  /** Named parameters (PyTorch state-dict names) for a peer to build the same net with the same weights. */
  peerParams?: () => Promise<Map<string, PeerInput>>;
  /** Repeats the case and reports live pool bytes before and after (no-growth check). */
  growth?: () => Promise<{ runs: number; liveBytesBefore: number; liveBytesAfter: number }>;
  dispose: () => void;
}

export interface BenchCase {
  name: string;
  /** Which peak the case is measured against. */
  bound: 'compute' | 'memory';
  flops?: number;
  /** Bytes that must move (reads + writes) at a minimum. */
  bytes?: number;
  setup: () => BenchSetup | Promise<BenchSetup>;
  /** Set when a peer framework can run the same computation. */
  peer?: PeerOp;
  /** Rows searched per run (gallery cases): reported as entries/s. */
  entries?: number;
  /** Images per run (net cases): reported as images/s. */
  images?: number;
}

const rand = rng(1234);
const random = (shape: number[]) => {
  const data = randomArray(shape.reduce((a, d) => a * d, 1), rand);
  return { data, t: Tensor.from(data, shape) };
};

/** A case that runs one op on fixed inputs and checks its output against a reference. */
function opCase(name: string, bound: 'compute' | 'memory', shapes: number[][], op: (...xs: Tensor[]) => Tensor, reference: (...xs: Float32Array[]) => ArrayLike<number>, cost: { flops?: number; bytes?: number }, peer?: PeerOp): BenchCase {
  return {
    name,
    bound,
    ...cost,
    ...(peer ? { peer } : {}),
    setup: () => {
      const inputs = shapes.map(random);
      const xs = inputs.map((i) => i.t);
      let out: Tensor | null = null;
      let ref: ArrayLike<number> | null = null;
      const compare = (got: Float32Array) => maxAbsDiff(got, (ref ??= reference(...inputs.map((i) => i.data))));
      return {
        run: () => {
          out?.dispose();
          out = tidy(() => noGrad(() => op(...xs)));
        },
        check: async () => compare((await out!.data()) as Float32Array),
        compare,
        peerInputs: inputs.map((i, k) => ({ data: i.data, shape: shapes[k] })),
        dispose: () => {
          out?.dispose();
          xs.forEach((x) => x.dispose());
        },
      };
    },
  };
}

const rows = (shape: number[]) => shape.slice(0, -1).reduce((a, d) => a * d, 1);

/** Checks only image 0 of a batch: the CPU reference of a whole N8 conv would take seconds per case. */
function firstImage(data: Float32Array, shape: number[]): { data: Float32Array; shape: number[] } {
  const per = shape.slice(1).reduce((a, d) => a * d, 1);
  return { data: data.subarray(0, per), shape: [1, ...shape.slice(1)] };
}

function convCase(name: string, x: number[], w: number[], stride: number, pad: number, opts: { depthwise?: boolean; fused?: boolean } = {}): BenchCase {
  const [n, h, wd, cin] = x;
  const [kh, kw] = w;
  const cout = opts.depthwise ? cin : w[3];
  const ho = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const wo = Math.floor((wd + 2 * pad - kw) / stride) + 1;
  const macs = n * ho * wo * cout * kh * kw * (opts.depthwise ? 1 : cin);
  const outBytes = n * ho * wo * cout * 4;
  const inBytes = x.reduce((a, d) => a * d, 1) * 4;
  const activation = opts.fused ? 'relu' : 'none';
  return {
    name,
    bound: opts.depthwise ? 'memory' : 'compute',
    ...(opts.depthwise ? { bytes: inBytes + outBytes } : { flops: 2 * macs }),
    peer: opts.depthwise ? { kind: 'depthwise', stride, pad } : { kind: 'conv2d', stride, pad, activation },
    setup: () => {
      const xi = random(x);
      const wi = random(w);
      const bi = random([cout]);
      let out: Tensor | null = null;
      const p = { stride: [stride, stride] as [number, number], padding: [pad, pad] as [number, number], groups: 1 };
      let ref: ArrayLike<number> | null = null;
      const reference = () => {
        const x0 = firstImage(xi.data, x);
        return opts.depthwise ? depthwiseConv2dRef(x0.data, x0.shape, wi.data, w, bi.data, p).data : conv2dRef(x0.data, x0.shape, wi.data, w, bi.data, { ...p, activation }).data;
      };
      const compare = (got: Float32Array) => {
        ref ??= reference();
        return maxAbsDiff(got.subarray(0, ref.length), ref);
      };
      return {
        run: () => {
          out?.dispose();
          out = tidy(() => noGrad(() => (opts.depthwise ? depthwiseConv2d(xi.t, wi.t, bi.t, p) : conv2d(xi.t, wi.t, bi.t, { ...p, activation }))));
        },
        check: async () => compare((await out!.data()) as Float32Array),
        compare,
        peerInputs: [{ data: xi.data, shape: x }, { data: wi.data, shape: w }, { data: bi.data, shape: [cout] }],
        dispose: () => [out, xi.t, wi.t, bi.t].forEach((t) => t?.dispose()),
      };
    },
  };
}

/** Whole-net timing; correctness of nets is covered by the test suite against PyTorch. */
function netCase(name: string, make: () => Promise<BenchSetup>): BenchCase {
  return { name, bound: 'compute', setup: make };
}

export function benchCases(opts: { quick?: boolean } = {}): BenchCase[] {
  const n = 8 * 56 * 56 * 128;
  const bnShape = [8, 56, 56, 128];
  return [
    opCase('matmul 1024x1024x1024', 'compute', [[1024, 1024], [1024, 1024]], (a, b) => matmul(a, b), (a, b) => matmulRef(a, [1024, 1024], b, [1024, 1024]).data, { flops: 2 * 1024 ** 3 }, { kind: 'matmul' }),
    opCase('linear b8 1024->128 (FaceNet head)', 'compute', [[8, 1024], [1024, 128], [128]], (x, w, b) => linear(x, w, b), (x, w, b) => linearRef(x, [8, 1024], w, [1024, 128], b), { flops: 2 * 8 * 1024 * 128 }, { kind: 'linear' }),
    convCase('conv2d 3x3 N8 56x56 64->128', [8, 56, 56, 64], [3, 3, 64, 128], 1, 1),
    convCase('conv2d 1x1 N8 56x56 128->128', [8, 56, 56, 128], [1, 1, 128, 128], 1, 0),
    convCase('conv2d 3x3 s2 N8 160x160 3->32 +relu (MobileNet stem)', [8, 160, 160, 3], [3, 3, 3, 32], 2, 1, { fused: true }),
    convCase('pnet conv1 N1 480x640 3->10', [1, 480, 640, 3], [3, 3, 3, 10], 1, 0),
    convCase('depthwise 3x3 N8 56x56x128', [8, 56, 56, 128], [3, 3, 128], 1, 1, { depthwise: true }),
    opCase('maxpool 3x3 s2 N8 112x112x64', 'memory', [[8, 112, 112, 64]], (x) => maxPool2d(x, { kernel: 3, stride: 2, padding: 1 }), (x) => maxPool2dRef(x, [8, 112, 112, 64], { kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: false }).data, { bytes: (8 * 112 * 112 * 64 + 8 * 56 * 56 * 64) * 4 }, { kind: 'maxpool', kernel: 3, stride: 2, pad: 1 }),
    {
      name: 'batchnorm+relu N8 56x56x128',
      bound: 'memory',
      bytes: 2 * n * 4,
      peer: { kind: 'batchnorm-relu', eps: 1e-5 },
      setup: () => {
        const x = random(bnShape);
        const gamma = random([128]), beta = random([128]), mean = random([128]);
        const varData = randomArray(128, rand, 0.5, 2);
        const variance = Tensor.from(varData);
        let out: Tensor | null = null;
        let ref: number[] | null = null;
        const compare = (got: Float32Array) => maxAbsDiff(got, (ref ??= Array.from(batchNormEval(x.data, 128, gamma.data, beta.data, mean.data, varData, 1e-5), (v) => Math.max(0, v))));
        return {
          run: () => {
            out?.dispose();
            out = tidy(() => noGrad(() => batchNorm(x.t, gamma.t, beta.t, mean.t, variance, { training: false, activation: 'relu', eps: 1e-5 })));
          },
          check: async () => compare((await out!.data()) as Float32Array),
          compare,
          peerInputs: [{ data: x.data, shape: bnShape }, { data: gamma.data, shape: [128] }, { data: beta.data, shape: [128] }, { data: mean.data, shape: [128] }, { data: varData, shape: [128] }],
          dispose: () => [out, x.t, gamma.t, beta.t, mean.t, variance].forEach((t) => t?.dispose()),
        };
      },
    },
    opCase('global avgpool N8 5x5x1024', 'memory', [[8, 5, 5, 1024]], (x) => globalAvgPool(x), (x) => globalAvgPoolRef(x, [8, 5, 5, 1024]).data, { bytes: 8 * 26 * 1024 * 4 }, { kind: 'global-avgpool' }),
    opCase('softmax 256x1312 (LFW classifier)', 'memory', [[256, 1312]], (x) => softmax(x), (x) => softmaxRef(x, [256, 1312]), { bytes: 2 * 256 * 1312 * 4 }, { kind: 'softmax' }),
    opCase('l2-normalise 256x128', 'memory', [[256, 128]], (x) => l2Normalize(x), (x) => l2NormalizeRef(x, [256, 128]), { bytes: 2 * 256 * 128 * 4 }, { kind: 'l2-normalise' }),
    opCase('add N8 56x56x128', 'memory', [bnShape, bnShape], add, (a, b) => broadcastBinary(a, [n], b, [n], (x, y) => x + y).data, { bytes: 3 * n * 4 }, { kind: 'add' }),
    opCase('add bias N8 56x56x128 + [128]', 'memory', [bnShape, [128]], add, (a, b) => broadcastBinary(a, [rows(bnShape), 128], b, [128], (x, y) => x + y).data, { bytes: 2 * n * 4 }, { kind: 'add' }),
    opCase('resize area 630x1200x3 -> 190x361 (pyramid level)', 'memory', [[1, 630, 1200, 3]], (x) => resizeArea(x, [190, 361]), (x) => resizeAreaRef(x, [1, 630, 1200, 3], 190, 361), { bytes: (630 * 1200 + 190 * 361) * 3 * 4 }),
    withPeer({ kind: 'mobilenet-facenet', embedding: 128 }, facenetForwardCase(8)),
    facenetForwardCase(1),
    facenetTrainStepCase(8),
    facenetTrainStepCase(32),
    ...[['multiface', '../examples/multiface.jpg'], ...['angelina_jolie', 'kate_siegel', 'paul_rudd', 'shea_whigham'].map((n) => [n, `../test/data/portraits/${n}.jpg`])].map(([label, file]) =>
      netCase(`mtcnn detect ${label}`, async () => {
        const detector = await loadMtcnnDetector();
        const img = await readImage(new URL(file, import.meta.url).pathname);
        const stages: Record<string, number[]> = {};
        return {
          run: async () => {
            await detector.detect(img);
            for (const [k, v] of Object.entries(detector.lastTimings!)) (stages[k] ??= []).push(v);
          },
          stages: () => Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, [...v].sort((a, b) => a - b)[v.length >> 1]])),
          poolPeakBytes: () => poolStats().peakBytes,
          // Memory: live pool bytes must not grow over repeated detections of the same photo.
          ...(label === 'multiface'
            ? {
                growth: async () => {
                  const runs = opts.quick ? 10 : 100;
                  await sync();
                  const before = poolStats().liveBytes;
                  for (let i = 0; i < runs; i++) await detector.detect(img);
                  await sync();
                  return { runs, liveBytesBefore: before, liveBytesAfter: poolStats().liveBytes };
                },
              }
            : {}),
          dispose: () => undefined,
        };
      }),
    ),
    ...[1_000, 100_000, 1_000_000].map((rows) => galleryCase(rows, 16, 128, 5)),
  ];
}

/** Multiply-adds x 2 of MobileNetV1-FaceNet inference (convs and the bottleneck; the elementwise rest is noise). */
function mobilenetFacenetFlops(n: number, size: number, embedding: number): number {
  let side = Math.ceil(size / 2);
  let macs = side * side * 32 * 27;
  for (const [cin, cout, stride] of [[32, 64, 1], [64, 128, 2], [128, 128, 1], [128, 256, 2], [256, 256, 1], [256, 512, 2], [512, 512, 1], [512, 512, 1], [512, 512, 1], [512, 512, 1], [512, 512, 1], [512, 1024, 2], [1024, 1024, 1]]) {
    side = Math.ceil(side / stride);
    macs += side * side * cin * (9 + cout);
  }
  return 2 * n * (macs + 1024 * embedding);
}

function withPeer(peer: PeerOp, c: BenchCase): BenchCase {
  return { ...c, peer };
}

/** Unit rows [n, d] of a seeded normal-ish distribution (synthetic face embeddings). */
function unitRows(n: number, d: number, seed: number): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      const v = r() + r() + r() - 1.5; // roughly normal: directions spread over the sphere
      x[i * d + j] = v;
      s += v * v;
    }
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < d; j++) x[i * d + j] *= inv;
  }
  return x;
}

/**
 * `identify gallery N`: the identify tool's GPU search (engine/ops/topk.ts
 * GpuGallery: S = Q G^T, then a per-row top-k, in chunks under the storage
 * binding limit, merged on the host) of `m` query faces against `rows`
 * synthetic unit embeddings. The gallery is uploaded once (as identify does);
 * a sample is one search including its readback. Checked against a CPU
 * brute-force nearest-k.
 */
function galleryCase(rows: number, m: number, d: number, k: number): BenchCase {
  const label = rows >= 1e6 ? `${rows / 1e6}M` : `${rows / 1e3}k`;
  return {
    name: `identify gallery ${label}`,
    bound: 'memory',
    // At a minimum the gallery is read once per search.
    bytes: rows * d * 4,
    flops: 2 * m * rows * d,
    entries: rows,
    setup: () => {
      const gallery = unitRows(rows, d, 7 + rows);
      const queries = unitRows(m, d, 3);
      const gpu = new GpuGallery(gallery, d);
      let last: Nearest | null = null;
      return {
        run: async () => {
          last = await gpu.search(queries, k);
        },
        check: async () => {
          // CPU brute force: distances of the k nearest; and the same rows found (up to ties).
          let err = 0;
          for (let q = 0; q < m; q++) {
            const best: { s: number; i: number }[] = [];
            for (let i = 0; i < rows; i++) {
              let s = 0;
              for (let j = 0; j < d; j++) s += queries[q * d + j] * gallery[i * d + j];
              if (best.length < k || s > best[best.length - 1].s) {
                best.push({ s, i });
                best.sort((a, b) => b.s - a.s || a.i - b.i);
                if (best.length > k) best.pop();
              }
            }
            for (let r = 0; r < k; r++) {
              const want = Math.sqrt(Math.max(0, 2 - 2 * best[r].s));
              err = Math.max(err, Math.abs(last!.distances[q * k + r] - want));
              if (last!.indices[q * k + r] !== best[r].i && Math.abs(last!.distances[q * k + r] - want) > 1e-4) err = Infinity;
            }
          }
          return err;
        },
        poolPeakBytes: () => poolStats().peakBytes,
        dispose: () => gpu.dispose(),
      };
    },
  };
}

/** MobileNetV1-FaceNet at 160x160, eval mode, random weights: the embedding of a batch. */
function facenetForwardCase(batch: number): BenchCase {
  return {
    ...netCase(`facenet-mobilenet fwd b${batch}`, async () => {
      const net = new FaceNet({ backbone: 'mobilenet' }).eval();
      const x = random([batch, 160, 160, 3]);
      let out: Tensor | null = null;
      return {
        run: () => {
          out?.dispose();
          out = tidy(() => noGrad(() => net.embed(x.t)));
        },
        poolPeakBytes: () => poolStats().peakBytes,
        peerInputs: [{ data: x.data, shape: [batch, 160, 160, 3] }],
        peerParams: async () => {
          const out = new Map<string, PeerInput>();
          for (const [k, t] of [...net.namedParameters(), ...net.namedBuffers()]) out.set(k, { data: (await t.data()) as Float32Array, shape: [...t.shape] });
          return out;
        },
        compare: async (got) => maxAbsDiff(got, (await out!.data()) as Float32Array),
        dispose: () => {
          [out, x.t].forEach((t) => t?.dispose());
          net.dispose();
        },
      };
    }),
    flops: mobilenetFacenetFlops(batch, 160, 128),
    images: batch,
  };
}

/** One training step (forward, cross-entropy backward, Adam) of MobileNetV1-FaceNet at 160x160. */
function facenetTrainStepCase(batch: number): BenchCase {
  return {
    ...netCase(`facenet-mobilenet train-step b${batch}`, async () => {
      const net = new FaceNet({ backbone: 'mobilenet', numClasses: 100 });
      const opt = new Adam(net.namedParameters(), { lr: 1e-4 });
      const x = random([batch, 160, 160, 3]);
      const labels = Tensor.from(Array.from({ length: batch }, (_, i) => i % 100), [batch], 'i32');
      return {
        run: () =>
          tidy(() => {
            const out = net.forward(x.t, { dropoutSeed: 1 });
            crossEntropy(out.logits!, labels).backward();
            opt.step();
            opt.zeroGrad();
          }),
        poolPeakBytes: () => poolStats().peakBytes,
        dispose: () => {
          x.t.dispose();
          labels.dispose();
          opt.dispose();
          net.dispose();
        },
      };
    }),
    images: batch,
  };
}
