// The benchmark cases: realistic shapes from MobileNetV1-FaceNet at 160x160
// and MTCNN, each with a CPU reference check.
import { Tensor, noGrad } from '../engine/tensor.js';
import { poolStats } from '../engine/runtime.js';
import { add } from '../engine/ops/elementwise.js';
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
  peerMs?: Record<string, number>;
}

export interface BenchSetup {
  run: () => void | Promise<void>;
  /** Max abs error of the output against the CPU reference. */
  check?: () => Promise<number>;
  inner?: number;
  poolPeakBytes?: () => number;
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
}

const rand = rng(1234);
const random = (shape: number[]) => {
  const data = randomArray(shape.reduce((a, d) => a * d, 1), rand);
  return { data, t: Tensor.from(data, shape) };
};

/** A case that runs one op on fixed inputs and checks its output against a reference. */
function opCase(name: string, bound: 'compute' | 'memory', shapes: number[][], op: (...xs: Tensor[]) => Tensor, reference: (...xs: Float32Array[]) => ArrayLike<number>, cost: { flops?: number; bytes?: number }): BenchCase {
  return {
    name,
    bound,
    ...cost,
    setup: () => {
      const inputs = shapes.map(random);
      const xs = inputs.map((i) => i.t);
      let out: Tensor | null = null;
      return {
        run: () => {
          out?.dispose();
          out = noGrad(() => op(...xs));
        },
        check: async () => maxAbsDiff((await out!.data()) as Float32Array, reference(...inputs.map((i) => i.data))),
        dispose: () => {
          out?.dispose();
          xs.forEach((x) => x.dispose());
        },
      };
    },
  };
}

export function benchCases(): BenchCase[] {
  const n = 8 * 56 * 56 * 128;
  return [
    opCase('add N8 56x56x128', 'memory', [[8, 56, 56, 128], [8, 56, 56, 128]], add, (a, b) => broadcastBinary(a, [n], b, [n], (x, y) => x + y).data, { bytes: 3 * n * 4 }),
    opCase('add bias N8 56x56x128 + [128]', 'memory', [[8, 56, 56, 128], [128]], add, (a, b) => broadcastBinary(a, [n / 128, 128], b, [128], (x, y) => x + y).data, { bytes: 2 * n * 4 }),
  ];
}

export { poolStats };
