// Batch normalisation over the channels (last) axis, so one op serves
// batchnorm2d on NHWC images [N, H, W, C] and batchnorm1d on [N, C]. PyTorch's
// semantics: training normalises with the batch's biased variance and moves the
// running averages towards the batch statistics with the unbiased variance,
// running = (1 - momentum) * running + momentum * batch; evaluation uses the
// running averages. Kernels: shaders/batchnorm_body.wgsl.
import { Tensor, record, shapeStr } from '../tensor.js';
import { kernel, dispatch, grid1d } from '../kernel.js';
import { runtime } from '../runtime.js';
import { columnSum, rowChunks } from './elementwise.js';

export type FusedActivation = 'none' | 'relu' | 'relu6';

export interface BatchNormOptions {
  /** Batch statistics (and running-average updates) when true, running statistics when false. */
  training: boolean;
  /** Weight of the batch statistics in the running-average update; default 0.1. */
  momentum?: number;
  /** Added to the variance before the square root; default 1e-5. */
  eps?: number;
  /**
   * Activation applied in the same pass, saving a read and a write of the
   * whole tensor; in training its gradient mask is applied inside the
   * batchnorm's backward kernels too (no separate activation passes).
   */
  activation?: FusedActivation;
}

const ACTIVATION_CODE: Record<FusedActivation, number> = { none: 0, relu: 1, relu6: 2 };
// Workgroup sizes of the kernels, as declared in batchnorm_body.wgsl.
const WG_REDUCE = 64;
const WG_ELEMENTWISE = 256;
// Elements per thread of the elementwise kernels (they walk one channel group each).
const ITEMS = 8;

/** Threads of the channel-walking kernels: at least one per channel group. */
const walkGrid = (L: ChannelLayout) => grid1d(Math.max(L.groups, Math.ceil(L.elems / ITEMS)), WG_ELEMENTWISE);
// Parts merged per thread in each level of the statistics' merge tree.
const MERGE_FAN_IN = 32;

/** x viewed as [rows, C]; the kernels take four channels per thread when C allows. */
interface ChannelLayout {
  rows: number;
  channels: number;
  /** Elems per row: C or C / 4. */
  groups: number;
  /** x.size in Elems. */
  elems: number;
  file: string;
}

function layoutOf(x: Tensor): ChannelLayout {
  const channels = x.shape[x.rank - 1];
  const lanes = channels % 4 === 0 ? 4 : 1;
  return {
    rows: x.size / channels,
    channels,
    groups: channels / lanes,
    elems: x.size / lanes,
    file: lanes === 4 ? 'batchnorm_vec4.wgsl' : 'batchnorm_f32.wgsl',
  };
}

function checkArguments(x: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor, opts: BatchNormOptions): void {
  const { training, momentum = 0.1, eps = 1e-5, activation = 'none' } = opts;
  if (x.rank < 2) throw new Error(`batchNorm: x ${shapeStr(x.shape)} needs at least 2 axes (rows and channels)`);
  const C = x.shape[x.rank - 1];
  const perChannel = { gamma, beta, runningMean, runningVar };
  for (const [name, t] of Object.entries(perChannel)) {
    if (t.rank !== 1 || t.shape[0] !== C) {
      throw new Error(`batchNorm: ${name} ${shapeStr(t.shape)} does not match the ${C} channels of x ${shapeStr(x.shape)}; expected [${C}]`);
    }
  }
  for (const [name, t] of Object.entries({ x, ...perChannel })) {
    if (t.dtype !== 'f32') throw new Error(`batchNorm: ${name} must be f32, got ${t.dtype}`);
  }
  if (runningMean.buffer === runningVar.buffer) throw new Error('batchNorm: runningMean and runningVar must be different tensors');
  if (!(momentum >= 0 && momentum <= 1)) throw new Error(`batchNorm: momentum must be in [0, 1], got ${momentum}`);
  if (!(eps > 0)) throw new Error(`batchNorm: eps must be positive, got ${eps}`);
  if (!(activation in ACTIVATION_CODE)) throw new Error(`batchNorm: unknown activation "${activation}"`);
  const rows = x.size / Math.max(C, 1);
  if (training && rows < 2) {
    throw new Error(`batchNorm: training needs more than one value per channel, x ${shapeStr(x.shape)} has ${rows} row(s)`);
  }
}

