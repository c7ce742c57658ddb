// Sliding-window detector bookkeeping on the GPU: cells of a score map that
// pass a threshold become boxes, boxes get regression deltas and squaring.
// Box tensors are [K, cols] rows of [x1, y1, x2, y2, score, ...].
import { Tensor, shapeStr } from '../tensor.js';
import { kernel, dispatch, grid1d } from '../kernel.js';

/**
 * Boxes [cap, 9] = [x1, y1, x2, y2, score, d0..d3] for the passing cells of a
 * single-image score map [1, h, w, C] and delta map [1, h, w, 4]. `cells`/`count`
 * come from thresholdIndices over the score channel; only the first
 * min(count, cap) rows are written.
 */
export function gridBoxes(scores: Tensor, deltas: Tensor, cells: Tensor, count: Tensor, cap: number, opts: { scale: number; stride: number; cell: number; scoreChannel: number }): Tensor {
  const [n, h, w, c] = scores.shape;
  if (scores.rank !== 4 || n !== 1) throw new Error(`gridBoxes: score map must be [1, h, w, C], got ${shapeStr(scores.shape)}`);
  if (deltas.rank !== 4 || deltas.shape[1] !== h || deltas.shape[2] !== w || deltas.shape[3] !== 4) {
    throw new Error(`gridBoxes: delta map ${shapeStr(deltas.shape)} does not match score map ${shapeStr(scores.shape)} with 4 deltas`);
  }
  const boxes = Tensor.empty([cap, 9]);
  if (cap > 0) {
    dispatch(
      kernel('detect.wgsl', 'grid_boxes'),
      { cells, count, scores, deltas, boxes, count_cap: cap, map_w: w, score_channels: c, score_channel: opts.scoreChannel, stride: opts.stride, cell: opts.cell, scale: opts.scale },
      grid1d(cap, 64),
    );
  }
  return boxes;
}

function checkRows(op: string, boxes: Tensor): [number, number] {
  if (boxes.rank !== 2 || boxes.shape[1] < 4) throw new Error(`${op}: boxes must be [K, >=4], got ${shapeStr(boxes.shape)}`);
  return [boxes.shape[0], boxes.shape[1]];
}

/**
 * In place: x1 += d0*w, y1 += d1*h, x2 += d2*w, y2 += d3*h, with
 * w = x2 - x1 (+1 when plusOne, MTCNN's bbreg). Deltas are columns
 * [offset, offset+4) of `deltas` [K, D].
 */
export function applyBoxDeltas(boxes: Tensor, deltas: Tensor, opts: { offset?: number; plusOne?: boolean } = {}): void {
  const [rows, cols] = checkRows('applyBoxDeltas', boxes);
  const offset = opts.offset ?? 0;
  if (deltas.rank !== 2 || deltas.shape[0] !== rows || deltas.shape[1] < offset + 4) {
    throw new Error(`applyBoxDeltas: deltas ${shapeStr(deltas.shape)} (from column ${offset}) do not fit boxes ${shapeStr(boxes.shape)}`);
  }
  if (rows === 0) return;
  dispatch(
    kernel('detect.wgsl', 'apply_deltas'),
    { box_rows: boxes, box_deltas: deltas, rows, cols, delta_cols: deltas.shape[1], delta_offset: offset, plus_one: opts.plusOne ? 1 : 0 },
    grid1d(rows, 64),
  );
}

/** In place: squares each box about its centre with side max(w, h). */
export function squareBoxes(boxes: Tensor): void {
  const [rows, cols] = checkRows('squareBoxes', boxes);
  if (rows === 0) return;
  dispatch(kernel('detect.wgsl', 'square'), { box_rows: boxes, rows, cols, delta_cols: 0, delta_offset: 0, plus_one: 0 }, grid1d(rows, 64));
}

/**
 * In place: columns [offset, offset+10) of each row hold five landmark x then
 * five y relative to the row's box; they become pixel coordinates
 * x = (x2 - x1 + 1) * lx + x1 - 1 (MTCNN O-Net's convention).
 */
export function landmarksToPoints(rows: Tensor, offset: number): void {
  const [n, cols] = checkRows('landmarksToPoints', rows);
  if (offset < 4 || offset + 10 > cols) throw new Error(`landmarksToPoints: columns ${offset}..${offset + 10} do not fit rows ${shapeStr(rows.shape)}`);
  if (n === 0) return;
  dispatch(kernel('detect.wgsl', 'landmark_points'), { box_rows: rows, rows: n, cols, delta_cols: 0, delta_offset: offset, plus_one: 1 }, grid1d(n, 64));
}
