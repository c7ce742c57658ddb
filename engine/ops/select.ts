// Selecting elements and rows: threshold compaction (an ordered index list of
// the elements that pass) and row gathers. Forward-only: they feed detection
// pipelines, not gradients.
import { Tensor, shapeStr } from '../tensor.js';
import { kernel, dispatch, grid1d } from '../kernel.js';

const CHUNK = 64; // must match select.wgsl

export interface Compacted {
  /** i32 [n]: the first `count` entries are the passing element indices, ascending. */
  indices: Tensor;
  /** u32 [1]: how many passed. Read it back (4 bytes) to size what follows. */
  count: Tensor;
}

/**
 * Indices i (ascending) where x[i * stride + offset] >= threshold
 * (> with strict). `stride`/`offset` pick one channel of an interleaved
 * tensor, e.g. the face probability (channel 1 of 2) of a detector's score map.
 */
export function thresholdIndices(x: Tensor, threshold: number, opts: { stride?: number; offset?: number; strict?: boolean } = {}): Compacted {
  const stride = opts.stride ?? 1;
  const offset = opts.offset ?? 0;
  if (!Number.isInteger(stride) || stride < 1 || !Number.isInteger(offset) || offset < 0 || offset >= stride) {
    throw new Error(`thresholdIndices: stride ${stride} / offset ${offset} invalid`);
  }
  if (x.size % stride !== 0) throw new Error(`thresholdIndices: ${shapeStr(x.shape)} is not a multiple of stride ${stride}`);
  const n = x.size / stride;
  const chunks = Math.max(1, Math.ceil(n / CHUNK));
  const counts = Tensor.empty([chunks], 'u32');
  const indices = Tensor.empty([Math.max(1, n)], 'i32');
  const count = Tensor.empty([1], 'u32');
  const uniforms = { n, stride, offset, threshold, chunks };
  const ov = { STRICT: opts.strict ? 1 : 0 };
  dispatch(kernel('select.wgsl', 'count_chunks', ov), { ...uniforms, x, counts }, grid1d(chunks, 64));
  dispatch(kernel('select.wgsl', 'scan_counts', ov), { ...uniforms, counts, total: count }, 1);
  dispatch(kernel('select.wgsl', 'write_indices', ov), { ...uniforms, x, counts, indices }, grid1d(chunks, 64));
  counts.dispose();
  return { indices, count };
}

/** Rows of a [R, ...] tensor picked by an i32 index list: [M, ...]. Out-of-range indices give zero rows. */
export function gatherRows(x: Tensor, rows: Tensor, count = rows.size): Tensor {
  if (rows.dtype !== 'i32') throw new Error(`gatherRows: row indices must be i32, got ${rows.dtype}`);
  if (x.shape.length < 1) throw new Error(`gatherRows: needs at least a 1-D tensor, got ${shapeStr(x.shape)}`);
  if (count > rows.size) throw new Error(`gatherRows: count ${count} exceeds the ${rows.size} indices`);
  const cols = x.size / Math.max(1, x.shape[0]);
  const y = Tensor.empty([count, ...x.shape.slice(1)]);
  if (y.size > 0) dispatch(kernel('select.wgsl', 'gather_rows'), { src: x, row_index: rows, dst: y, rows: count, cols, src_rows: x.shape[0] }, grid1d(y.size, 256));
  return y;
}
