// Gradient checking: analytic gradients from the GPU against central finite
// differences of the same GPU op, and the forward output against the CPU
// reference. One `GradCase` per op configuration; files in ./cases export them.
//
// The scalar being differentiated is L = sum(y * R) for a fixed random R, so
// every output element contributes. The finite differences perturb one input
// element at a time (all elements of small inputs, a random sample of larger
// ones); all perturbed forwards are recorded first and read back together, and
// (y+ - y-) . R is accumulated in float64 on the CPU to keep rounding out of it.
import { Tensor, noGrad, type DType } from '../../engine/tensor.js';

export interface InputSpec {
  shape: number[];
  /** Whether to check the gradient of this input (default true for f32 inputs). */
  grad?: boolean;
  /** Fixed values (e.g. labels, masks, or values kept away from kinks). */
  data?: ArrayLike<number>;
  dtype?: DType;
  /** Range of uniform random values; default [-1, 1]. */
  range?: [number, number];
}

export interface GradCase {
  /** Op name as listed in the gradcheck report: 'conv2d', 'relu', ... */
  op: string;
  /** What this case covers: shape, stride, padding, ... */
  case: string;
  inputs: InputSpec[];
  /** The op under test; may close over non-tensor arguments. */
  forward: (...xs: Tensor[]) => Tensor;
  /** CPU reference of the forward, on the same inputs (plain TS loops, float64 inside is fine). */
  reference: (...xs: Float32Array[]) => ArrayLike<number>;
  /** Finite-difference step; default 1e-2 (errors scale with eps^2 for smooth ops). */
  eps?: number;
  /** |analytic - numeric| <= atol + rtol * |numeric| per element. Defaults 2e-3 and 2e-2. */
  atol?: number;
  rtol?: number;
  /** Forward tolerance against the reference (abs); default 1e-4 * (1 + |ref|). */
  forwardTol?: number;
  /** How many elements per input to perturb at most; default 48. */
  samples?: number;
  /** A training-mode op that must be deterministic between calls (e.g. dropout with a fixed seed) sets nothing here; ops with state must be pure for gradcheck. */
}

export interface GradResult {
  op: string;
  case: string;
  maxAbsErr: number;
  maxRelErr: number;
  forwardMaxErr: number;
  passed: boolean;
  message?: string;
}

/** Small deterministic PRNG (mulberry32) so failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomArray(n: number, rand: () => number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rand();
  return a;
}

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export async function runGradCase(c: GradCase): Promise<GradResult> {
  const rand = rng(hashString(c.op + '/' + c.case));
  const hostInputs = c.inputs.map((spec) => {
    const n = spec.shape.reduce((a, d) => a * d, 1);
    if (spec.data) {
      if (spec.data.length !== n) throw new Error(`${c.op}/${c.case}: data of length ${spec.data.length} for shape [${spec.shape}]`);
      return Float32Array.from(spec.data);
    }
    return randomArray(n, rand, spec.range?.[0] ?? -1, spec.range?.[1] ?? 1);
  });
  const wantsGrad = c.inputs.map((s) => (s.grad ?? (s.dtype ?? 'f32') === 'f32'));
  const eps = c.eps ?? 1e-2;
  const atol = c.atol ?? 2e-3;
  const rtol = c.rtol ?? 2e-2;

  {
    const made: Tensor[] = [];
    const upload = (data: Float32Array, i: number) => {
      const t = Tensor.from(data, c.inputs[i].shape, c.inputs[i].dtype ?? 'f32');
      made.push(t);
      return t;
    };
    try {
      // Forward with the graph, then backward with seed R.
      const xs = hostInputs.map((d, i) => upload(d, i));
      xs.forEach((x, i) => wantsGrad[i] && x.requireGrad());
      const y = c.forward(...xs);
      made.push(y);
      const yHost = (await y.data()) as Float32Array;
      const ref = c.reference(...hostInputs);
      let forwardMaxErr = 0;
      let forwardBad = false;
      if (ref.length !== yHost.length) throw new Error(`reference gives ${ref.length} values, op gives ${yHost.length}`);
      for (let i = 0; i < ref.length; i++) {
        const e = Math.abs(yHost[i] - ref[i]);
        if (!(e <= forwardMaxErr)) forwardMaxErr = Number.isNaN(e) ? Infinity : e;
        const tol = c.forwardTol ?? 1e-4 * (1 + Math.abs(ref[i]));
        if (!(e <= tol)) forwardBad = true;
      }

      const R = randomArray(y.size, rand);
      const seed = Tensor.from(R, y.shape);
      made.push(seed);
      y.backward(seed);
      const analytic: (Float32Array | null)[] = [];
      for (let i = 0; i < xs.length; i++) {
        if (!wantsGrad[i]) { analytic.push(null); continue; }
        if (!xs[i].grad) throw new Error(`input ${i} got no gradient`);
        analytic.push((await xs[i].grad!.data()) as Float32Array);
      }

      // Finite differences, all recorded before any readback.
      let maxAbsErr = 0;
      let maxRelErr = 0;
      let gradBad = false;
      for (let i = 0; i < xs.length; i++) {
        if (!wantsGrad[i]) continue;
        const n = hostInputs[i].length;
        const budget = c.samples ?? 48;
        const picks = n <= budget ? [...Array(n).keys()] : [...new Set(Array.from({ length: budget }, () => Math.floor(rand() * n)))];
        const outs = noGrad(() => picks.map((p) => [+1, -1].map((sgn) => {
          const pert = hostInputs.map((d, j) => {
            if (j !== i) return xs[j];
            const copy = Float32Array.from(d);
            copy[p] += sgn * eps;
            return upload(copy, j);
          });
          const out = c.forward(...pert);
          made.push(out);
          return out;
        })));
        const values = await Promise.all(outs.flat().map((t) => t.data() as Promise<Float32Array>));
        picks.forEach((p, k) => {
          const yp = values[2 * k], ym = values[2 * k + 1];
          let dot = 0;
          for (let j = 0; j < R.length; j++) dot += (yp[j] - ym[j]) * R[j];
          const numeric = dot / (2 * eps);
          const a = analytic[i]![p];
          const abs = Math.abs(a - numeric);
          // Relative to the larger of |numeric| and atol, so near-zero gradients don't blow it up.
          const rel = abs / Math.max(Math.abs(numeric), atol);
          if (!(abs <= maxAbsErr)) maxAbsErr = Number.isNaN(abs) ? Infinity : abs;
          if (!(rel <= maxRelErr)) maxRelErr = Number.isNaN(rel) ? Infinity : rel;
          if (!(abs <= atol + rtol * Math.abs(numeric))) gradBad = true;
        });
      }
      const passed = !forwardBad && !gradBad;
      return {
        op: c.op,
        case: c.case,
        maxAbsErr,
        maxRelErr,
        forwardMaxErr,
        passed,
        ...(passed ? {} : { message: forwardBad ? 'forward differs from the CPU reference' : 'gradient differs from finite differences' }),
      };
    } catch (e) {
      return { op: c.op, case: c.case, maxAbsErr: NaN, maxRelErr: NaN, forwardMaxErr: NaN, passed: false, message: (e as Error).message };
    } finally {
      for (const t of made) {
        t.grad?.dispose();
        t.dispose();
      }
    }
  }
}
