// Inception-ResNet-v1 (Szegedy et al. 2016), the backbone of the FaceNet
// paper's best models, laid out exactly as facenet-pytorch's
// InceptionResnetV1 (models/inception_resnet_v1.py) without its head:
//
//   stem       conv2d_1a 3x3 s2 3->32, conv2d_2a 3x3 32->32, conv2d_2b 3x3 p1 32->64,
//              maxpool_3a 3x3 s2, conv2d_3b 1x1 64->80, conv2d_4a 3x3 80->192,
//              conv2d_4b 3x3 s2 192->256
//   repeat_1   5x Block35 (scale 0.17)               256 channels
//   mixed_6a   reduction to 896 channels, stride 2
//   repeat_2   10x Block17 (scale 0.10)              896 channels
//   mixed_7a   reduction to 1792 channels, stride 2
//   repeat_3   5x Block8 (scale 0.20)                1792 channels
//   block8     one more Block8, scale 1.0, no ReLU   1792 channels
//
// A 160x160 input gives 3x3x1792. Every conv of a branch is a BasicConv2d
// (conv without bias, BN eps 1e-3, ReLU); each residual block ends in a 1x1
// conv with bias whose output is scaled and added to the block's input.
// Children carry facenet-pytorch's names (conv2d_1a.conv.weight,
// repeat_1.0.branch1.1.bn.running_mean, mixed_6a.branch0.conv.weight, ...).
import { Tensor, shapeStr } from '../../engine/tensor.js';
import { Module } from '../../engine/nn/module.js';
import { Conv2d, BatchNorm } from '../../engine/nn/layers.js';
import { maxPool2d } from '../../engine/ops/pool.js';
import { concat } from '../../engine/ops/shape.js';
import { add, scale } from '../../engine/ops/elementwise.js';
import { relu } from '../../engine/ops/activation.js';
import { batchNormAct, Sequential, type Layer } from './blocks.js';

type Pair = number | [number, number];

/** conv (no bias) + BN (eps 1e-3, as in the TensorFlow original) + ReLU. */
export class BasicConv2d extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm;

  constructor(cin: number, cout: number, kernel: Pair, stride: Pair = 1, padding: Pair = 0) {
    super();
    this.conv = this.child('conv', new Conv2d(cin, cout, { kernel, stride, padding, bias: false }));
    this.bn = this.child('bn', new BatchNorm(cout, { eps: 1e-3 }));
  }

  forward(x: Tensor): Tensor {
    return batchNormAct(this.bn, this.conv.forward(x), 'relu');
  }
}

/** 3x3 max pool, stride 2, no padding (nn.MaxPool2d(3, stride=2)). */
const maxPool3s2 = (x: Tensor) => maxPool2d(x, { kernel: 3, stride: 2 });

/** out = act(x + scale * conv2d(concat(branches(x)))): the residual form shared by Block35, Block17 and Block8. */
abstract class ResidualBlock extends Module {
  abstract readonly branches: readonly Layer[];
  abstract readonly conv2d: Conv2d;

  constructor(readonly residualScale: number, readonly withRelu: boolean) {
    super();
  }

  forward(x: Tensor): Tensor {
    const mixed = this.conv2d.forward(concat(this.branches.map((b) => b.forward(x))));
    const out = add(this.residualScale === 1 ? mixed : scale(mixed, this.residualScale), x);
    return this.withRelu ? relu(out) : out;
  }
}

/** Widths of a residual block: the trunk's channels and each branch conv's. */
export interface BlockWidths {
  channels: number;
  branch: number;
}

/** 35x35 grid block (at 299 input; 17x17 at 160): three branches of 1x1, 1x1-3x3, 1x1-3x3-3x3. */
export class Block35 extends ResidualBlock {
  readonly branches: readonly Layer[];
  readonly conv2d: Conv2d;

  constructor(blockScale = 1, { channels, branch }: BlockWidths = { channels: 256, branch: 32 }) {
    super(blockScale, true);
    const b = branch;
    this.branches = [
      this.child('branch0', new BasicConv2d(channels, b, 1)),
      this.child('branch1', new Sequential([new BasicConv2d(channels, b, 1), new BasicConv2d(b, b, 3, 1, 1)])),
      this.child('branch2', new Sequential([new BasicConv2d(channels, b, 1), new BasicConv2d(b, b, 3, 1, 1), new BasicConv2d(b, b, 3, 1, 1)])),
    ];
    this.conv2d = this.child('conv2d', new Conv2d(3 * b, channels, { kernel: 1 }));
  }
}

/** 17x17 grid block: 1x1, and 1x1-1x7-7x1. */
export class Block17 extends ResidualBlock {
  readonly branches: readonly Layer[];
  readonly conv2d: Conv2d;

  constructor(blockScale = 1, { channels, branch }: BlockWidths = { channels: 896, branch: 128 }) {
    super(blockScale, true);
    const b = branch;
    this.branches = [
      this.child('branch0', new BasicConv2d(channels, b, 1)),
      this.child('branch1', new Sequential([new BasicConv2d(channels, b, 1), new BasicConv2d(b, b, [1, 7], 1, [0, 3]), new BasicConv2d(b, b, [7, 1], 1, [3, 0])])),
    ];
    this.conv2d = this.child('conv2d', new Conv2d(2 * b, channels, { kernel: 1 }));
  }
}

