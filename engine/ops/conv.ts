// 2-D convolutions of NHWC images: conv2d (with groups) and depthwiseConv2d,
// forward and backward.
//
// Kernels:
//   shaders/conv2d_subgroup_*.wgsl the fast variant: implicit GEMM, a lane group
//                                 of 8 computes 24 or 64 pixels x 32 channels with
//                                 subgroup shuffles. Needs subgroups. Outputs
//                                 stored as vec4s where channels allow
//                                 (fastKernelFile).
//   shaders/conv2d.wgsl           the plain variant, one output per thread, and
//                                 the weight packing of the fast one.
//   shaders/conv2d_direct_*.wgsl  forward for few channels (groups of 1): a
//                                 thread computes 4-8 outputs x 16 channels;
//                                 weights broadcast by subgroup shuffles on
//                                 software adapters, read directly on GPUs;
//                                 optionally a fused 2x2 or 3x3 stride-2
//                                 max pool.
//   shaders/depthwise_*.wgsl      depthwise, vec4 over channels when C % 4 == 0;
//                                 3x3 at stride 1 or 2 in strips down the image
//                                 (one channel per thread on software adapters).
// The backward passes are gathers (no atomics): the input gradient visits, for
// each input pixel, the outputs it fed; the weight gradient sums over pixels in
// chunks that a column sum then adds up.
import { Tensor, record, shapeStr, isGradEnabled, noGrad, type Shape } from '../tensor.js';
import { prelu } from './activation.js';
import { kernel, dispatch, grid1d } from '../kernel.js';
import { runtime } from '../runtime.js';
import { columnSum } from './elementwise.js';
import { gemmInto, cheapestTile } from './matmul.js';
import { clone, zeros } from './fill.js';
// The same stride/padding pairs as pooling and the same fused activations as batchnorm.
import { maxPool2d, pooledLength, pair as poolPair, type Pair, type MaxPool2dOptions } from './pool.js';
import type { FusedActivation } from './batchnorm.js';

/**
 * 'auto' picks the fastest kernels the adapter allows. 'fast' demands the
 * register-blocked ones (an error without subgroups; the weight gradient still
 * falls back to plain when output channels per group are not a multiple of 4),
 * 'plain' the one-output-per-thread ones, 'direct' the forward of
 * conv2d_direct_*.wgsl (few channels, groups of 1; its backward is 'auto').
 * Tests and benchmarks force these.
 */
export type ConvVariant = 'auto' | 'fast' | 'plain' | 'direct';

export interface Conv2dOptions {
  stride?: Pair;
  /** Zero padding on both sides of each spatial axis. */
  padding?: Pair;
  /** Input and output channels split into this many independent groups. */
  groups?: number;
  /** Bias + activation in the conv kernel itself. Inference only: to train, call relu() after. */
  activation?: FusedActivation;
  /**
   * Fused PReLU after the bias, one slope per output channel ([Cout]) or one
   * shared ([1]); inference only, and instead of `activation`.
   */
  prelu?: Tensor | null;
  /**
   * A max pool of the activated output, in the same pass where the direct
   * kernel takes it (2x2 or 3x3 windows at stride 2, no padding: the first
   * layers of MTCNN's nets), else as maxPool2d after the conv. Inference only.
   */
  maxPool?: MaxPool2dOptions | null;
  variant?: ConvVariant;
}

export type DepthwiseConv2dOptions = Omit<Conv2dOptions, 'groups' | 'prelu' | 'maxPool'>;

const ACTIVATION_CODE: Record<FusedActivation, number> = { none: 0, relu: 1, relu6: 2 };
const WG = 64; // workgroup size of conv2d.wgsl and depthwise_body.wgsl
// The fast tile (conv2d_subgroup_body.wgsl): rows and columns per lane group
// (grad_input's rows; the forward's are 8 * forwardRowGroups).
const TILE_ROWS = 24;
const TILE_COLS = 32;
// grad_weight's rows (taps) per lane group.
const TILE_TAPS = 16;
// Outputs along x per thread of depthwise_body.wgsl's row kernels, and the
// widest kernel they take (their tap rows are registers sized for 7).
const DEPTHWISE_ROW_OUT = 4;
// Outputs along x per thread of depthwise_body.wgsl's strip kernels: 8 for one
// channel per thread at stride 1 (forward_3x3_strip_wide), else 4.
const depthwiseStripOut = (stride: number, lanes: number) => (stride === 1 && lanes === 1 ? 8 : DEPTHWISE_ROW_OUT);
const DEPTHWISE_MAX_KW = 7;
// depthwise_body.wgsl's grad_weight_strip: the largest kernel side (3x3 taps in
// registers) and its outputs along x per thread.
const DEPTHWISE_STRIP_MAX_K = 3;
const DEPTHWISE_STRIP_OUT = 2;

/** Everything the kernels need to know about one convolution. */
interface Geometry {
  batch: number; inH: number; inW: number; inC: number;
  outH: number; outW: number; outC: number;
  kH: number; kW: number; strideY: number; strideX: number; padY: number; padX: number;
  groups: number; cinG: number; coutG: number;
}

/** Square kernels up to this size get a fast-forward pipeline of their own (1x1, 2x2, 3x3). */
const SMALL_KERNEL = 3;

/** A 1x1 kernel at stride 1 without padding: output pixel p reads input pixel p. */
const isPointwise = (g: Geometry) => g.kH === 1 && g.kW === 1 && g.strideY === 1 && g.strideX === 1 && g.padY === 0 && g.padX === 0;

// ---- argument checks --------------------------------------------------------------

