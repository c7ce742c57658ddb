// Training losses: softmax cross-entropy, BCE on logits, masked MSE, the
// FaceNet triplet loss, and top-k mean for online hard-example mining.
//
// Every loss is built the same way: a kernel computes one term per sample (per
// element for BCE) together with that term's weight, and a reduction turns
// the terms into the result:
//   'none'  the weighted terms w_i * l_i (shape [N], or the logits' for BCE)
//   'sum'   sum_i w_i l_i, a scalar (shape [])
//   'mean'  sum_i w_i l_i / sum_i w_i, a scalar; 0 when every weight is 0
// Without weights w_i = 1 and 'mean' is the plain mean. With a 0/1 mask it is
// the mean over the included samples, which is what MTCNN needs (each task's
// loss counts only the samples labelled for that task). A term whose weight
// is 0 is exactly 0, whatever its inputs hold (NaN targets included).
//
// Weights, labels, masks and BCE targets are constants: no gradient flows to them.
import { Tensor, record, shapeStr, type Shape } from '../tensor.js';
import { kernel, dispatch, grid1d } from '../kernel.js';
import { mul, scale } from './elementwise.js';
import { fill } from './fill.js';
import { dispatchRows, rowWorkgroupSize } from './softmax.js';

export type Reduction = 'mean' | 'sum' | 'none';

const sameShape = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => d === b[i]);

function checkReduction(op: string, reduction: string): void {
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new Error(`${op}: reduction must be 'mean', 'sum' or 'none', got '${reduction}'`);
  }
}

function checkF32(op: string, what: string, t: Tensor): void {
  if (t.dtype !== 'f32') throw new Error(`${op}: ${what} ${shapeStr(t.shape)} must be f32, got ${t.dtype}`);
}

/** Reduces weighted terms as `reduction` says ('none' hands them back); the weights stay with the caller. */
function reduceTerms(terms: Tensor, termWeight: Tensor, reduction: Reduction): { loss: Tensor; gradScale: Tensor | null } {
  if (reduction === 'none') return { loss: terms, gradScale: null };
  const loss = Tensor.empty([]);
  const gradScale = Tensor.empty([]);
  dispatch(
    kernel('loss_reduce.wgsl', 'main', { WG: rowWorkgroupSize() }),
    { terms, weights: termWeight, loss, grad_scale: gradScale, n: terms.size, mean: reduction === 'mean' ? 1 : 0 },
    1,
  );
  terms.dispose();
  return { loss, gradScale };
}

/**
 * Calls `fn` with the gradient of each term, which the backward kernels read
 * as g[i * g_stride]: the seed itself for 'none', else the scalar seed times
 * the reduction's factor (1, or 1 / sum of weights) for every term.
 */
function withTermGrad<T>(g: Tensor, gradScale: Tensor | null, fn: (termGrad: { g: Tensor; g_stride: number }) => T): T {
  if (!gradScale) return fn({ g, g_stride: 1 });
  const scaled = mul(g, gradScale);
  try {
    return fn({ g: scaled, g_stride: 0 });
  } finally {
    scaled.dispose();
  }
}

/** Tensors saved for the backward live as long as the graph; with no graph they go now. */
function releaseUnlessRecorded(out: Tensor, saved: (Tensor | null)[]): Tensor {
  if (!out.node) for (const t of saved) t?.dispose();
  return out;
}

// ---- cross-entropy -----------------------------------------------------------

export interface CrossEntropyOptions {
  reduction?: Reduction;
  /** A label value whose rows are skipped (weight 0), as PyTorch's ignore_index. */
  ignoreIndex?: number;
  /** Per-sample weights [N], e.g. a 0/1 mask; 'mean' divides by their sum over the rows with usable labels. */
  weight?: Tensor;
}

/**
 * Softmax cross-entropy of logits [N, C] against labels [N] (i32):
 * l_i = logsumexp(x_i) - x_i[label_i], finite for any finite logits.
 * Labels outside [0, C) are skipped like `ignoreIndex` (weight 0): they cannot
 * be checked on the host without a readback. MTCNN's part (-1) and landmark
 * (-2) labels therefore drop out of the classification loss by themselves.
 * Gradient: w_i (softmax(x_i) - onehot(label_i)) times the term's gradient.
 */