/** 8x8 grid block: 1x1, and 1x1-1x3-3x1. The last one of the net has scale 1 and no ReLU. */
export class Block8 extends ResidualBlock {
  readonly branches: readonly Layer[];
  readonly conv2d: Conv2d;

  constructor(blockScale = 1, withRelu = true, { channels, branch }: BlockWidths = { channels: 1792, branch: 192 }) {
    super(blockScale, withRelu);
    const b = branch;
    this.branches = [
      this.child('branch0', new BasicConv2d(channels, b, 1)),
      this.child('branch1', new Sequential([new BasicConv2d(channels, b, 1), new BasicConv2d(b, b, [1, 3], 1, [0, 1]), new BasicConv2d(b, b, [3, 1], 1, [1, 0])])),
    ];
    this.conv2d = this.child('conv2d', new Conv2d(2 * b, channels, { kernel: 1 }));
  }
}

/** 256 -> 896 channels, stride 2: 3x3 s2 conv (384), 1x1-3x3-3x3 s2 (256), and a max pool (256). */
export class Mixed6a extends Module {
  readonly branch0 = this.child('branch0', new BasicConv2d(256, 384, 3, 2));
  readonly branch1 = this.child('branch1', new Sequential([new BasicConv2d(256, 192, 1), new BasicConv2d(192, 192, 3, 1, 1), new BasicConv2d(192, 256, 3, 2)]));

  forward(x: Tensor): Tensor {
    return concat([this.branch0.forward(x), this.branch1.forward(x), maxPool3s2(x)]);
  }
}

/** 896 -> 1792 channels, stride 2: three conv branches (384, 256, 256) and a max pool (896). */
export class Mixed7a extends Module {
  readonly branch0 = this.child('branch0', new Sequential([new BasicConv2d(896, 256, 1), new BasicConv2d(256, 384, 3, 2)]));
  readonly branch1 = this.child('branch1', new Sequential([new BasicConv2d(896, 256, 1), new BasicConv2d(256, 256, 3, 2)]));
  readonly branch2 = this.child('branch2', new Sequential([new BasicConv2d(896, 256, 1), new BasicConv2d(256, 256, 3, 1, 1), new BasicConv2d(256, 256, 3, 2)]));

  forward(x: Tensor): Tensor {
    return concat([this.branch0.forward(x), this.branch1.forward(x), this.branch2.forward(x), maxPool3s2(x)]);
  }
}

const repeat = <M extends Layer>(n: number, make: () => M) => new Sequential(Array.from({ length: n }, make));

export class InceptionResNetV1 extends Module {
  static readonly outChannels = 1792;
  /** The unpadded convolutions and pools shrink the input: below 75x75 Mixed_7a has nothing left to reduce. */
  static readonly minInputSize = 75;

  readonly conv2d_1a = this.child('conv2d_1a', new BasicConv2d(3, 32, 3, 2));
  readonly conv2d_2a = this.child('conv2d_2a', new BasicConv2d(32, 32, 3, 1));
  readonly conv2d_2b = this.child('conv2d_2b', new BasicConv2d(32, 64, 3, 1, 1));
  readonly conv2d_3b = this.child('conv2d_3b', new BasicConv2d(64, 80, 1, 1));
  readonly conv2d_4a = this.child('conv2d_4a', new BasicConv2d(80, 192, 3, 1));
  readonly conv2d_4b = this.child('conv2d_4b', new BasicConv2d(192, 256, 3, 2));
  readonly repeat_1 = this.child('repeat_1', repeat(5, () => new Block35(0.17)));
  readonly mixed_6a = this.child('mixed_6a', new Mixed6a());
  readonly repeat_2 = this.child('repeat_2', repeat(10, () => new Block17(0.1)));
  readonly mixed_7a = this.child('mixed_7a', new Mixed7a());
  readonly repeat_3 = this.child('repeat_3', repeat(5, () => new Block8(0.2)));
  readonly block8 = this.child('block8', new Block8(1, false));

  /** [N, H, W, 3] normalised images -> [N, h, w, 1792] features (3x3 at 160x160). */
  forward(x: Tensor): Tensor {
    const min = InceptionResNetV1.minInputSize;
    if (x.rank === 4 && (x.shape[1] < min || x.shape[2] < min)) {
      throw new Error(`InceptionResNetV1: input ${shapeStr(x.shape)} is smaller than ${min}x${min}, the least its unpadded convolutions and pools can reduce to a feature map`);
    }
    let h = this.conv2d_2b.forward(this.conv2d_2a.forward(this.conv2d_1a.forward(x)));
    h = maxPool3s2(h);
    h = this.conv2d_4b.forward(this.conv2d_4a.forward(this.conv2d_3b.forward(h)));
    h = this.mixed_6a.forward(this.repeat_1.forward(h));
    h = this.mixed_7a.forward(this.repeat_2.forward(h));
    return this.block8.forward(this.repeat_3.forward(h));
  }
}