function pair(op: string, name: string, v: Pair, min: number): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!p.every((d) => Number.isInteger(d) && d >= min)) {
    throw new Error(`${op}: ${name} must be ${min === 0 ? 'non-negative' : 'positive'} integers, got ${JSON.stringify(v)}`);
  }
  return p;
}

function checkActivation(op: string, activation: FusedActivation, inputs: Tensor[]): void {
  if (!(activation in ACTIVATION_CODE)) throw new Error(`${op}: unknown activation "${activation}"`);
  if (activation !== 'none' && isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    throw new Error(`${op}: the fused ${activation} is inference-only; call ${activation}() on the output to train through it`);
  }
}

/** Validates x, the dtypes and the options against a (kH x kW) kernel, and works out the output size. */
function geometry(op: string, x: Tensor, w: Tensor, kH: number, kW: number, cinG: number, outC: number, groups: number, opts: DepthwiseConv2dOptions): Geometry {
  if (x.rank !== 4) throw new Error(`${op}: input ${shapeStr(x.shape)} must be an NHWC image batch [N, H, W, C]`);
  for (const [name, t] of [['input', x], ['weight', w]] as const) {
    if (t.dtype !== 'f32') throw new Error(`${op}: ${name} ${shapeStr(t.shape)} is ${t.dtype}; convolutions need f32`);
  }
  const [batch, inH, inW, inC] = x.shape;
  const [strideY, strideX] = pair(op, 'stride', opts.stride ?? 1, 1);
  const [padY, padX] = pair(op, 'padding', opts.padding ?? 0, 0);
  const paddedH = inH + 2 * padY;
  const paddedW = inW + 2 * padX;
  if (kH > paddedH || kW > paddedW) {
    throw new Error(
      `${op}: kernel ${kH}x${kW} (weight ${shapeStr(w.shape)}) is larger than the padded input ${paddedH}x${paddedW} (input ${shapeStr(x.shape)}, padding [${padY}, ${padX}])`,
    );
  }
  return {
    batch, inH, inW, inC,
    outH: Math.floor((paddedH - kH) / strideY) + 1,
    outW: Math.floor((paddedW - kW) / strideX) + 1,
    outC, kH, kW, strideY, strideX, padY, padX,
    groups, cinG, coutG: outC / groups,
  };
}

function checkBias(op: string, bias: Tensor | null, channels: number, w: Tensor): void {
  if (bias && (bias.rank !== 1 || bias.shape[0] !== channels || bias.dtype !== 'f32')) {
    throw new Error(`${op}: bias ${shapeStr(bias.shape)} must be f32 [${channels}], one per output channel of weight ${shapeStr(w.shape)}`);
  }
}

/** The uniform members every conv kernel struct starts with. */
function convUniforms(g: Geometry) {
  return {
    batch: g.batch, in_h: g.inH, in_w: g.inW, in_c: g.inC,
    out_h: g.outH, out_w: g.outW, out_c: g.outC, cin_g: g.cinG,
    k_h: g.kH, k_w: g.kW, stride_y: g.strideY, stride_x: g.strideX,
    pad_y: g.padY, pad_x: g.padX, cout_g: g.coutG,
  };
}

const outputShape = (g: Geometry): Shape => [g.batch, g.outH, g.outW, g.outC];

// ---- variant choice ----------------------------------------------------------------

interface LaneGroups {
  /** Lane groups (of 8 invocations) per workgroup. */
  GROUPS: number;
  /** Masks a subgroup lane down to its lane group's first lane; 0 when subgroups are 8 wide. */
  LANE_GROUP_MASK: number;
}

/**
 * How the fast kernels lay lane groups out on this adapter, or null when they
 * cannot run: they need subgroups whose sizes are multiples of 8. Where every
 * subgroup is exactly 8 lanes (lavapipe), the shuffle source is a compile-time
 * lane, which the software rasteriser turns into a register broadcast; one lane
 * group per workgroup is then as fast as more. GPUs get 64-lane workgroups.
 */
function laneGroups(): LaneGroups | null {
  const rt = runtime();
  if (!rt.hasSubgroups) return null;
  const info = rt.ctx.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const min = info.subgroupMinSize ?? 0;
  const max = info.subgroupMaxSize ?? min;
  if (min < 8 || min % 8 !== 0 || max % 8 !== 0) return null;
  if (max === 8) return { GROUPS: rt.family === 'software' ? 1 : 8, LANE_GROUP_MASK: 0 };
  return { GROUPS: 8, LANE_GROUP_MASK: 0xfffffff8 };
}

/** Whether a pass runs the fast kernels: their channel rule holds, the adapter has them and the caller allows it. */
function useFast(variant: ConvVariant, channelsFit: boolean): LaneGroups | null {
  if (variant === 'plain' || !channelsFit) return null;
  return laneGroups();
}

/** [y, z] workgroup counts for `blocks` row blocks: past 65535 they spill into z. */
function rowGrid(blocks: number): [number, number] {
  if (blocks <= 65535) return [blocks, 1];
  const z = Math.ceil(blocks / 65535);
  return [Math.ceil(blocks / z), z];
}

/** Chunks for a weight-gradient sum over `lines` output lines: enough to keep `wanted` threads busy. */
function lineChunks(lines: number, threadsPerChunk: number, wanted: number): { chunks: number; linesPerChunk: number } {
  const chunks = Math.max(1, Math.min(lines, Math.ceil(wanted / threadsPerChunk)));
  const linesPerChunk = Math.ceil(lines / chunks);
  return { chunks: Math.ceil(lines / linesPerChunk), linesPerChunk };
}