/**
 * Normalises x per channel (last axis) and applies gamma and beta. In training
 * mode it also updates runningMean and runningVar in place (they are state,
 * not part of the graph); the output does not depend on them, so repeated
 * calls on the same batch give the same result.
 *
 * Gradients reach x, gamma and beta. The graph keeps a [4, C] statistics
 * tensor alive for the backward; like any intermediate it belongs to the
 * enclosing tidy() scope.
 */
export function batchNorm(x: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor, opts: BatchNormOptions): Tensor {
  checkArguments(x, gamma, beta, runningMean, runningVar, opts);
  const { training, momentum = 0.1, eps = 1e-5, activation = 'none' } = opts;
  const inputs = [x, gamma, beta];
  if (x.size === 0) return Tensor.empty(x.shape);
  const L = layoutOf(x);
  const y = Tensor.empty(x.shape);

  const stats = training
    ? batchStatistics(x, L, gamma, beta, runningMean, runningVar, momentum, eps)
    : runningStatistics(L, gamma, beta, runningMean, runningVar, eps);
  dispatch(
    kernel(L.file, 'normalise', { ACT: ACTIVATION_CODE[activation] }),
    { x, stats_in: stats, y, n: L.elems, groups: L.groups },
    walkGrid(L),
  );

  const act = ACTIVATION_CODE[activation];
  const out = record(y, 'batchNorm', inputs, (g) => batchNormBackward(g, x, gamma, beta, stats, L, training, act));
  if (!out.node) stats.dispose();
  return out;
}

/** Training statistics [4, C] (see batchnorm_body.wgsl); updates the running averages. */
function batchStatistics(
  x: Tensor, L: ChannelLayout, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor, momentum: number, eps: number,
): Tensor {
  const k = (entry: string) => kernel(L.file, entry);
  const { chunks, rowsPerChunk } = rowChunks(L.rows, L.groups);
  let parts = Tensor.empty([chunks, 2, L.channels]);
  dispatch(k('moments_partial'), { x, parts_out: parts, rows: L.rows, groups: L.groups, rows_per_chunk: rowsPerChunk, chunks }, grid1d(chunks * L.groups, WG_REDUCE));

  let partCount = chunks;
  let rowsPerPart = rowsPerChunk;
  while (partCount > MERGE_FAN_IN) {
    const merged = Math.ceil(partCount / MERGE_FAN_IN);
    const next = Tensor.empty([merged, 2, L.channels]);
    dispatch(
      k('moments_merge'),
      { parts_in: parts, parts_out: next, rows: L.rows, groups: L.groups, rows_per_part: rowsPerPart, part_count: partCount, fan_in: MERGE_FAN_IN, merged },
      grid1d(merged * L.groups, WG_REDUCE),
    );
    parts.dispose();
    parts = next;
    partCount = merged;
    rowsPerPart *= MERGE_FAN_IN;
  }

  const stats = Tensor.empty([4, L.channels]);
  dispatch(
    k('batch_stats'),
    {
      parts_in: parts, gamma, beta, running_mean: runningMean, running_var: runningVar, stats,
      rows: L.rows, groups: L.groups, rows_per_part: rowsPerPart, part_count: partCount, momentum, eps,
    },
    grid1d(L.groups, WG_REDUCE),
  );
  parts.dispose();
  return stats;
}

/** Evaluation statistics [4, C] from the running averages. */
function runningStatistics(L: ChannelLayout, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor, eps: number): Tensor {
  const stats = Tensor.empty([4, L.channels]);
  dispatch(
    kernel(L.file, 'running_stats'),
    { gamma, beta, frozen_mean: runningMean, frozen_var: runningVar, stats, groups: L.groups, eps },
    grid1d(L.groups, WG_REDUCE),
  );
  return stats;
}

