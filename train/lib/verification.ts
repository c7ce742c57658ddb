// Face verification metrics with the LFW protocol (as in FaceNet and
// facenet-pytorch / davidsandberg's facenet `evaluate`): for each fold, the
// distance threshold that maximises accuracy on the other folds is applied
// to the fold; the result is the mean and standard deviation over folds.
// A pair is predicted "same" when its distance is below the threshold.

export interface VerificationOptions {
  /** Candidate accuracy thresholds; default 0, 0.01, ..., 3.99 (the reference grid, for Euclidean distances of unit vectors). */
  thresholds?: readonly number[];
  /** Target false-accept rate of the validation rate; default 1e-3. */
  farTarget?: number;
  /** Candidate thresholds for VAL@FAR; default 0, 0.001, ..., 3.999. */
  valThresholds?: readonly number[];
}

export interface RocCurve {
  /** Increasing false-positive rates, from (0, 0) to (1, 1). */
  fpr: number[];
  tpr: number[];
  /** Area under the curve (trapezoids). */
  auc: number;
}

export interface VerificationResult {
  pairs: number;
  folds: number;
  /** Mean over folds of the test-fold accuracy at the threshold chosen on the other folds. */
  accuracy: number;
  /** Population standard deviation over folds (numpy's np.std). */
  std: number;
  foldAccuracies: number[];
  /** Mean of the per-fold thresholds. */
  threshold: number;
  foldThresholds: number[];
  /** Validation rate (true-accept rate) at the threshold giving FAR = farTarget on the other folds: mean and std over folds. */
  valRate: number;
  valStd: number;
  /** The false-accept rate actually reached on the test folds (mean). */
  far: number;
  farTarget: number;
  /** ROC over all pairs. */
  roc: RocCurve;
}

const grid = (step: number, end: number) => Array.from({ length: Math.round(end / step) }, (_, i) => Number((i * step).toFixed(6)));

function counts(threshold: number, dist: ArrayLike<number>, same: ArrayLike<boolean>, idx: readonly number[]) {
  let tp = 0, fp = 0, tn = 0, fn = 0;
  for (const i of idx) {
    const predicted = dist[i] < threshold;
    if (predicted && same[i]) tp++;
    else if (predicted) fp++;
    else if (same[i]) fn++;
    else tn++;
  }
  return { tp, fp, tn, fn };
}

function accuracyAt(threshold: number, dist: ArrayLike<number>, same: ArrayLike<boolean>, idx: readonly number[]): number {
  const c = counts(threshold, dist, same, idx);
  return (c.tp + c.tn) / idx.length;
}

/** [VAL, FAR] at a threshold: true-accept rate over same pairs, false-accept rate over different pairs. */
function valFar(threshold: number, dist: ArrayLike<number>, same: ArrayLike<boolean>, idx: readonly number[]): [number, number] {
  const c = counts(threshold, dist, same, idx);
  const nSame = c.tp + c.fn;
  const nDiff = c.fp + c.tn;
  if (nSame === 0) return [0, 0];
  return [c.tp / nSame, c.fp / Math.max(nDiff, 1)];
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: readonly number[]) => {
  const m = mean(xs);
  return Math.sqrt(mean(xs.map((x) => (x - m) ** 2)));
};

/**
 * Splits pair indices into k folds, each with its share of the same and of
 * the different pairs: both classes are cut into k contiguous runs (in
 * order) and fold f takes run f of each. Needs at least k pairs of each class.
 */
export function stratifiedFolds(same: ArrayLike<boolean>, k: number): number[][] {
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < same.length; i++) (same[i] ? pos : neg).push(i);
  if (!Number.isInteger(k) || k < 2) throw new Error(`stratifiedFolds: k must be an integer >= 2, got ${k}`);
  if (pos.length < k || neg.length < k) throw new Error(`stratifiedFolds: ${pos.length} same and ${neg.length} different pairs cannot fill ${k} folds (need >= ${k} of each)`);
  // sklearn's KFold sizes: the first n % k runs get one extra.
  const runs = (xs: number[]) => {
    const out: number[][] = [];
    let at = 0;
    for (let f = 0; f < k; f++) {
      const len = Math.floor(xs.length / k) + (f < xs.length % k ? 1 : 0);
      out.push(xs.slice(at, at + len));
      at += len;
    }
    return out;
  };
  const p = runs(pos);
  const n = runs(neg);
  return p.map((run, f) => [...run, ...n[f]].sort((a, b) => a - b));
}