/** Adds the [chunks, ...shape] partial sums over chunks into a tensor of `shape`; takes ownership of `partial`. */
function sumChunks(partial: Tensor, chunks: number, shape: Shape): Tensor {
  if (chunks === 1) return partial;
  const cols = partial.size / chunks;
  const summed = columnSum(partial, chunks, cols);
  partial.dispose();
  const out = clone(summed, shape);
  summed.dispose();
  return out;
}

// ---- conv2d --------------------------------------------------------------------------

/**
 * 2-D convolution (cross-correlation, as in PyTorch) of x [N, H, W, Cin] with
 * w [kh, kw, Cin/groups, Cout] and an optional bias [Cout]; the output is
 * [N, Ho, Wo, Cout] with Ho = floor((H + 2*padY - kh) / strideY) + 1.
 */
export function conv2d(x: Tensor, w: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const op = 'conv2d';
  const b = bias ?? null;
  if (w.rank !== 4) throw new Error(`${op}: weight ${shapeStr(w.shape)} must be [kh, kw, Cin/groups, Cout]`);
  const groups = opts.groups ?? 1;
  const [kH, kW, cinG, outC] = w.shape;
  const inC = x.shape[3];
  if (!Number.isInteger(groups) || groups < 1 || outC % groups !== 0 || (x.rank === 4 && inC % groups !== 0)) {
    throw new Error(`${op}: groups ${groups} must be a positive integer dividing the input's ${inC} and the weight's ${outC} output channels (input ${shapeStr(x.shape)}, weight ${shapeStr(w.shape)})`);
  }
  if (x.rank === 4 && inC !== cinG * groups) {
    throw new Error(`${op}: input ${shapeStr(x.shape)} has ${inC} channels, weight ${shapeStr(w.shape)} expects ${cinG * groups} (${cinG} per group x ${groups} group${groups > 1 ? 's' : ''})`);
  }
  const g = geometry(op, x, w, kH, kW, cinG, outC, groups, opts);
  checkBias(op, b, outC, w);
  const activation = opts.activation ?? 'none';
  const variant = opts.variant ?? 'auto';
  const inputs = b ? [x, w, b] : [x, w];
  checkActivation(op, activation, inputs);
  const slopes = opts.prelu ?? null;
  if (slopes) checkPrelu(op, slopes, outC, activation, inputs);
  const pool = opts.maxPool ?? null;
  if (pool && isGradEnabled() && [...inputs, ...(slopes ? [slopes] : [])].some((t) => t.requiresGrad)) {
    throw new Error(`${op}: the fused max pool is inference-only; call maxPool2d() on the output to train through it`);
  }
  const direct = directTile(variant, g);
  const fused = pool && direct ? fusedPool(pool, direct, g) : null;
  if (pool && !fused) {
    const conv = noGrad(() => conv2d(x, w, b, { ...opts, maxPool: null }));
    const pooled = noGrad(() => maxPool2d(conv, pool));
    conv.dispose();
    return pooled;
  }
  if (variant === 'direct' && !direct) {
    throw new Error(`${op}: the direct variant takes groups of 1 and kernels at most ${DIRECT_MAX_KW} wide, got groups ${groups}, weight ${shapeStr(w.shape)}`);
  }
  const fast = direct ? null : useFast(variant, true);
  if (variant === 'fast' && !fast) {
    throw new Error(`${op}: the fast variant needs subgroups of 8 or more lanes, which this adapter (${runtime().description}) lacks`);
  }

  const y = Tensor.empty(fused?.shape ?? outputShape(g));
  const act = ACTIVATION_CODE[activation];
  const args = { ...convUniforms(g), x, w, bias: b ?? w, y, has_bias: b ? 1 : 0 };
  if (direct) {
    directForward(g, fused?.tile ?? direct, x, w, b, slopes, act, y, fused);
  } else if (slopes && !fast) {
    // No fused PReLU in the plain kernel: the op after it.
    const pre = noGrad(() => conv2d(x, w, b, { ...opts, prelu: null }));
    const out = noGrad(() => prelu(pre, slopes));
    pre.dispose();
    y.dispose();
    return out;
  } else if (fast) {
    const padded = roundUp4(g.coutG);
    const packed = padded === g.coutG ? w : packWeight('pad_weight', w, g, padded, [g.kH, g.kW, g.cinG, g.groups * padded]);
    const colBlocks = Math.ceil(g.coutG / TILE_COLS);
    const pixels = g.batch * g.outH * g.outW;
    // 64-row tiles hold 64 vec4 accumulators per invocation: cheap on a CPU
    // adapter (measured), a register spill on GPUs (not measured), so only there.
    const rowGroups = runtime().family === 'software' ? forwardRowGroups(pixels) : TILE_ROWS / 8;
    const rowBlocks = Math.ceil(pixels / (8 * rowGroups) / fast.GROUPS);
    // x read as vec4s (binding x4) when every group's channels are whole
    // vec4s, so x's size is too; otherwise x4 is bound to the packed weight
    // (any vec4 array will do) and never read.
    const xVec4 = g.cinG % 4 === 0 && g.inC % 4 === 0;
    // A last column block of at most 16 channels (R-Net's 48) runs as split
    // 48 x 16 tiles in a dispatch of its own (conv2d_subgroup_body.wgsl SPLIT):
    // half the tiles a 32-wide block would take. Measured on lavapipe only,
    // so software adapters only.
    const tail = g.coutG % TILE_COLS;
    const split = tail > 0 && tail <= TILE_COLS / 2 && runtime().family === 'software';
    const mainBlocks = split ? colBlocks - 1 : colBlocks;
    const common = { ...args, x4: xVec4 ? x : packed, w: packed, w_c4: (g.groups * padded) / 4, alpha: slopes ?? packed, alpha_last: slopes ? slopes.size - 1 : 0 };
    // The kernel size as pipeline constants (unrolled tap loops, see
    // conv2d_subgroup_body.wgsl) for square kernels up to 3x3 only; the rest
    // (Inception's 1x3, 3x1, 1x7, 7x1) share one pipeline reading the uniforms.
    // Inception-ResNet's first forward with a cold shader cache on lavapipe:
    // 8.5 s with no constants, 17.2 s with a pipeline per size, 14.3 s so.
    const taps = g.kH === g.kW && g.kH <= SMALL_KERNEL ? { KH: g.kH, KW: g.kW } : { KH: 0, KW: 0 };
    const overrides = { ...fast, ACT: slopes ? 3 : act, X_VEC4: +xVec4, ROW_GROUPS: rowGroups, ...taps, POINTWISE: +isPointwise(g) };
    if (mainBlocks > 0) {
      dispatch(kernel(fastKernelFile(g.coutG), 'forward', { ...overrides, SPLIT: 0 }), { ...common, col_blocks: mainBlocks, first_col_block: 0 }, [g.groups * mainBlocks, ...rowGrid(rowBlocks)]);
    }
    if (split) {
      // Two halves of 24 rows: a lane loads 6 rows, at most 8 fit.
      const splitRows = Math.ceil(pixels / (2 * TILE_ROWS) / fast.GROUPS);
      dispatch(kernel(fastKernelFile(g.coutG), 'forward', { ...overrides, ROW_GROUPS: TILE_ROWS / 8, SPLIT: 1 }), { ...common, col_blocks: 1, first_col_block: mainBlocks }, [g.groups, ...rowGrid(splitRows)]);
    }
    if (packed !== w) packed.dispose();
  } else {
    dispatch(kernel('conv2d.wgsl', 'forward', { ACT: act }), args, grid1d(y.size, WG));
  }

  // A 1x1 stride-1 unpadded conv is a GEMM over pixels: its input gradient is
  // the matmul kernel's gy w^T, with no weight repacking. Its weight gradient
  // x^T gy reduces over every pixel into a small [Cin, Cout] tile grid: as one
  // matmul on software adapters (a few cores, no partial sums to add up); GPUs
  // keep the conv kernel, which splits the pixels into chunks to fill the device.
  const pointwise = isPointwise(g) && g.groups === 1 && variant !== 'plain';
  const pointwiseWeight = pointwise && runtime().family === 'software';
  return record(y, op, inputs, (gy) => [
    x.requiresGrad ? (pointwise ? pointwiseGradInput(gy, w, g) : conv2dGradInput(gy, w, g, variant)) : null,
    w.requiresGrad ? (pointwiseWeight ? pointwiseGradWeight(gy, x, g) : conv2dGradWeight(gy, x, g, variant)) : null,
    b?.requiresGrad ? biasGrad(gy, outC) : null,
  ]);
}