export function crossEntropy(logits: Tensor, labels: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  const reduction = opts.reduction ?? 'mean';
  checkReduction(op, reduction);
  if (logits.rank !== 2) throw new Error(`${op}: logits must be [N, C], got ${shapeStr(logits.shape)}`);
  checkF32(op, 'logits', logits);
  const [n, c] = logits.shape;
  if (c === 0) throw new Error(`${op}: logits ${shapeStr(logits.shape)} have no classes`);
  if (labels.dtype !== 'i32') throw new Error(`${op}: labels ${shapeStr(labels.shape)} must be i32, got ${labels.dtype}`);
  if (!sameShape(labels.shape, [n])) throw new Error(`${op}: labels ${shapeStr(labels.shape)} do not match logits ${shapeStr(logits.shape)} (expected [${n}])`);
  if (opts.weight) {
    checkF32(op, 'weight', opts.weight);
    if (!sameShape(opts.weight.shape, [n])) throw new Error(`${op}: weight ${shapeStr(opts.weight.shape)} does not match logits ${shapeStr(logits.shape)} (expected [${n}])`);
  }
  // -1 is out of range already, so without ignoreIndex nothing more is skipped.
  const ignoreIndex = opts.ignoreIndex ?? -1;
  if (!Number.isInteger(ignoreIndex)) throw new Error(`${op}: ignoreIndex must be an integer, got ${ignoreIndex}`);

  // Without weights every row weighs 1: one shared value, read at stride 0.
  const weight = opts.weight ?? fill([1], 1);
  const terms = Tensor.empty([n]);
  const termWeight = Tensor.empty([n]);
  const lse = Tensor.empty([n]);
  dispatchRows('loss_cross_entropy.wgsl', 'forward', n, c, {
    logits, labels, weight, terms, term_weight: termWeight, row_lse: lse,
    weight_stride: opts.weight ? 1 : 0, ignore_index: ignoreIndex,
  });
  if (!opts.weight) weight.dispose();
  const { loss, gradScale } = reduceTerms(terms, termWeight, reduction);
  const out = record(loss, 'cross_entropy', [logits], (g) => withTermGrad(g, gradScale, (tg) => {
    const dx = Tensor.empty(logits.shape);
    dispatch(
      kernel('loss_cross_entropy.wgsl', 'backward'),
      { logits, labels, saved_weight: termWeight, saved_lse: lse, dx, n: logits.size, len: c, ...tg },
      grid1d(logits.size, 256),
    );
    return [dx];
  }));
  // The backward reads each row's effective weight (0 for skipped labels) from termWeight.
  return releaseUnlessRecorded(out, [termWeight, lse, gradScale]);
}

// ---- binary cross-entropy ------------------------------------------------------

export interface BceOptions {
  reduction?: Reduction;
  /**
   * Weights of the logits' shape, or [N] (one per sample, for logits [N, ...]).
   * Unlike PyTorch's `weight`, 'mean' divides by the sum of the weights, not by
   * the element count (the same when every weight is 1).
   */
  weight?: Tensor;
}

/**
 * Binary cross-entropy of logits against targets in [0, 1] (same shape),
 * computed as max(x, 0) - x t + log(1 + exp(-|x|)) so that no logit overflows.
 * 'none' returns the logits' shape. Gradient: w (sigmoid(x) - t).
 */
export function bceWithLogits(logits: Tensor, targets: Tensor, opts: BceOptions = {}): Tensor {
  const op = 'bceWithLogits';
  const reduction = opts.reduction ?? 'mean';
  checkReduction(op, reduction);
  checkF32(op, 'logits', logits);
  checkF32(op, 'targets', targets);
  if (!sameShape(logits.shape, targets.shape)) throw new Error(`${op}: targets ${shapeStr(targets.shape)} do not match logits ${shapeStr(logits.shape)}`);
  const count = logits.size;
  // Element i reads weight[i / weightDiv].
  let weightDiv = Math.max(count, 1);
  if (opts.weight) {
    const w = opts.weight;
    checkF32(op, 'weight', w);
    if (sameShape(w.shape, logits.shape)) weightDiv = 1;
    else if (logits.rank >= 1 && sameShape(w.shape, [logits.shape[0]]) && logits.shape[0] > 0) weightDiv = count / logits.shape[0];
    else throw new Error(`${op}: weight ${shapeStr(w.shape)} fits neither logits ${shapeStr(logits.shape)} nor [${logits.shape[0] ?? ''}]`);
  }
  const weight = opts.weight ?? fill([1], 1);
  const terms = Tensor.empty(logits.shape);
  const termWeight = Tensor.empty(logits.shape);
  if (count > 0) {
    dispatch(kernel('loss_bce.wgsl', 'forward'), { logits, targets, weight, terms, term_weight: termWeight, n: count, weight_div: weightDiv }, grid1d(count, 256));
  }
  const { loss, gradScale } = reduceTerms(terms, termWeight, reduction);
  termWeight.dispose();
  const out = record(loss, 'bce_with_logits', [logits], (g) => withTermGrad(g, gradScale, (tg) => {
    const dx = Tensor.empty(logits.shape);
    if (count > 0) {
      dispatch(kernel('loss_bce.wgsl', 'backward'), { logits, targets, weight, dx, n: count, weight_div: weightDiv, ...tg }, grid1d(count, 256));
    }
    return [dx];
  }));
  return releaseUnlessRecorded(out, [opts.weight ? null : weight, gradScale]);
}