/** ROC over all pairs, thresholds at every distinct distance. */
export function rocCurve(dist: ArrayLike<number>, same: ArrayLike<boolean>): RocCurve {
  const order = Array.from({ length: dist.length }, (_, i) => i).sort((a, b) => dist[a] - dist[b]);
  let nSame = 0;
  for (let i = 0; i < same.length; i++) if (same[i]) nSame++;
  const nDiff = dist.length - nSame;
  const fpr = [0];
  const tpr = [0];
  let tp = 0, fp = 0;
  for (let k = 0; k < order.length; k++) {
    if (same[order[k]]) tp++;
    else fp++;
    // One point per distinct distance: pairs at equal distance are accepted together.
    if (k + 1 < order.length && dist[order[k + 1]] === dist[order[k]]) continue;
    fpr.push(nDiff ? fp / nDiff : 0);
    tpr.push(nSame ? tp / nSame : 0);
  }
  let auc = 0;
  for (let i = 1; i < fpr.length; i++) auc += ((fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1])) / 2;
  return { fpr, tpr, auc };
}

/**
 * Threshold at which the false-accept rate on `idx` reaches `target`: linear
 * interpolation of FAR between the two neighbouring candidates (as the
 * reference's interp1d does); 0 when no candidate reaches the target.
 */
function thresholdForFar(target: number, candidates: readonly number[], dist: ArrayLike<number>, same: ArrayLike<boolean>, idx: readonly number[]): number {
  let prevT = 0;
  let prevFar = -1;
  for (const t of candidates) {
    const [, far] = valFar(t, dist, same, idx);
    if (far > target) {
      if (prevFar < 0) return t;
      return far === prevFar ? prevT : prevT + ((target - prevFar) / (far - prevFar)) * (t - prevT);
    }
    prevT = t;
    prevFar = far;
  }
  return prevFar >= target ? prevT : 0;
}

/** The full evaluation of distances (one per pair) with their labels over the given folds (arrays of pair indices). */
export function evaluateVerification(dist: ArrayLike<number>, same: ArrayLike<boolean>, folds: readonly (readonly number[])[], opts: VerificationOptions = {}): VerificationResult {
  if (dist.length !== same.length) throw new Error(`evaluateVerification: ${dist.length} distances for ${same.length} labels`);
  if (folds.length < 2) throw new Error(`evaluateVerification: needs at least 2 folds, got ${folds.length}`);
  for (let i = 0; i < dist.length; i++) if (Number.isNaN(dist[i])) throw new Error(`evaluateVerification: distance ${i} is NaN`);
  const thresholds = opts.thresholds ?? grid(0.01, 4);
  const valThresholds = opts.valThresholds ?? grid(0.001, 4);
  const farTarget = opts.farTarget ?? 1e-3;
  const all = folds.flat();
  const foldAccuracies: number[] = [];
  const foldThresholds: number[] = [];
  const vals: number[] = [];
  const fars: number[] = [];
  for (const test of folds) {
    const inTest = new Set(test);
    const train = all.filter((i) => !inTest.has(i));
    // The first threshold with the best training accuracy (numpy's argmax).
    let best = thresholds[0];
    let bestAcc = -1;
    for (const t of thresholds) {
      const acc = accuracyAt(t, dist, same, train);
      if (acc > bestAcc) {
        bestAcc = acc;
        best = t;
      }
    }
    foldThresholds.push(best);
    foldAccuracies.push(accuracyAt(best, dist, same, test));
    const [val, far] = valFar(thresholdForFar(farTarget, valThresholds, dist, same, train), dist, same, test);
    vals.push(val);
    fars.push(far);
  }
  return {
    pairs: all.length,
    folds: folds.length,
    accuracy: mean(foldAccuracies),
    std: std(foldAccuracies),
    foldAccuracies,
    threshold: mean(foldThresholds),
    foldThresholds,
    valRate: mean(vals),
    valStd: std(vals),
    far: mean(fars),
    farTarget,
    roc: rocCurve(dist, same),
  };
}

/** Euclidean distances between rows a[i] and b[i] of two [n, d] row-major embedding arrays. */
export function pairDistances(a: ArrayLike<number>, b: ArrayLike<number>, d: number): Float64Array {
  const n = a.length / d;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += (a[i * d + j] - b[i * d + j]) ** 2;
    out[i] = Math.sqrt(s);
  }
  return out;
}