/** dx [P, Cin] = gy [P, Cout] w [Cin, Cout]^T for a pointwise conv. */
function pointwiseGradInput(gy: Tensor, w: Tensor, g: Geometry): Tensor {
  const dx = Tensor.empty([g.batch, g.inH, g.inW, g.inC]);
  gemmInto(gy, w, dx, g.batch * g.inH * g.inW, g.inC, g.outC, false, true);
  return dx;
}

/** dw [Cin, Cout] = x [P, Cin]^T gy [P, Cout] for a pointwise conv. */
function pointwiseGradWeight(gy: Tensor, x: Tensor, g: Geometry): Tensor {
  const pixels = g.batch * g.inH * g.inW;
  if (pixels === 0) return zeros([1, 1, g.inC, g.outC]);
  const dw = Tensor.empty([1, 1, g.inC, g.outC]);
  gemmInto(x, gy, dw, g.inC, g.outC, pixels, true, false);
  return dw;
}

function checkPrelu(op: string, slopes: Tensor, outC: number, activation: FusedActivation, inputs: Tensor[]): void {
  if (activation !== 'none') throw new Error(`${op}: prelu and activation "${activation}" are exclusive`);
  if (slopes.rank !== 1 || (slopes.shape[0] !== outC && slopes.shape[0] !== 1) || slopes.dtype !== 'f32') {
    throw new Error(`${op}: prelu slopes ${shapeStr(slopes.shape)} must be f32 [${outC}] or [1]`);
  }
  if (isGradEnabled() && [...inputs, slopes].some((t) => t.requiresGrad)) {
    throw new Error(`${op}: the fused prelu is inference-only; call prelu() on the output to train through it`);
  }
}

// ---- direct forward (conv2d_direct.wgsl) ----------------------------------------------

// Its register arrays: outputs along x per thread (for each of up to 4 channel vec4s), and input columns per kernel row.
const DIRECT_MAX_OX = 8;
const DIRECT_MAX_SPAN = 16;
const DIRECT_MAX_KW = 8;
const DIRECT_WG = 64;

interface DirectTile {
  /** Outputs along x per thread. */
  OX: number;
  /** Output-channel vec4s per thread. */
  NV: number;
  /** Channel blocks (workgroups along y). */
  blocks: number;
}

/**
 * The direct kernel's thread tile, or null when it does not apply. 'auto'
 * takes it where the GEMM tile (24-64 pixels x 32 channels, reduction in steps
 * of 4 input channels) would be mostly padding: few input channels (stride 1)
 * or few output channels. Measured on lavapipe: 2-4x on P-Net's 3->10, 10->16
 * and heads, 1.3-2x on the first layers of R-Net and O-Net; the GEMM kernel
 * keeps wider layers and strided stems, and P-Net's 16->32 since its 64-row
 * tiles (there 8-11% faster than direct, interleaved: 4.5 vs 5.1 ms at
 * 92x180, 16.0 vs 17.4 at 183x362).
 */
