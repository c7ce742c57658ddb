// MobileNetV1 (Howard et al. 2017, width 1.0) without its classifier: the
// lighter of the two FaceNet backbones in the design document.
//
//   stem     conv 3x3 s2 3->32, BN, ReLU6
//   13 depthwise-separable blocks (dw 3x3 + BN + ReLU6, then 1x1 + BN + ReLU6):
//            32->64, 64->128 s2, 128->128, 128->256 s2, 256->256,
//            256->512 s2, 5x 512->512, 512->1024 s2, 1024->1024
//
// A 160x160 input gives 5x5x1024 (stride 32); the net is fully convolutional,
// so any input size works (e.g. 96 or 112 for faster training).
//
// Children are registered under the PyTorch names of the design document's
// code (bubbliiiing/facenet-pytorch nets/mobilenet.py): nn.Sequential stages
// `stage1`..`stage3` whose items are numbered, and inside each item the
// Sequential's indices: conv_bn = 0 conv, 1 bn, (2 ReLU6); conv_dw = 0 dw
// conv, 1 bn, (2 ReLU6), 3 pointwise conv, 4 bn, (5 ReLU6). So the state dict
// reads `stage1.0.0.weight`, `stage1.1.3.weight`, `stage3.1.4.running_var`.
// Batchnorms use PyTorch's defaults (eps 1e-5, momentum 0.1).
import { Tensor } from '../../engine/tensor.js';
import { Module } from '../../engine/nn/module.js';
import { Conv2d, DepthwiseConv2d, BatchNorm } from '../../engine/nn/layers.js';
import { conv2d, depthwiseConv2d } from '../../engine/ops/conv.js';
import { batchNormAct, FoldedBn, useFolded, Sequential, type Layer } from './blocks.js';

/** conv_bn: 3x3 conv (no bias) + BN + ReLU6. */
export class ConvBn extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm;

  constructor(cin: number, cout: number, stride: number) {
    super();
    this.conv = this.child('0', new Conv2d(cin, cout, { kernel: 3, stride, padding: 1, bias: false }));
    this.bn = this.child('1', new BatchNorm(cout));
    this.folded = new FoldedBn(this.conv.weight, null, this.bn);
  }

  private readonly folded: FoldedBn;

  forward(x: Tensor): Tensor {
    if (useFolded(this)) {
      // Inference: BN folded into the conv, bias + ReLU6 in the conv kernel.
      const f = this.folded.get();
      return conv2d(x, f.weight, f.bias, { stride: this.conv.stride, padding: this.conv.padding, activation: 'relu6' });
    }
    this.folded.drop();
    return batchNormAct(this.bn, this.conv.forward(x), 'relu6');
  }

  override dropDerived(): void {
    this.folded.drop();
    super.dropDerived();
  }

  override train(on = true): this {
    this.folded.drop();
    return super.train(on);
  }

  override dispose(): void {
    this.folded.drop();
    super.dispose();
  }
}

/** conv_dw: depthwise 3x3 (stride s) + BN + ReLU6, then pointwise 1x1 + BN + ReLU6. */
export class ConvDw extends Module {
  readonly depthwise: DepthwiseConv2d;
  readonly bn1: BatchNorm;
  readonly pointwise: Conv2d;
  readonly bn2: BatchNorm;

  constructor(cin: number, cout: number, stride: number) {
    super();
    this.depthwise = this.child('0', new DepthwiseConv2d(cin, { kernel: 3, stride, padding: 1, bias: false }));
    this.bn1 = this.child('1', new BatchNorm(cin));
    this.pointwise = this.child('3', new Conv2d(cin, cout, { kernel: 1, bias: false }));
    this.bn2 = this.child('4', new BatchNorm(cout));
    this.folded1 = new FoldedBn(this.depthwise.weight, null, this.bn1);
    this.folded2 = new FoldedBn(this.pointwise.weight, null, this.bn2);
  }

  private readonly folded1: FoldedBn;
  private readonly folded2: FoldedBn;

  forward(x: Tensor): Tensor {
    if (useFolded(this)) {
      // Inference: each BN folded into its conv, bias + ReLU6 in the conv kernels.
      const d = this.folded1.get();
      const p = this.folded2.get();
      const h = depthwiseConv2d(x, d.weight, d.bias, { stride: this.depthwise.stride, padding: this.depthwise.padding, activation: 'relu6' });
      const y = conv2d(h, p.weight, p.bias, { activation: 'relu6' });
      h.dispose();
      return y;
    }
    this.dropFolded();
    const h = batchNormAct(this.bn1, this.depthwise.forward(x), 'relu6');
    return batchNormAct(this.bn2, this.pointwise.forward(h), 'relu6');
  }

  private dropFolded(): void {
    this.folded1.drop();
    this.folded2.drop();
  }

  override dropDerived(): void {
    this.dropFolded();
    super.dropDerived();
  }

  override train(on = true): this {
    this.dropFolded();
    return super.train(on);
  }

  override dispose(): void {
    this.dropFolded();
    super.dispose();
  }
}

/** [cin, cout, stride] of the 13 depthwise-separable blocks, by stage. */
const STAGES: [number, number, number][][] = [
  [[32, 64, 1], [64, 128, 2], [128, 128, 1], [128, 256, 2], [256, 256, 1]],
  [[256, 512, 2], [512, 512, 1], [512, 512, 1], [512, 512, 1], [512, 512, 1], [512, 512, 1]],
  [[512, 1024, 2], [1024, 1024, 1]],
];

export class MobileNetV1 extends Module {
  /** Channels of the output feature map. */
  static readonly outChannels = 1024;
  /** Total stride: output side = ceil(input side / 32). */
  static readonly stride = 32;
  /** Every convolution is padded, so any size works; 32 leaves a 1x1 map. */
  static readonly minInputSize = 1;

  readonly stage1: Sequential<Layer>;
  readonly stage2: Sequential<ConvDw>;
  readonly stage3: Sequential<ConvDw>;

  constructor() {
    super();
    const dw = (specs: [number, number, number][]) => specs.map(([i, o, s]) => new ConvDw(i, o, s));
    this.stage1 = this.child('stage1', new Sequential<Layer>([new ConvBn(3, 32, 2), ...dw(STAGES[0])]));
    this.stage2 = this.child('stage2', new Sequential(dw(STAGES[1])));
    this.stage3 = this.child('stage3', new Sequential(dw(STAGES[2])));
  }

  /** [N, H, W, 3] normalised images -> [N, ceil(H/32), ceil(W/32), 1024] features. */
  forward(x: Tensor): Tensor {
    return this.stage3.forward(this.stage2.forward(this.stage1.forward(x)));
  }
}
