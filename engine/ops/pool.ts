// 2-D pooling of NHWC images with PyTorch's semantics: maxPool2d, avgPool2d,
// adaptiveAvgPool2d and globalAvgPool, forward and backward.
//
// Kernels: shaders/pool_body.wgsl, compiled as pool_vec4.wgsl (four channels
// per thread) when C % 4 == 0, pool_vec2.wgsl when C is otherwise even, and
// pool_f32.wgsl for odd C. Backward passes are gathers over the windows
// covering each input element (no atomics).
import { Tensor, record, isGradEnabled, shapeStr, type Shape } from '../tensor.js';
import { kernel, dispatch, grid1d, type KernelArgs } from '../kernel.js';
import { runtime } from '../runtime.js';

export type Pair = number | readonly [number, number];

export interface MaxPool2dOptions {
  kernel: Pair;
  /** Defaults to the kernel size. */
  stride?: Pair;
  /** Implicit padding on both sides: -inf for max, zeros for average. At most half the kernel. */
  padding?: Pair;
  /** Round the output size up, as long as the last window starts inside the input or its left padding. */
  ceilMode?: boolean;
}

export interface AvgPool2dOptions extends MaxPool2dOptions {
  /** Whether padded positions count in the divisor (PyTorch's default true). */
  countIncludePad?: boolean;
}

const WG = 64; // pool_body.wgsl's workgroup size

/**
 * PyTorch's pooled length along one axis: floor((size + 2*pad - kernel) / stride) + 1,
 * or with ceilMode rounded up, minus the last window if it would start past the
 * input and its left padding (i.e. entirely in the right padding).
 */
export function pooledLength(size: number, kernel: number, stride: number, pad: number, ceilMode: boolean): number {
  let out = Math.floor((size + 2 * pad - kernel + (ceilMode ? stride - 1 : 0)) / stride) + 1;
  if (ceilMode && (out - 1) * stride >= size + pad) out--;
  return out;
}

/** A Pair as [along y, along x]. */
export function pair(v: Pair): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

function checkImage(op: string, x: Tensor): void {
  if (x.rank !== 4) throw new Error(`${op}: input ${shapeStr(x.shape)} must be an NHWC image batch (rank 4)`);
  if (x.dtype !== 'f32') throw new Error(`${op}: input ${shapeStr(x.shape)} is ${x.dtype}; pooling needs f32`);
}

/**
 * The pool_body.wgsl build for this channel count, and the channels each
 * thread covers. Wider loads per thread are faster on every adapter (on
 * lavapipe vec4 ran ~3x faster than one channel per thread).
 */
function variant(channels: number): { file: string; lanes: number } {
  if (channels % 4 === 0) return { file: 'pool_vec4.wgsl', lanes: 4 };
  if (channels % 2 === 0) return { file: 'pool_vec2.wgsl', lanes: 2 };
  return { file: 'pool_f32.wgsl', lanes: 1 };
}

interface Geometry {
  outShape: number[];
  file: string;
  lanes: number;
  batch: number;
  /** Workgroups along a row of pixels, and rows, for threads over the output and over the input. */
  outputGrid: [number, number];
  inputGrid: [number, number];
  /** The `Window` uniform of pool_body.wgsl, less `first_image`. */
  window: KernelArgs;
}

/** Everything a pooling dispatch needs; throws (naming op and shape) when the grid is over the adapter's limits. */
function geometry(op: string, x: Tensor, out: [number, number], win: { kernel: number[]; stride: number[]; padding: number[] }, countIncludePad: boolean): Geometry {
  const [n, h, w, c] = x.shape;
  const { file, lanes } = variant(c);
  const max = runtime().limits.maxComputeWorkgroupsPerDimension;
  const grid = (rows: number, cols: number): [number, number] => {
    const groups = Math.ceil((cols * c) / lanes / WG);
    if (groups > max || rows > max) {
      throw new Error(`${op}: input ${shapeStr(x.shape)} to ${shapeStr(out)} needs ${groups} x ${rows} workgroups per image, over the adapter's ${max} per dimension`);
    }
    return [groups, rows];
  };
  return {
    outShape: [n, out[0], out[1], c],
    file,
    lanes,
    batch: n,
    outputGrid: grid(out[0], out[1]),
    inputGrid: grid(h, w),
    window: {
      channels: c / lanes, in_h: h, in_w: w, out_h: out[0], out_w: out[1],
      kernel_h: win.kernel[0], kernel_w: win.kernel[1], stride_h: win.stride[0], stride_w: win.stride[1],
      pad_h: win.padding[0], pad_w: win.padding[1], count_include_pad: countIncludePad ? 1 : 0, images: n,
    },
  };
}