function directTile(variant: ConvVariant, g: Geometry): DirectTile | null {
  // The subgroup form broadcasts up to 32 weight vec4s per kernel row: KW * NV <= 32.
  if (g.groups !== 1 || g.kW > DIRECT_MAX_KW) return null;
  if (variant !== 'direct' && (variant !== 'auto' || !(g.outC <= 16 || (g.strideX === 1 && g.inC <= 4)))) return null;
  // Measured on lavapipe: up to 4 channel vec4s per thread and 8 outputs
  // along x; on narrow images (crops) 4 where 8 would run further past the
  // edge (R-Net's 22 and O-Net's 46 columns take 8: 1.25x over 4).
  const c4 = Math.ceil(g.outC / 4);
  const blocks = Math.ceil(c4 / 4);
  const NV = Math.ceil(c4 / blocks);
  const padded = (ox: number) => Math.ceil(g.outW / ox) * ox;
  let OX = Math.max(1, Math.min(g.outW >= 64 || padded(8) <= padded(4) ? DIRECT_MAX_OX : 4, g.outW));
  while (OX > 1 && (OX - 1) * g.strideX + g.kW > DIRECT_MAX_SPAN) OX--;
  if ((OX - 1) * g.strideX + g.kW > DIRECT_MAX_SPAN) return null;
  return { OX, NV, blocks };
}

let directPlainForced = false;
/** Tests: makes the direct kernel read weights without subgroups, as on GPUs. */
export function forceDirectPlain(on: boolean): void {
  directPlainForced = on;
}

/** Whether the direct kernel broadcasts weights with subgroup shuffles: software adapters with subgroups of 8+ lanes. */
function directSubgroups(): boolean {
  return !directPlainForced && runtime().family === 'software' && laneGroups() !== null;
}

/** A max pool the direct kernel runs in the same pass: its kind (the POOL override), the pooled output's shape and the thread tile. */
interface FusedPool {
  kind: 2 | 3;
  shape: Shape;
  tile: DirectTile;
}

/**
 * How the direct kernel fuses `pool`, or null where it cannot: it takes
 * square 2x2 or 3x3 windows at stride 2 without padding. 2x2 needs an even
 * OX (2 conv outputs per pooled one); 3x3 an odd one, 2 * pooled + 1 conv
 * columns per strip, at most 3 pooled outputs (OX 7) with MAX_OX 8.
 */
function fusedPool(pool: MaxPool2dOptions, tile: DirectTile, g: Geometry): FusedPool | null {
  const k = poolPair(pool.kernel);
  const st = poolPair(pool.stride ?? pool.kernel);
  const pad = poolPair(pool.padding ?? 0);
  if (k[0] !== k[1] || (k[0] !== 2 && k[0] !== 3) || st[0] !== 2 || st[1] !== 2 || pad[0] !== 0 || pad[1] !== 0) return null;
  const kind = k[0] as 2 | 3;
  const ceil = pool.ceilMode ?? false;
  const shape: Shape = [g.batch, pooledLength(g.outH, kind, 2, 0, ceil), pooledLength(g.outW, kind, 2, 0, ceil), g.outC];
  if (kind === 2) return tile.OX % 2 === 0 ? { kind, shape, tile } : null;
  const OX = 2 * Math.min(Math.floor((DIRECT_MAX_OX - 1) / 2), shape[2]) + 1;
  return (OX - 1) * g.strideX + g.kW <= DIRECT_MAX_SPAN ? { kind, shape, tile: { ...tile, OX } } : null;
}

function directForward(g: Geometry, tile: DirectTile, x: Tensor, w: Tensor, b: Tensor | null, slopes: Tensor | null, act: number, y: Tensor, pooled: FusedPool | null): void {
  if (y.size === 0) return;
  const [poolH, poolW] = pooled ? [pooled.shape[1], pooled.shape[2]] : [g.outH, g.outW];
  const POOL = pooled?.kind ?? 1;
  // 3x3 pools: a thread per strip of (OX - 1) / 2 pooled columns, walking down the image.
  const xBlocks = POOL === 3 ? Math.ceil(poolW / ((tile.OX - 1) / 2)) : Math.ceil(g.outW / tile.OX);
  const threads = g.batch * (POOL === 3 ? 1 : poolH) * xBlocks;
  const [gx, gz] = rowGrid(Math.ceil(threads / DIRECT_WG));
  dispatch(
    kernel(directSubgroups() ? 'conv2d_direct_subgroup.wgsl' : 'conv2d_direct_plain.wgsl', 'forward', { ACT: slopes ? 3 : act, OX: tile.OX, NV: tile.NV, KH: g.kH, KW: g.kW, SX: g.strideX, POOL }),
    {
      batch: g.batch, in_h: g.inH, in_w: g.inW, in_c: g.inC,
      out_h: g.outH, out_w: g.outW, out_c: g.outC,
      stride_y: g.strideY, pad_y: g.padY, pad_x: g.padX, c4: Math.ceil(g.outC / 4),
      x_blocks: xBlocks, has_bias: b ? 1 : 0, alpha_last: slopes ? slopes.size - 1 : 0, pool_h: poolH, pool_w: poolW,
      x, w, bias: b ?? w, alpha: slopes ?? w, y,
    },
    [gx, tile.blocks, gz],
  );
}

function biasGrad(gy: Tensor, channels: number): Tensor {
  const rows = gy.size / channels;
  return rows === 0 ? zeros([channels]) : columnSum(gy, rows, channels);
}

