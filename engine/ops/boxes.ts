// Box overlap and non-maximum suppression, forward only.
//
// Boxes are [K, 4] f32 tensors of (x1, y1, x2, y2) in pixels. Two overlap
// conventions appear in the MTCNN reference and both are reproduced exactly:
//   plusOne: false  torchvision (batched_)nms: area = (x2-x1)*(y2-y1)
//   plusOne: true   facenet-pytorch's numpy nms: area = (x2-x1+1)*(y2-y1+1),
//                   intersection sides max(0, min(x2)-max(x1)+1)
// and mode 'union' (IoU) or 'min' (intersection over the smaller area).
import { Tensor, shapeStr } from '../tensor.js';
import { kernel, dispatch, grid1d } from '../kernel.js';
import { runtime } from '../runtime.js';

export type OverlapMode = 'union' | 'min';

export interface OverlapOptions {
  /** Pixel-count areas, width = x2 - x1 + 1 (facenet-pytorch's numpy nms). Default false (torchvision). */
  plusOne?: boolean;
}

export interface NmsOptions extends OverlapOptions {
  /** Keep at most this many boxes (the highest-ranked survivors). */
  maxOutput?: number;
  /**
   * Rows per suppression chunk, a multiple of 32 (default 2048). Larger chunks
   * mean fewer passes but a CHUNK^2/8-byte bitmask; small values exist so tests
   * can cover the cross-chunk path with few boxes.
   */
  chunk?: number;
}

export interface NmsResult {
  /** i32 [min(K, maxOutput)]: original indices of the kept boxes by descending score, then -1. */
  indices: Tensor;
  /** i32 [1]: how many boxes were kept. */
  count: Tensor;
}

const MODE_BY_MIN: Record<OverlapMode, number> = { union: 0, min: 1 };
const DEFAULT_CHUNK = 2048;
// Keys sorted per workgroup in bitonic_block (shaders/nms_sort.wgsl).
const BLOCK_KEYS = 512;

function checkBoxes(op: string, name: string, boxes: Tensor): number {
  if (boxes.rank !== 2 || boxes.shape[1] !== 4 || boxes.dtype !== 'f32') {
    throw new Error(`${op}: ${name} ${shapeStr(boxes.shape)} ${boxes.dtype} must be an f32 [K, 4] tensor of (x1, y1, x2, y2)`);
  }
  return boxes.shape[0];
}

function checkMode(op: string, mode: string): number {
  const byMin = MODE_BY_MIN[mode as OverlapMode];
  if (byMin === undefined) throw new Error(`${op}: mode "${mode}" is not 'union' or 'min'`);
  return byMin;
}

/** Pairwise overlap: [K, 4] x [M, 4] -> [K, M]. Pairs with a zero denominator give 0 (torch gives NaN). */
export function iouMatrix(a: Tensor, b: Tensor, mode: OverlapMode = 'union', opts: OverlapOptions = {}): Tensor {
  const k = checkBoxes('iouMatrix', 'a', a);
  const m = checkBoxes('iouMatrix', 'b', b);
  const byMin = checkMode('iouMatrix', mode);
  if (k * m > 0xffffffff) throw new Error(`iouMatrix: ${shapeStr(a.shape)} x ${shapeStr(b.shape)} gives more than 2^32 pairs`);
  const iou = Tensor.empty([k, m]);
  if (iou.size > 0) {
    dispatch(kernel('iou.wgsl', 'iou_matrix'), { a, b, iou, k, m, plus_one: opts.plusOne ? 1 : 0, by_min: byMin }, grid1d(iou.size, 256));
  }
  return iou;
}

/**
 * Greedy NMS on the GPU, the same kept set and order as the sequential loop
 * (torchvision's nms): boxes are visited by descending score, a box is
 * suppressed when its overlap with an already kept box is > iouThreshold.
 * Equal scores are visited by ascending index (a stable sort; torch's sort
 * does not promise an order for ties). The caller reads the result back.
 */
export function nms(boxes: Tensor, scores: Tensor, iouThreshold: number, mode: OverlapMode = 'union', opts: NmsOptions = {}): NmsResult {
  return suppress('nms', boxes, scores, null, iouThreshold, mode, opts);
}

/** NMS where boxes of different groups (images, pyramid scales) never suppress each other. groups: i32 [K]. */
export function batchedNms(
  boxes: Tensor,
  scores: Tensor,
  groups: Tensor,
  iouThreshold: number,
  mode: OverlapMode = 'union',
  opts: NmsOptions = {},
): NmsResult {
  return suppress('batchedNms', boxes, scores, groups, iouThreshold, mode, opts);
}

/** Reads an NMS result back: the kept indices, in order. */
export async function readKept(result: NmsResult): Promise<Int32Array> {
  const all = (await result.indices.data()) as Int32Array;
  const end = all.indexOf(-1);
  return end < 0 ? all : all.slice(0, end);
}

/**
 * The largest f32 not above t. The kernels compare an f32 overlap against an
 * f32 threshold, while torchvision compares it against the double t: for f32
 * x, x > t exactly when x > (largest f32 <= t).
 */
function f32AtMost(t: number): number {
  const f = Math.fround(t);
  if (f <= t) return f;
  const bits = new Uint32Array(new Float32Array([f]).buffer);
  bits[0] += f > 0 ? -1 : 1;
  return new Float32Array(bits.buffer)[0];
}

