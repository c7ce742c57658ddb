// The handful of layers the nets are built from, as Modules over the ops.
// Weights are in the engine's layouts: conv [kh, kw, Cin/groups, Cout],
// depthwise [kh, kw, C], linear [in, out]. Initialisation is PyTorch's
// default (Kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(fanIn), 1/sqrt(fanIn))),
// drawn from a seeded generator so runs reproduce.
import { Tensor } from '../tensor.js';
import { Module } from './module.js';
import { conv2d, depthwiseConv2d } from '../ops/conv.js';
import { linear } from '../ops/matmul.js';
import { batchNorm, type FusedActivation } from '../ops/batchnorm.js';
import { prelu, relu, relu6 } from '../ops/activation.js';

type Pair = number | [number, number];

/** A small seeded generator (mulberry32) for parameter initialisation. */
export class InitRng {
  constructor(private state: number) {}
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(n: number, bound: number): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = (2 * this.next() - 1) * bound;
    return a;
  }
}

let defaultRng = new InitRng(0x5eed);
/** Reseeds the generator that layers use when none is passed. */
export function seedInit(seed: number): void {
  defaultRng = new InitRng(seed);
}

function uniformParam(shape: number[], fanIn: number, rng: InitRng): Tensor {
  return Tensor.from(rng.uniform(shape.reduce((a, d) => a * d, 1), 1 / Math.sqrt(fanIn)), shape);
}

export interface Conv2dOptions {
  kernel: Pair;
  stride?: Pair;
  padding?: Pair;
  groups?: number;
  bias?: boolean;
  rng?: InitRng;
}

export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly groups: number;

  constructor(readonly inChannels: number, readonly outChannels: number, opts: Conv2dOptions) {
    super();
    const [kh, kw] = typeof opts.kernel === 'number' ? [opts.kernel, opts.kernel] : opts.kernel;
    this.groups = opts.groups ?? 1;
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    const rng = opts.rng ?? defaultRng;
    const fanIn = (inChannels / this.groups) * kh * kw;
    this.weight = this.param('weight', uniformParam([kh, kw, inChannels / this.groups, outChannels], fanIn, rng));
    this.bias = opts.bias === false ? null : this.param('bias', uniformParam([outChannels], fanIn, rng));
  }

  forward(x: Tensor, activation: FusedActivation = 'none'): Tensor {
    return conv2d(x, this.weight, this.bias ?? undefined, { stride: this.stride, padding: this.padding, groups: this.groups, activation });
  }
}

export class DepthwiseConv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: Pair;
  readonly padding: Pair;

  constructor(readonly channels: number, opts: Omit<Conv2dOptions, 'groups'>) {
    super();
    const [kh, kw] = typeof opts.kernel === 'number' ? [opts.kernel, opts.kernel] : opts.kernel;
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    const rng = opts.rng ?? defaultRng;
    this.weight = this.param('weight', uniformParam([kh, kw, channels], kh * kw, rng));
    this.bias = opts.bias === false ? null : this.param('bias', uniformParam([channels], kh * kw, rng));
  }

  forward(x: Tensor, activation: FusedActivation = 'none'): Tensor {
    return depthwiseConv2d(x, this.weight, this.bias ?? undefined, { stride: this.stride, padding: this.padding, activation });
  }
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: { bias?: boolean; rng?: InitRng } = {}) {
    super();
    const rng = opts.rng ?? defaultRng;
    this.weight = this.param('weight', uniformParam([inFeatures, outFeatures], inFeatures, rng));
    this.bias = opts.bias === false ? null : this.param('bias', uniformParam([outFeatures], inFeatures, rng));
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias ?? undefined);
  }
}

/** Batch normalisation over the last (channel) axis: BatchNorm1d and BatchNorm2d in one. */
export class BatchNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;

  constructor(readonly channels: number, readonly opts: { eps?: number; momentum?: number; affine?: boolean } = {}) {
    super();
    this.weight = this.param('weight', Tensor.from(new Float32Array(channels).fill(1), [channels]));
    this.bias = this.param('bias', Tensor.from(new Float32Array(channels), [channels]));
    if (opts.affine === false) {
      this.weight.requireGrad(false);
      this.bias.requireGrad(false);
    }
    this.runningMean = this.buffer('running_mean', Tensor.from(new Float32Array(channels), [channels]));
    this.runningVar = this.buffer('running_var', Tensor.from(new Float32Array(channels).fill(1), [channels]));
  }

  forward(x: Tensor, activation: FusedActivation = 'none'): Tensor {
    return batchNorm(x, this.weight, this.bias, this.runningMean, this.runningVar, {
      training: this.training,
      momentum: this.opts.momentum ?? 0.1,
      eps: this.opts.eps ?? 1e-5,
      activation,
    });
  }
}

export class PReLU extends Module {
  readonly weight: Tensor;
  constructor(readonly channels: number, init = 0.25) {
    super();
    this.weight = this.param('weight', Tensor.from(new Float32Array(channels).fill(init), [channels]));
  }
  forward(x: Tensor): Tensor {
    return prelu(x, this.weight);
  }
}

/** Applies a fused-activation name as a separate op (for training, where fusion is off). */
export function activate(x: Tensor, activation: FusedActivation): Tensor {
  return activation === 'relu' ? relu(x) : activation === 'relu6' ? relu6(x) : x;
}