function conv2dGradInput(gy: Tensor, w: Tensor, g: Geometry, variant: ConvVariant): Tensor {
  const dx = Tensor.empty([g.batch, g.inH, g.inW, g.inC]);
  if (dx.size === 0) return dx;
  const fast = useFast(variant, true);
  if (!fast) {
    dispatch(kernel('conv2d.wgsl', 'grad_input'), { ...convUniforms(g), has_bias: 0, gy, wk: w, dx }, grid1d(dx.size, WG));
    return dx;
  }
  // The fast kernel reads input channels as vec4s: w per group to [kh, kw, cout_g, cin_g padded].
  const padded = roundUp4(g.cinG);
  const wt = packWeight('transpose_weight', w, g, padded, [g.kH, g.kW, g.coutG, g.groups * padded]);
  // One dispatch per stride phase (input pixels with equal iy mod sy, ix mod sx):
  // within a phase every pixel is reached by the same taps.
  const colBlocks = Math.ceil(g.cinG / TILE_COLS);
  const k = kernel(fastKernelFile(g.cinG), 'grad_input', { ...fast });
  for (let py = 0; py < Math.min(g.strideY, g.inH); py++) {
    for (let px = 0; px < Math.min(g.strideX, g.inW); px++) {
      const phaseH = Math.ceil((g.inH - py) / g.strideY);
      const phaseW = Math.ceil((g.inW - px) / g.strideX);
      const rowBlocks = Math.ceil((g.batch * phaseH * phaseW) / TILE_ROWS / fast.GROUPS);
      dispatch(
        k,
        { ...convUniforms(g), gy, wt, dx, col_blocks: colBlocks, phase_y: py, phase_x: px, phase_h: phaseH, phase_w: phaseW, wt_c4: (g.groups * padded) / 4 },
        [g.groups * colBlocks, ...rowGrid(rowBlocks)],
      );
    }
  }
  wt.dispose();
  return dx;
}

const roundUp4 = (n: number) => Math.ceil(n / 4) * 4;

// The forward tile's heights (groups of 8 rows) and their time per row
// relative to 24 rows, from interleaved runs on lavapipe: conv 3x3 N8 56x56
// 64->128 78-81 ms with 24 rows, 74-75 with 64 (76 with 32); conv 1x1 128->128
// 19.7-20.4 -> 18.9-20.0 (16.4 with 32 rows, 16.5 with 24 in a later run).
// Small images pay for padded rows: time follows the rows computed, so
// MobileNet's last 1x1 convs (5x5 = 25 pixels) want one 32-row tile, not two
// of 24: 1024->1024 1.76 against 2.78 ms, 512->512 0.78 against 1.06.
const FORWARD_ROW_GROUP_COST: [groups: number, perRow: number][] = [[3, 1], [4, 1], [8, 0.94]];

/** The forward tile's height for `pixels` output pixels, in groups of 8 rows. */
export function forwardRowGroups(pixels: number): number {
  return cheapestTile(pixels, FORWARD_ROW_GROUP_COST);
}

/**
 * The fast kernels' file for an output of `channelsPerGroup` channels per
 * group: stored as vec4s when they come in whole vec4s (then so do the rows,
 * groups times as many), else a channel at a time.
 */
function fastKernelFile(channelsPerGroup: number): string {
  return channelsPerGroup % 4 === 0 ? 'conv2d_subgroup_vec4.wgsl' : 'conv2d_subgroup_f32.wgsl';
}

/** w repacked for the fast kernels (conv2d.wgsl, pad_weight or transpose_weight): column channels padded to `padded` per group. */
function packWeight(entry: 'pad_weight' | 'transpose_weight', w: Tensor, g: Geometry, padded: number, shape: Shape): Tensor {
  const packed = Tensor.empty(shape);
  dispatch(
    kernel('conv2d.wgsl', entry),
    { w_src: w, w_dst: packed, taps: g.kH * g.kW, cin_g: g.cinG, cout_g: g.coutG, groups: g.groups, padded },
    grid1d(packed.size, WG),
  );
  return packed;
}

function conv2dGradWeight(gy: Tensor, x: Tensor, g: Geometry, variant: ConvVariant): Tensor {
  const shape = [g.kH, g.kW, g.cinG, g.outC];
  const lines = g.batch * g.outH;
  if (lines === 0 || g.outW === 0) return zeros(shape);
  const size = g.kH * g.kW * g.cinG * g.outC;
  const fast = useFast(variant, g.coutG % 4 === 0);
  if (!fast) {
    const { chunks, linesPerChunk } = lineChunks(lines, size, 16384);
    const partial = Tensor.empty(chunks === 1 ? shape : [chunks, size]);
    dispatch(
      kernel('conv2d.wgsl', 'grad_weight'),
      { ...convUniforms(g), xin: x, gout: gy, partial, lines_per_chunk: linesPerChunk, chunks },
      grid1d(size * chunks, WG),
    );
    return sumChunks(partial, chunks, shape);
  }
  const colBlocks = Math.ceil(g.coutG / TILE_COLS);
  const tapBlocks = Math.ceil((g.kH * g.kW * g.cinG) / TILE_TAPS / fast.GROUPS);
  // Enough chunks for ~64 lane groups (several per core on any adapter), each
  // chunk at least one output line.
  const { chunks, linesPerChunk } = lineChunks(lines, g.groups * colBlocks * tapBlocks * fast.GROUPS, 64 * fast.GROUPS);
  const partial = Tensor.empty(chunks === 1 ? shape : [chunks, size]);
  dispatch(
    // Either file: grad_weight writes neither y nor dx.
    kernel('conv2d_subgroup_f32.wgsl', 'grad_weight', { ...fast }),
    { ...convUniforms(g), xin: x, gout: gy, partial, col_blocks: colBlocks, lines_per_chunk: linesPerChunk },
    [g.groups * colBlocks, tapBlocks, chunks],
  );
  return sumChunks(partial, chunks, shape);
}