// ---- masked MSE ----------------------------------------------------------------

/**
 * Mean squared error of pred and target [N, D] over the samples whose mask
 * [N] is non-zero (MTCNN's box and landmark regression: only the samples that
 * carry those annotations count). The per-sample term is m_i * mean_j (p_ij -
 * t_ij)^2, so 'mean' is the mean over the D elements of every included sample,
 * i.e. sum of included squared errors / (D * sum of mask). Masked-out samples
 * contribute exactly 0 and get zero gradient; an all-zero mask gives loss 0
 * and zero gradients. Mask values act as weights (0/1 in practice).
 */
export function maskedMse(pred: Tensor, target: Tensor, mask: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  const op = 'maskedMse';
  const reduction = opts.reduction ?? 'mean';
  checkReduction(op, reduction);
  if (pred.rank !== 2) throw new Error(`${op}: pred must be [N, D], got ${shapeStr(pred.shape)}`);
  checkF32(op, 'pred', pred);
  checkF32(op, 'target', target);
  checkF32(op, 'mask', mask);
  if (!sameShape(pred.shape, target.shape)) throw new Error(`${op}: target ${shapeStr(target.shape)} does not match pred ${shapeStr(pred.shape)}`);
  const [n, d] = pred.shape;
  if (!sameShape(mask.shape, [n])) throw new Error(`${op}: mask ${shapeStr(mask.shape)} does not match pred ${shapeStr(pred.shape)} (expected [${n}])`);
  if (d === 0) throw new Error(`${op}: pred ${shapeStr(pred.shape)} has no values per sample`);

  const terms = Tensor.empty([n]);
  const termWeight = Tensor.empty([n]);
  if (n > 0) dispatch(kernel('loss_mse.wgsl', 'forward'), { pred, targets: target, mask, terms, term_weight: termWeight, rows: n, len: d }, grid1d(n, 64));
  const { loss, gradScale } = reduceTerms(terms, termWeight, reduction);
  termWeight.dispose();
  const out = record(loss, 'masked_mse', [pred, target], (g) => withTermGrad(g, gradScale, (tg) => {
    const dpred = Tensor.empty(pred.shape);
    if (n > 0) dispatch(kernel('loss_mse.wgsl', 'backward'), { pred, targets: target, mask, dpred, n: pred.size, len: d, ...tg }, grid1d(pred.size, 256));
    return [dpred, target.requiresGrad ? scale(dpred, -1) : null];
  }));
  return releaseUnlessRecorded(out, [gradScale]);
}

// ---- triplet loss ----------------------------------------------------------------

export interface TripletOptions {
  /** Default 0.2, FaceNet's value for L2-normalised embeddings and squared distances. */
  margin?: number;
  /** Average only over the triplets with a positive hinge (d_n - d_p < margin); 0 if there are none. */
  hardOnly?: boolean;
  /** Squared Euclidean distances (FaceNet, default) or plain ones. */
  squared?: boolean;
  reduction?: Reduction;
}

/**
 * FaceNet's triplet loss on embeddings [N, D]: per triplet
 * max(0, d(a, p) - d(a, n) + margin), with d = ||.||^2 when `squared` (the
 * paper's form) or ||.|| otherwise. `hardOnly` changes only 'mean': it divides
 * by the number of triplets with a positive hinge instead of N (the others
 * contribute 0 either way). With plain distances, a distance of 0 gets
 * gradient 0 rather than 0/0.
 */