function windowGeometry(op: string, x: Tensor, opts: MaxPool2dOptions, countIncludePad = true): Geometry {
  checkImage(op, x);
  const [kh, kw] = pair(opts.kernel);
  const [sh, sw] = pair(opts.stride ?? opts.kernel);
  const [ph, pw] = pair(opts.padding ?? 0);
  const ceilMode = opts.ceilMode ?? false;
  const where = `kernel [${kh}, ${kw}], stride [${sh}, ${sw}], padding [${ph}, ${pw}]`;
  const positive = [kh, kw, sh, sw].every((v) => Number.isInteger(v) && v > 0);
  const nonNegative = [ph, pw].every((v) => Number.isInteger(v) && v >= 0);
  if (!positive || !nonNegative) throw new Error(`${op}: invalid ${where}: kernel and stride must be positive integers, padding a non-negative integer`);
  // PyTorch's limit; it also guarantees that every window holds an input element.
  if (ph > kh / 2 || pw > kw / 2) throw new Error(`${op}: ${where}: padding must be at most half the kernel`);
  const [, h, w] = x.shape;
  const oh = pooledLength(h, kh, sh, ph, ceilMode);
  const ow = pooledLength(w, kw, sw, pw, ceilMode);
  if (oh < 1 || ow < 1) throw new Error(`${op}: ${where} leaves no output for input ${shapeStr(x.shape)}`);
  return geometry(op, x, [oh, ow], { kernel: [kh, kw], stride: [sh, sw], padding: [ph, pw] }, countIncludePad);
}

/**
 * One thread per Elem of the output (forward) or the input (backward), on
 * pool_body.wgsl's grid: workgroups along a row of pixels x rows x images,
 * in batches of at most 65535 images.
 */
function run(geo: Geometry, entry: string, buffers: KernelArgs, over: 'output' | 'input'): void {
  const [groups, rows] = over === 'output' ? geo.outputGrid : geo.inputGrid;
  if (groups === 0 || rows === 0) return;
  const k = kernel(geo.file, entry);
  const max = runtime().limits.maxComputeWorkgroupsPerDimension;
  for (let first = 0; first < geo.batch; first += max) {
    dispatch(k, { ...buffers, ...geo.window, first_image: first }, [groups, rows, Math.min(max, geo.batch - first)]);
  }
}

// pool_body.wgsl's max_forward_rows: outputs along x and output rows per thread, widest row it loads.
const POOL_OX = 4;
const POOL_OY = 4;
const POOL_MAX_SPAN = 16;
let poolRowsOff = false;
/** Tests: inference max pooling with one output per thread (max_forward) instead of max_forward_rows. */
export function forcePoolPlain(on: boolean): void {
  poolRowsOff = on;
}

/**
 * Max pooling. Padding counts as -inf. When gradients are recorded, the forward
 * also stores each output's argmax (flat h*W+w per channel); the backward then
 * gives each input element the gradients of the outputs whose argmax it is.
 * Ties: the first maximum in window scan order (row by row, left to right)
 * takes the gradient. Unlike PyTorch, a NaN comes out only when it is the
 * first element of its window (a NaN never wins a comparison).
 */
export function maxPool2d(x: Tensor, opts: MaxPool2dOptions): Tensor {
  const geo = windowGeometry('maxPool2d', x, opts);
  const y = Tensor.empty(geo.outShape);
  if (!(isGradEnabled() && x.requiresGrad)) {
    const w = geo.window as Record<string, number>;
    if (!poolRowsOff && (POOL_OX - 1) * w.stride_w + w.kernel_w <= POOL_MAX_SPAN) {
      const threads = geo.batch * Math.ceil(w.out_h / POOL_OY) * Math.ceil(w.out_w / POOL_OX) * w.channels;
      if (threads > 0) dispatch(kernel(geo.file, 'max_forward_rows', { KW: w.kernel_w, SW: w.stride_w }), { x, y, ...geo.window, first_image: 0 }, grid1d(threads, WG));
    } else {
      run(geo, 'max_forward', { x, y }, 'output');
    }
    return y;
  }
  // Lives as long as the graph, and dies with the tidy() scope that made it.
  const argmax = Tensor.empty(geo.outShape, 'u32');
  argmax.name = 'maxPool2d argmax';
  run(geo, 'max_forward_argmax', { x, y, argmax }, 'output');
  return record(y, 'maxPool2d', [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    run(geo, 'max_backward', { dy, argmax, dx }, 'input');
    return [dx];
  });
}