// ---- depthwise --------------------------------------------------------------------------

/**
 * Depthwise 2-D convolution with channel multiplier 1: channel c of
 * x [N, H, W, C] is filtered by w[:, :, c] of w [kh, kw, C]; optional bias [C].
 * Channels go four to a thread when C % 4 == 0. The fast variant computes 4
 * outputs along x per thread (kernels up to 7 wide; 3x3 kernels at stride 1 or
 * 2 walk strips of output lines on software adapters, see forceDepthwiseStrip),
 * the plain one one output per thread.
 */
export function depthwiseConv2d(x: Tensor, w: Tensor, bias?: Tensor | null, opts: DepthwiseConv2dOptions = {}): Tensor {
  const op = 'depthwiseConv2d';
  const b = bias ?? null;
  if (w.rank !== 3) throw new Error(`${op}: weight ${shapeStr(w.shape)} must be [kh, kw, C]`);
  const [kH, kW, C] = w.shape;
  if (x.rank === 4 && x.shape[3] !== C) {
    throw new Error(`${op}: input ${shapeStr(x.shape)} has ${x.shape[3]} channels, weight ${shapeStr(w.shape)} has ${C}`);
  }
  const g = geometry(op, x, w, kH, kW, 1, C, C, opts);
  checkBias(op, b, C, w);
  const activation = opts.activation ?? 'none';
  const variant = opts.variant ?? 'auto';
  const inputs = b ? [x, w, b] : [x, w];
  checkActivation(op, activation, inputs);
  const rows = variant !== 'plain' && g.kW <= DEPTHWISE_MAX_KW;
  if (variant === 'fast' && !rows) {
    throw new Error(`${op}: the fast variant takes kernels at most ${DEPTHWISE_MAX_KW} wide, weight ${shapeStr(w.shape)}`);
  }
  const lanes = C % 4 === 0 ? 4 : 1;
  const file = lanes === 4 ? 'depthwise_vec4.wgsl' : 'depthwise_f32.wgsl';

  const y = Tensor.empty(outputShape(g));
  const act = ACTIVATION_CODE[activation];
  depthwiseForward(file, lanes, rows, act, g, x, w, b, y);

  return record(y, op, inputs, (gy) => [
    x.requiresGrad ? depthwiseGradInput(gy, w, g, file, lanes, rows) : null,
    w.requiresGrad ? depthwiseGradWeight(gy, x, g, file, lanes, rows) : null,
    b?.requiresGrad ? biasGrad(gy, C) : null,
  ]);
}

function depthwiseUniforms(g: Geometry, lanes: number) {
  return {
    batch: g.batch, in_h: g.inH, in_w: g.inW, chans: g.outC / lanes,
    out_h: g.outH, out_w: g.outW, k_h: g.kH, k_w: g.kW,
    stride_y: g.strideY, stride_x: g.strideX, pad_y: g.padY, pad_x: g.padX,
  };
}

/**
 * 3x3 depthwise forwards at stride 1 or 2 (and stride-1 input gradients, which
 * are forwards) go to the strip kernels on software adapters: four channels
 * per thread (vec4) by 4 outputs along x where the channel count allows, else
 * one channel by 8 (stride 1) or 4 (stride 2). GPUs keep forward_rows (not yet
 * measured there). Interleaved on lavapipe, stride 1: N8 56x56x128 4.8-4.9 ms
 * (vec4 x 4) vs 5.4-6.0 (one channel x 8) vs 5.8-6.6 (one channel x 4, the
 * choice before), 112x112x32 4.7 vs 5.3, equal at 28x28x256, 14x14x512 and
 * 7x7x1024; vec4 x 8 spills and ran no faster than one channel x 8. Stride 2:
 * vec4 3-5% faster or equal. Tests force each choice.
 */
export type DepthwiseStripMode = 'auto' | 'off' | 'scalar' | 'vec4';
let depthwiseStrip: DepthwiseStripMode = 'auto';
let depthwiseStripLinesForced = 0;
export function forceDepthwiseStrip(mode: DepthwiseStripMode, lines = 0): void {
  depthwiseStrip = mode;
  depthwiseStripLinesForced = lines;
}

/** Lines per strip: whole columns of the output unless that leaves under ~8k threads. */
function stripLines(g: Geometry, lanes: number, outPerThread: number): number {
  const columns = g.batch * Math.ceil(g.outW / outPerThread) * (g.outC / lanes);
  let lines = g.outH;
  while (lines > 8 && columns * Math.ceil(g.outH / lines) < 8192) lines = Math.ceil(lines / 2);
  return lines;
}

