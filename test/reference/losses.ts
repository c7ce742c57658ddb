// CPU references for softmax, L2 normalisation and the losses (tests and
// benchmarks only). Plain loops in float64; the semantics they spell out are
// the ones the GPU ops document.

export type Reduction = 'mean' | 'sum' | 'none';

/** Visits each row of `shape` along `axis` as the flat indices of its elements. */
function forEachRow(shape: number[], axis: number, fn: (idx: number[]) => void): void {
  const a = axis < 0 ? axis + shape.length : axis;
  const outer = shape.slice(0, a).reduce((p, d) => p * d, 1);
  const inner = shape.slice(a + 1).reduce((p, d) => p * d, 1);
  const len = shape[a];
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      fn(Array.from({ length: len }, (_, k) => (o * len + k) * inner + i));
    }
  }
}

export function softmaxRef(x: ArrayLike<number>, shape: number[], axis = -1, log = false): Float64Array {
  const y = new Float64Array(x.length);
  forEachRow(shape, axis, (idx) => {
    const m = Math.max(...idx.map((i) => x[i]));
    const s = idx.reduce((acc, i) => acc + Math.exp(x[i] - m), 0);
    for (const i of idx) y[i] = log ? x[i] - m - Math.log(s) : Math.exp(x[i] - m) / s;
  });
  return y;
}

export function l2NormalizeRef(x: ArrayLike<number>, shape: number[], axis = -1, eps = 1e-10): Float64Array {
  const y = new Float64Array(x.length);
  forEachRow(shape, axis, (idx) => {
    const n = Math.sqrt(idx.reduce((acc, i) => acc + x[i] * x[i], 0));
    for (const i of idx) y[i] = x[i] / Math.max(n, eps);
  });
  return y;
}

/** none: w_i l_i; sum: sum of w_i l_i; mean: sum(w_i l_i) / sum(w_i), 0 when no weight. */
export function reduceRef(losses: number[], weights: number[], reduction: Reduction): number[] {
  const terms = losses.map((l, i) => (weights[i] === 0 ? 0 : weights[i] * l));
  if (reduction === 'none') return terms;
  const total = terms.reduce((a, v) => a + v, 0);
  if (reduction === 'sum') return [total];
  const w = weights.reduce((a, v) => a + v, 0);
  return [w > 0 ? total / w : 0];
}

export interface CrossEntropyRefOptions {
  reduction?: Reduction;
  ignoreIndex?: number;
  weight?: ArrayLike<number>;
}

/** Softmax cross-entropy of logits [N, C]; labels outside [0, C) or equal to ignoreIndex weigh 0. */
export function crossEntropyRef(logits: ArrayLike<number>, labels: ArrayLike<number>, n: number, c: number, opts: CrossEntropyRefOptions = {}): number[] {
  const losses: number[] = [];
  const weights: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = labels[i];
    const valid = label >= 0 && label < c && label !== opts.ignoreIndex;
    const row = Array.from({ length: c }, (_, j) => logits[i * c + j]);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    losses.push(valid ? lse - row[label] : 0);
    weights.push(valid ? (opts.weight ? opts.weight[i] : 1) : 0);
  }
  return reduceRef(losses, weights, opts.reduction ?? 'mean');
}

/** Elementwise BCE on logits; `weight` has the logits' size, or one value per leading-axis row. */
export function bceWithLogitsRef(x: ArrayLike<number>, t: ArrayLike<number>, opts: { reduction?: Reduction; weight?: ArrayLike<number> } = {}): number[] {
  const perWeight = opts.weight ? x.length / opts.weight.length : 1;
  const losses = Array.from({ length: x.length }, (_, i) => Math.max(x[i], 0) - x[i] * t[i] + Math.log1p(Math.exp(-Math.abs(x[i]))));
  const weights = Array.from({ length: x.length }, (_, i) => (opts.weight ? opts.weight[Math.floor(i / perWeight)] : 1));
  return reduceRef(losses, weights, opts.reduction ?? 'mean');
}

/** Per sample: mean over D of (pred - target)^2, weighted by mask (masked-out rows give exactly 0). */
export function maskedMseRef(pred: ArrayLike<number>, target: ArrayLike<number>, mask: ArrayLike<number>, n: number, d: number, reduction: Reduction = 'mean'): number[] {
  const losses: number[] = [];
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += (pred[i * d + j] - target[i * d + j]) ** 2;
    losses.push(mask[i] === 0 ? 0 : s / d);
  }
  return reduceRef(losses, Array.from(mask), reduction);
}

export interface TripletRefOptions {
  margin?: number;
  hardOnly?: boolean;
  squared?: boolean;
  reduction?: Reduction;
}

/** Hinge max(0, d(a,p) - d(a,n) + margin) per triplet; hardOnly averages over the triplets with a positive hinge. */
export function tripletRef(a: ArrayLike<number>, p: ArrayLike<number>, ng: ArrayLike<number>, n: number, d: number, opts: TripletRefOptions = {}): number[] {
  const margin = opts.margin ?? 0.2;
  const squared = opts.squared ?? true;
  const losses: number[] = [];
  const weights: number[] = [];
  for (let i = 0; i < n; i++) {
    let sp = 0, sn = 0;
    for (let j = 0; j < d; j++) {
      sp += (a[i * d + j] - p[i * d + j]) ** 2;
      sn += (a[i * d + j] - ng[i * d + j]) ** 2;
    }
    const h = (squared ? sp : Math.sqrt(sp)) - (squared ? sn : Math.sqrt(sn)) + margin;
    losses.push(Math.max(h, 0));
    weights.push(opts.hardOnly ? (h > 0 ? 1 : 0) : 1);
  }
  return reduceRef(losses, weights, opts.reduction ?? 'mean');
}

/** Mean of the k largest values among those with a non-zero mask, k = round(fraction * count) clamped to [1, count]; 0 when none. */
export function topKMeanRef(values: ArrayLike<number>, fraction: number, mask?: ArrayLike<number>): number {
  const picked = Array.from(values).filter((_, i) => !mask || mask[i] !== 0);
  if (picked.length === 0) return 0;
  const k = topKCount(fraction, picked.length);
  picked.sort((x, y) => y - x);
  return picked.slice(0, k).reduce((a, v) => a + v, 0) / k;
}

/** k exactly as the kernel computes it, in float32. */
export function topKCount(fraction: number, count: number): number {
  const f = Math.fround;
  return Math.min(count, Math.max(1, Math.floor(f(f(f(fraction) * count) + 0.5))));
}