/** Average pooling; padding counts as zeros, and in the divisor when countIncludePad (default true). */
export function avgPool2d(x: Tensor, opts: AvgPool2dOptions): Tensor {
  const geo = windowGeometry('avgPool2d', x, opts, opts.countIncludePad ?? true);
  const y = Tensor.empty(geo.outShape);
  run(geo, 'avg_forward', { x, y }, 'output');
  return record(y, 'avgPool2d', [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    run(geo, 'avg_backward', { dy, dx }, 'input');
    return [dx];
  });
}

/**
 * Average pooling to a fixed output size, with PyTorch's windows: output i
 * along an axis of length L averages [floor(i*L/out), ceil((i+1)*L/out)).
 */
export function adaptiveAvgPool2d(x: Tensor, outSize: Pair): Tensor {
  checkImage('adaptiveAvgPool2d', x);
  const [oh, ow] = pair(outSize);
  if (![oh, ow].every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(`adaptiveAvgPool2d: output size [${oh}, ${ow}] must be positive integers (input ${shapeStr(x.shape)})`);
  }
  if (x.shape[1] === 0 || x.shape[2] === 0) throw new Error(`adaptiveAvgPool2d: input ${shapeStr(x.shape)} has no pixels to pool to [${oh}, ${ow}]`);
  const geo = geometry('adaptiveAvgPool2d', x, [oh, ow], { kernel: [0, 0], stride: [0, 0], padding: [0, 0] }, false);
  const y = Tensor.empty(geo.outShape);
  run(geo, 'adaptive_forward', { x, y }, 'output');
  return record(y, 'adaptiveAvgPool2d', [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    run(geo, 'adaptive_backward', { dy, dx }, 'input');
    return [dx];
  });
}

/** Mean over H and W: [N, H, W, C] -> [N, C]. */
export function globalAvgPool(x: Tensor): Tensor {
  checkImage('globalAvgPool', x);
  const [n, h, w, c] = x.shape;
  const pixels = h * w;
  if (pixels === 0) throw new Error(`globalAvgPool: input ${shapeStr(x.shape)} has no pixels to average`);
  const geo = geometry('globalAvgPool', x, [1, 1], { kernel: [h, w], stride: [1, 1], padding: [0, 0] }, true);
  const y = meanRows(x, n, pixels, c, geo.file, geo.lanes);
  return record(y, 'globalAvgPool', [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    run(geo, 'global_backward', { dy, dx }, 'input');
    return [dx];
  });
}

/**
 * x viewed as [batch, rows, channels Elems] -> the mean over rows, [batch, C].
 * Sums run in chunks of rows (enough chunks to keep every lane busy, each
 * summing >= 16 rows), then over the chunk sums, until one chunk remains.
 */
function meanRows(x: Tensor, batch: number, rows: number, c: number, file: string, lanes: number): Tensor {
  const channels = c / lanes;
  const outShape: Shape = [batch, c];
  let cur = x;
  let left = rows;
  let scale = 1 / rows; // applied once, on the first pass
  for (;;) {
    const chunks = Math.max(1, Math.min(Math.ceil(left / 16), Math.ceil(16384 / Math.max(1, batch * channels))));
    const perChunk = Math.ceil(left / chunks);
    const realChunks = Math.ceil(left / perChunk);
    const out = Tensor.empty(realChunks === 1 ? outShape : [batch, realChunks, c]);
    const threads = batch * realChunks * channels;
    if (threads > 0) {
      dispatch(kernel(file, 'mean_rows'), { x: cur, partial: out, total: threads, channels, rows: left, rows_per_chunk: perChunk, chunks: realChunks, scale }, grid1d(threads, WG));
    }
    if (cur !== x) cur.dispose();
    cur = out;
    left = realChunks;
    scale = 1;
    if (left === 1) return cur;
  }
}