function depthwiseForward(file: string, lanes: number, rows: boolean, act: number, g: Geometry, x: Tensor, w: Tensor, b: Tensor | null, y: Tensor): void {
  const args = { ...depthwiseUniforms(g, lanes), x, w, bias: b ?? w, y, has_bias: b ? 1 : 0, strip_lines: 0 };
  const mode = depthwiseStrip === 'auto' ? (runtime().family === 'software' ? (lanes === 4 ? 'vec4' : 'scalar') : 'off') : depthwiseStrip;
  const stride = g.strideY === g.strideX && g.strideX <= 2 ? g.strideX : 0;
  if (rows && mode !== 'off' && g.kH === 3 && g.kW === 3 && stride > 0) {
    const sLanes = mode === 'vec4' ? lanes : 1;
    const across = depthwiseStripOut(stride, sLanes);
    const lines = depthwiseStripLinesForced || stripLines(g, sLanes, across);
    const threads = g.batch * Math.ceil(g.outH / lines) * Math.ceil(g.outW / across) * (g.outC / sLanes);
    const sFile = sLanes === 4 ? 'depthwise_vec4.wgsl' : 'depthwise_f32.wgsl';
    const entry = stride === 2 ? 'forward_3x3_s2_strip' : across === 8 ? 'forward_3x3_strip_wide' : 'forward_3x3_strip';
    dispatch(kernel(sFile, entry, { ACT: act }), { ...args, ...depthwiseUniforms(g, sLanes), strip_lines: lines }, grid1d(threads, WG));
  } else if (rows) {
    const threads = g.batch * g.outH * Math.ceil(g.outW / DEPTHWISE_ROW_OUT) * (g.outC / lanes);
    dispatch(kernel(file, 'forward_rows', { ACT: act, KW: g.kW, SX: g.strideX }), args, grid1d(threads, WG));
  } else {
    dispatch(kernel(file, 'forward', { ACT: act }), args, grid1d(y.size / lanes, WG));
  }
}

function depthwiseGradInput(gy: Tensor, w: Tensor, g: Geometry, file: string, lanes: number, rows: boolean): Tensor {
  const dx = Tensor.empty([g.batch, g.inH, g.inW, g.inC]);
  if (dx.size === 0) return dx;
  // With stride 1 the input gradient is a forward pass over gy with the taps
  // flipped and padding k-1-pad, so it can use the row kernel too.
  if (rows && g.strideY === 1 && g.strideX === 1 && g.padY < g.kH && g.padX < g.kW) {
    const flipped = Tensor.empty(w.shape);
    dispatch(kernel(file, 'flip_weight'), { w_src: w, w_dst: flipped, taps: g.kH * g.kW, chans: g.outC / lanes }, grid1d(w.size / lanes, WG));
    const transposed: Geometry = { ...g, inH: g.outH, inW: g.outW, outH: g.inH, outW: g.inW, padY: g.kH - 1 - g.padY, padX: g.kW - 1 - g.padX };
    depthwiseForward(file, lanes, true, ACTIVATION_CODE.none, transposed, gy, flipped, null, dx);
    flipped.dispose();
  } else if (rows && g.strideX <= 2) {
    // Other strides: ROW_OUT * strideX inputs along x per thread.
    const threads = g.batch * g.inH * Math.ceil(g.inW / (DEPTHWISE_ROW_OUT * g.strideX)) * (g.inC / lanes);
    const args = { ...depthwiseUniforms(g, lanes), has_bias: 0, strip_lines: 0, gy, wk: w, dx };
    dispatch(kernel(file, 'grad_input_rows', { KW: g.kW, SX: g.strideX, PX: g.padX }), args, grid1d(threads, WG));
  } else {
    dispatch(kernel(file, 'grad_input'), { ...depthwiseUniforms(g, lanes), has_bias: 0, strip_lines: 0, gy, wk: w, dx }, grid1d(dx.size / lanes, WG));
  }
  return dx;
}

function depthwiseGradWeight(gy: Tensor, x: Tensor, g: Geometry, file: string, lanes: number, rows: boolean): Tensor {
  const shape = [g.kH, g.kW, g.outC];
  const lines = g.batch * g.outH;
  if (lines === 0 || g.outW === 0) return zeros(shape);
  const chans = g.outC / lanes;
  // The strip kernel (stride 1: one new input row per output line) writes a
  // partial per strip, which outweighs its savings on outputs narrower than a
  // few of its blocks. It takes stride 2 too but measured no faster there than
  // the row kernel on lavapipe, so that keeps stride 2.
  if (rows && g.kH <= DEPTHWISE_STRIP_MAX_K && g.kW <= DEPTHWISE_STRIP_MAX_K && g.strideY === 1 && g.strideX === 1 && g.outW >= 2 * DEPTHWISE_STRIP_OUT) {
    // A thread per (image, segment of output lines, block of outputs along x,
    // channel): enough segments for ~4096 threads, each at least one line.
    const blocks = Math.ceil(g.outW / DEPTHWISE_STRIP_OUT);
    const perSegment = g.batch * blocks * chans;
    const { chunks: segments, linesPerChunk } = lineChunks(g.outH, perSegment, 4096);
    const strips = g.batch * segments * blocks;
    const partial = Tensor.empty(strips === 1 ? shape : [strips, g.kH * g.kW * g.outC]);
    const args = { ...depthwiseUniforms(g, lanes), xin: x, gout: gy, partial, lines_per_chunk: linesPerChunk, chunks: segments };
    dispatch(kernel(file, 'grad_weight_strip', { KW: g.kW, SX: g.strideX, KH: g.kH, SY: g.strideY }), args, grid1d(perSegment * segments, WG));
    return sumChunks(partial, strips, shape);
  }
  // The row kernel has a thread per channel and kernel row, the plain one per tap.
  const threadsPerChunk = rows ? g.kH * chans : g.kH * g.kW * chans;
  const { chunks, linesPerChunk } = lineChunks(lines, threadsPerChunk, rows ? 4096 : 16384);
  const partial = Tensor.empty(chunks === 1 ? shape : [chunks, g.kH * g.kW * g.outC]);
  const args = { ...depthwiseUniforms(g, lanes), xin: x, gout: gy, partial, lines_per_chunk: linesPerChunk, chunks };
  if (rows) {
    dispatch(kernel(file, 'grad_weight_rows', { KW: g.kW, SX: g.strideX }), args, grid1d(threadsPerChunk * chunks, WG));
  } else {
    dispatch(kernel(file, 'grad_weight'), args, grid1d(threadsPerChunk * chunks, WG));
  }
  return sumChunks(partial, chunks, shape);
}