function batchNormBackward(g: Tensor, x: Tensor, gamma: Tensor, beta: Tensor, stats: Tensor, L: ChannelLayout, training: boolean, act: number): (Tensor | null)[] {
  const needSums = (training && x.requiresGrad) || gamma.requiresGrad || beta.requiresGrad;
  // [2, C]: sum(g) (= dbeta) and sum(g * xhat) (= dgamma) per channel.
  const sums = needSums ? gradientSums(g, x, stats, L, act) : null;

  let dx: Tensor | null = null;
  if (x.requiresGrad) {
    dx = Tensor.empty(x.shape);
    const grid = walkGrid(L);
    if (training) {
      dispatch(kernel(L.file, 'backward_batch', { ACT: act }), { x, g, stats_in: stats, sums: sums!, dx, n: L.elems, groups: L.groups, rows: L.rows }, grid);
    } else {
      dispatch(kernel(L.file, 'backward_running', { ACT: act }), { x, g, stats_in: stats, dx, n: L.elems, groups: L.groups }, grid);
    }
  }
  const dgamma = gamma.requiresGrad ? sumsRow(sums!, 1, L.channels) : null;
  const dbeta = beta.requiresGrad ? sumsRow(sums!, 0, L.channels) : null;
  sums?.dispose();
  return [dx, dgamma, dbeta];
}

function gradientSums(g: Tensor, x: Tensor, stats: Tensor, L: ChannelLayout, act: number): Tensor {
  const { chunks, rowsPerChunk } = rowChunks(L.rows, L.groups);
  const parts = Tensor.empty([chunks, 2 * L.channels]);
  dispatch(
    kernel(L.file, 'grad_partial', { ACT: act }),
    { x, g, stats_in: stats, parts_out: parts, rows: L.rows, groups: L.groups, rows_per_chunk: rowsPerChunk, chunks },
    grid1d(chunks * L.groups, WG_REDUCE),
  );
  if (chunks === 1) return parts;
  const sums = columnSum(parts, chunks, 2 * L.channels);
  parts.dispose();
  return sums;
}

/** Row `row` of a [2, C] tensor as a new [C] tensor (a buffer copy). */
function sumsRow(sums: Tensor, row: number, C: number): Tensor {
  const out = Tensor.empty([C]);
  runtime().recorder.copy(sums.buffer, row * C * 4, out.buffer, 0, C * 4);
  return out;
}

/**
 * Folds an inference batchnorm (running statistics) into the layer before it:
 * returns weight' and bias' with layer(x, weight') + bias' == batchNorm(layer(x,
 * weight) + bias) up to rounding, for weights whose last axis is the output
 * channel (conv [kh, kw, cin, C], depthwise [kh, kw, C], linear [in, C]).
 * New tensors outside any graph; the caller owns them.
 */
export function foldBatchNorm(weight: Tensor, bias: Tensor | null, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor, eps = 1e-5): { weight: Tensor; bias: Tensor } {
  const C = weight.shape[weight.rank - 1];
  if (weight.rank < 1 || weight.dtype !== 'f32') throw new Error(`foldBatchNorm: weight ${shapeStr(weight.shape)} must be f32 with the channels last`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== C)) throw new Error(`foldBatchNorm: bias ${shapeStr(bias.shape)} must be [${C}]`);
  for (const [name, t] of Object.entries({ gamma, beta, runningMean, runningVar })) {
    if (t.rank !== 1 || t.shape[0] !== C || t.dtype !== 'f32') throw new Error(`foldBatchNorm: ${name} ${shapeStr(t.shape)} must be f32 [${C}] to match weight ${shapeStr(weight.shape)}`);
  }
  if (!(eps > 0)) throw new Error(`foldBatchNorm: eps must be positive, got ${eps}`);
  const w = Tensor.empty(weight.shape);
  const b = Tensor.empty([C]);
  if (C === 0) return { weight: w, bias: b };
  const stats = Tensor.empty([4, C]);
  dispatch(
    kernel('batchnorm_f32.wgsl', 'running_stats'),
    { gamma, beta, frozen_mean: runningMean, frozen_var: runningVar, stats, groups: C, eps },
    grid1d(C, WG_REDUCE),
  );
  const common = { stats, n: weight.size, channels: C, has_bias: bias ? 1 : 0 };
  if (weight.size > 0) dispatch(kernel('bn_fold.wgsl', 'fold_weight'), { ...common, w: weight, w_out: w }, grid1d(weight.size, 256));
  dispatch(kernel('bn_fold.wgsl', 'fold_bias'), { ...common, b: bias ?? stats, b_out: b }, grid1d(C, 64));
  stats.dispose();
  return { weight: w, bias: b };
}
