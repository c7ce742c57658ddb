// CPU references for batch normalisation, activations and dropout (tests and
// benchmarks only). Channels are the last axis; float64 inside.

export interface BatchNormReference {
  y: Float64Array;
  mean: Float64Array;
  /** Biased (divides by rows): what training normalises with. */
  variance: Float64Array;
  /** Unbiased (divides by rows - 1): what the running average takes in. */
  unbiasedVariance: Float64Array;
}

/** Training-mode batch normalisation of x viewed as [rows, C]. */
export function batchNormTraining(x: ArrayLike<number>, C: number, gamma: ArrayLike<number>, beta: ArrayLike<number>, eps = 1e-5): BatchNormReference {
  const rows = x.length / C;
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  for (let i = 0; i < x.length; i++) mean[i % C] += x[i] / rows;
  for (let i = 0; i < x.length; i++) variance[i % C] += (x[i] - mean[i % C]) ** 2;
  const unbiasedVariance = variance.map((v) => v / (rows - 1));
  for (let c = 0; c < C; c++) variance[c] /= rows;
  return { y: affine(x, C, gamma, beta, mean, variance, eps), mean, variance, unbiasedVariance };
}

/**
 * Gradients of training-mode batch normalisation (x as [rows, C], output
 * gradient g): dx = gamma / std * (g - mean(g) - xhat * mean(g * xhat)),
 * dgamma = sum(g * xhat), dbeta = sum(g), per channel.
 */
export function batchNormTrainingBackward(
  x: ArrayLike<number>, g: ArrayLike<number>, C: number, gamma: ArrayLike<number>, eps = 1e-5,
): { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array } {
  const rows = x.length / C;
  const { mean, variance } = batchNormTraining(x, C, gamma, new Float64Array(C), eps);
  const invstd = variance.map((v) => 1 / Math.sqrt(v + eps));
  const xhat = Float64Array.from(x, (v, i) => (v - mean[i % C]) * invstd[i % C]);
  const dgamma = new Float64Array(C);
  const dbeta = new Float64Array(C);
  for (let i = 0; i < x.length; i++) {
    dgamma[i % C] += g[i] * xhat[i];
    dbeta[i % C] += g[i];
  }
  const dx = Float64Array.from(x, (_, i) => {
    const c = i % C;
    return gamma[c] * invstd[c] * (g[i] - dbeta[c] / rows - (xhat[i] * dgamma[c]) / rows);
  });
  return { dx, dgamma, dbeta };
}

/** Evaluation-mode batch normalisation with given running statistics. */
export function batchNormEval(
  x: ArrayLike<number>, C: number, gamma: ArrayLike<number>, beta: ArrayLike<number>,
  runningMean: ArrayLike<number>, runningVar: ArrayLike<number>, eps = 1e-5,
): Float64Array {
  return affine(x, C, gamma, beta, runningMean, runningVar, eps);
}

function affine(
  x: ArrayLike<number>, C: number, gamma: ArrayLike<number>, beta: ArrayLike<number>,
  mean: ArrayLike<number>, variance: ArrayLike<number>, eps: number,
): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    y[i] = ((x[i] - mean[c]) / Math.sqrt(variance[c] + eps)) * gamma[c] + beta[c];
  }
  return y;
}

/** running = (1 - momentum) * running + momentum * batch, elementwise. */
export function runningUpdate(running: ArrayLike<number>, batch: ArrayLike<number>, momentum: number): Float64Array {
  return Float64Array.from(running, (r, c) => (1 - momentum) * r + momentum * batch[c]);
}

export const relu = (x: ArrayLike<number>): Float64Array => Float64Array.from(x, (v) => Math.max(v, 0));

export const relu6 = (x: ArrayLike<number>): Float64Array => Float64Array.from(x, (v) => Math.min(Math.max(v, 0), 6));

/** alpha has one value per channel (last axis) or a single value. */
export function prelu(x: ArrayLike<number>, alpha: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v, i) => (v > 0 ? v : alpha[i % alpha.length] * v));
}

// ---- dropout ---------------------------------------------------------------------

/** Chris Wellons' lowbias32 integer hash; the WGSL in shaders/dropout_body.wgsl must match it bit for bit. */
export function lowbias32(v: number): number {
  let x = v >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

/** Whether element `index` survives dropout with probability p under `seed`. */
export function dropoutKeeps(index: number, seed: number, p: number): boolean {
  const h = lowbias32((lowbias32((index ^ lowbias32(seed)) >>> 0) + seed) >>> 0);
  return h >>> 8 >= Math.round(p * 2 ** 24);
}

export function dropout(x: ArrayLike<number>, p: number, seed: number): Float64Array {
  const scale = p < 1 ? 1 / (1 - p) : 0;
  return Float64Array.from(x, (v, i) => (dropoutKeeps(i, seed, p) ? v * scale : 0));
}