/** Bitonic sort of `padded` (a power of two) keys: passes of distance >= 512 over global memory, the rest inside 512-key blocks. */
function sortKeys(keys: Tensor, padded: number): void {
  const step = kernel('nms_sort.wgsl', 'bitonic_step');
  const block = kernel('nms_sort.wgsl', 'bitonic_block');
  const grid = grid1d(padded / 2, 256);
  dispatch(block, { sorted_keys: keys, padded, k_first: 2, k_last: Math.min(padded, BLOCK_KEYS) }, grid);
  for (let k = 2 * BLOCK_KEYS; k <= padded; k *= 2) {
    for (let j = k / 2; j >= BLOCK_KEYS; j /= 2) dispatch(step, { sorted_keys: keys, pairs: padded / 2, k, j }, grid);
    dispatch(block, { sorted_keys: keys, padded, k_first: k, k_last: k }, grid);
  }
}

function suppress(
  op: string,
  boxes: Tensor,
  scores: Tensor,
  groups: Tensor | null,
  iouThreshold: number,
  mode: OverlapMode,
  opts: NmsOptions,
): NmsResult {
  const n = checkBoxes(op, 'boxes', boxes);
  if (scores.rank !== 1 || scores.shape[0] !== n || scores.dtype !== 'f32') {
    throw new Error(`${op}: scores ${shapeStr(scores.shape)} ${scores.dtype} must be f32 [${n}] to match boxes ${shapeStr(boxes.shape)}`);
  }
  if (groups && (groups.rank !== 1 || groups.shape[0] !== n || groups.dtype !== 'i32')) {
    throw new Error(`${op}: groups ${shapeStr(groups.shape)} ${groups.dtype} must be i32 [${n}] to match boxes ${shapeStr(boxes.shape)}`);
  }
  const byMin = checkMode(op, mode);
  if (!Number.isFinite(iouThreshold)) throw new Error(`${op}: iouThreshold ${iouThreshold} is not a finite number`);
  const maxOutput = opts.maxOutput ?? n;
  if (!Number.isInteger(maxOutput) || maxOutput < 0) throw new Error(`${op}: maxOutput ${opts.maxOutput} must be a non-negative integer`);
  const rt = runtime();
  const maxWg = Math.min(1024, rt.limits.maxComputeInvocationsPerWorkgroup, rt.limits.maxComputeWorkgroupSizeX);
  const chunk = opts.chunk ?? Math.min(DEFAULT_CHUNK, 32 * maxWg);
  if (!Number.isInteger(chunk) || chunk < 32 || chunk % 32 !== 0 || chunk / 32 > maxWg) {
    throw new Error(`${op}: chunk ${chunk} must be a multiple of 32 between 32 and ${32 * maxWg}`);
  }

  const outLen = Math.min(n, maxOutput);
  if (outLen === 0) return { indices: Tensor.empty([0], 'i32'), count: Tensor.from([0], [1], 'i32') };
  const indices = Tensor.empty([outLen], 'i32');
  const count = Tensor.empty([1], 'i32');

  // Rank: sort (score, index) keys, padded to a power of two for the network.
  const padded = 2 ** Math.ceil(Math.log2(Math.max(n, 2)));
  const keys = Tensor.empty([padded, 2], 'u32');
  dispatch(kernel('nms_sort.wgsl', 'score_keys'), { scores, keys, n, padded }, grid1d(padded, 256));
  sortKeys(keys, padded);
  // RankedBox is 32 bytes: box, group, index, padding.
  const ranked = Tensor.empty([n, 8]);
  if (groups) dispatch(kernel('nms_sort.wgsl', 'gather_ranked_grouped'), { ranked_keys: keys, boxes, groups, ranked, n }, grid1d(n, 256));
  else dispatch(kernel('nms_sort.wgsl', 'gather_ranked'), { ranked_keys: keys, boxes, ranked, n }, grid1d(n, 256));
  keys.dispose();

  // Suppress chunk by chunk (see shaders/nms.wgsl).
  const wg = chunk / 32;
  const chunkRows = Math.min(chunk, n);
  const suppressed = Tensor.empty([n], 'u32');
  const mask = Tensor.empty([chunkRows, wg], 'u32');
  const keptBoxes = Tensor.empty([chunkRows, 4]);
  const keptGroups = Tensor.empty([chunkRows], 'i32');
  const state = Tensor.empty([2], 'u32');
  const uniforms = {
    n, out_len: outLen, stride: wg, max_out: outLen,
    threshold: f32AtMost(iouThreshold), plus_one: opts.plusOne ? 1 : 0, by_min: byMin,
  };
  const pass = (entry: string) => kernel('nms.wgsl', entry, { WG: wg });
  dispatch(pass('nms_init'), { suppressed, indices, state, ...uniforms, row0: 0, rows: 0, words: 0 }, grid1d(n, 256));
  for (let row0 = 0; row0 < n; row0 += chunk) {
    const rows = Math.min(chunk, n - row0);
    const words = Math.ceil(rows / 32);
    const u = { ...uniforms, row0, rows, words };
    dispatch(pass('chunk_mask'), { ranked, suppressed, mask, state, ...u }, grid1d(rows * words, 64));
    dispatch(pass('chunk_scan'), { ranked, suppressed, mask, kept_boxes: keptBoxes, kept_groups: keptGroups, state, indices, ...u }, 1);
    if (row0 + rows < n) dispatch(pass('chunk_cross'), { ranked, suppressed, kept_boxes: keptBoxes, kept_groups: keptGroups, state, ...u }, grid1d(n - row0 - rows, 64));
  }
  rt.recorder.copy(state.buffer, 0, count.buffer, 0, 4);
  for (const t of [ranked, suppressed, mask, keptBoxes, keptGroups, state]) t.dispose();
  return { indices, count };
}