export function tripletLoss(anchor: Tensor, positive: Tensor, negative: Tensor, opts: TripletOptions = {}): Tensor {
  const op = 'tripletLoss';
  const { margin = 0.2, hardOnly = false, squared = true, reduction = 'mean' } = opts;
  checkReduction(op, reduction);
  if (anchor.rank !== 2) throw new Error(`${op}: anchor must be [N, D], got ${shapeStr(anchor.shape)}`);
  for (const [what, t] of [['anchor', anchor], ['positive', positive], ['negative', negative]] as const) checkF32(op, what, t);
  if (!sameShape(positive.shape, anchor.shape) || !sameShape(negative.shape, anchor.shape)) {
    throw new Error(`${op}: anchor ${shapeStr(anchor.shape)}, positive ${shapeStr(positive.shape)} and negative ${shapeStr(negative.shape)} must have one shape`);
  }
  if (!Number.isFinite(margin)) throw new Error(`${op}: margin must be finite, got ${margin}`);
  const [n, d] = anchor.shape;

  const terms = Tensor.empty([n]);
  const termWeight = Tensor.empty([n]);
  const distances = Tensor.empty([n, 2]);
  const sq = squared ? 1 : 0;
  if (n > 0) {
    dispatch(
      kernel('loss_triplet.wgsl', 'forward'),
      { anchor, positive, negative, terms, term_weight: termWeight, distances, rows: n, len: d, margin, squared: sq, hard_only: hardOnly ? 1 : 0 },
      grid1d(n, 64),
    );
  }
  const { loss, gradScale } = reduceTerms(terms, termWeight, reduction);
  termWeight.dispose();
  const out = record(loss, 'triplet_loss', [anchor, positive, negative], (g) => withTermGrad(g, gradScale, (tg) => {
    const grads = [Tensor.empty(anchor.shape), Tensor.empty(anchor.shape), Tensor.empty(anchor.shape)];
    if (anchor.size > 0) {
      dispatch(
        kernel('loss_triplet.wgsl', 'backward'),
        {
          anchor, positive, negative, saved_distances: distances,
          d_anchor: grads[0], d_positive: grads[1], d_negative: grads[2],
          n: anchor.size, len: d, margin, squared: sq, ...tg,
        },
        grid1d(anchor.size, 256),
      );
    }
    // One kernel writes all three; autograd drops the ones no input wants.
    return grads;
  }));
  return releaseUnlessRecorded(out, [distances, gradScale]);
}

// ---- online hard-example mining ------------------------------------------------

/**
 * Mean of the hardest (largest) `fraction` of per-sample losses [N], e.g.
 * `topKMean(crossEntropy(logits, labels, { reduction: 'none', weight: m }), 0.7, m)`
 * for MTCNN's online hard-example mining. Only samples whose `mask` [N] is
 * non-zero compete; k = round(fraction * count), at least 1, and the loss is 0
 * when no sample is included. Selected samples get gradient 1/k, the rest 0;
 * values tied at the cut-off share the remaining places equally.
 */
export function topKMean(values: Tensor, fraction: number, mask?: Tensor): Tensor {
  const op = 'topKMean';
  if (values.rank !== 1) throw new Error(`${op}: values must be [N], got ${shapeStr(values.shape)}`);
  checkF32(op, 'values', values);
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`${op}: fraction must be in (0, 1], got ${fraction}`);
  if (mask) {
    checkF32(op, 'mask', mask);
    if (!sameShape(mask.shape, values.shape)) throw new Error(`${op}: mask ${shapeStr(mask.shape)} does not match values ${shapeStr(values.shape)}`);
  }
  const n = values.size;
  const maskOrAll = mask ?? fill([1], 1);
  const maskStride = mask ? 1 : 0;
  const loss = Tensor.empty([]);
  const selection = Tensor.empty([4], 'u32');
  dispatch(
    kernel('loss_topk.wgsl', 'forward', { WG: rowWorkgroupSize() }),
    { values, mask: maskOrAll, loss, selection, n, fraction, mask_stride: maskStride },
    1,
  );
  const out = record(loss, 'top_k_mean', [values], (g) => {
    const dx = Tensor.empty(values.shape);
    if (n > 0) {
      dispatch(kernel('loss_topk.wgsl', 'backward'), { values, mask: maskOrAll, saved_selection: selection, g, dx, n, mask_stride: maskStride }, grid1d(n, 256));
    }
    return [dx];
  });
  return releaseUnlessRecorded(out, [selection, mask ? null : maskOrAll]);
}
