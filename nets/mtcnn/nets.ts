// MTCNN's three nets (Zhang et al. 2016) in two variants:
//  - 'original': conv + PReLU, no batchnorm: the architecture the pretrained
//    weights (facenet-pytorch, originally Zhang et al.) fit;
//  - 'bn': conv + batchnorm + ReLU, as in the design document this project
//    started from, for training from scratch. Its pooling follows that
//    document (3x3 s2 pad 1 / pad 0, floor mode); its classifier keeps two
//    logits (face / not face) so both variants share one output interface.
//
// Each net returns raw classification logits; the detector applies softmax.
// Inputs are NHWC images normalised as (x - 127.5) / 128.
import { Tensor, isGradEnabled, keep } from '../../engine/tensor.js';
import { conv2d } from '../../engine/ops/conv.js';
import { Module } from '../../engine/nn/module.js';
import { Conv2d, Linear, PReLU, BatchNorm } from '../../engine/nn/layers.js';
import { maxPool2d, type MaxPool2dOptions } from '../../engine/ops/pool.js';
import { relu } from '../../engine/ops/activation.js';
import { flatten, concat, slice } from '../../engine/ops/shape.js';

export type MtcnnVariant = 'original' | 'bn';

export interface StageOutput {
  /** [..., 2] face / not-face logits (channel 1 = face). */
  cls: Tensor;
  /** [..., 4] box regression (x1, y1, x2, y2 offsets relative to the box size). */
  reg: Tensor;
  /**
   * [N, 10] landmarks, five x then five y, relative to the box: O-Net, and
   * P-Net / R-Net built with `{ landmarks: true }`.
   */
  landmarks?: Tensor;
}

export interface MtcnnNetOptions {
  /**
   * P-Net and R-Net: add a landmark head (conv4_3 / dense5_3), as the MTCNN
   * paper trains them (multi-task, landmark loss weight 0.5). Training only:
   * the pretrained files and the detector have no such head, and
   * train/mtcnn leaves it out of the weights it exports.
   */
  landmarks?: boolean;
}

/**
 * Children register under the pretrained files' flat names (conv1, prelu1,
 * dense4, ...) so `stateDict()` names match them one to one.
 */
abstract class MtcnnNet extends Module {
  constructor(readonly variant: MtcnnVariant) {
    super();
  }

  /**
   * conv{i} -> prelu{i} ('original') or conv{i} -> bn{i} -> ReLU ('bn'),
   * then the max pool `pool` when given.
   */
  protected unit(cin: number, cout: number, k: number, i: number, pool?: MaxPool2dOptions): (x: Tensor) => Tensor {
    const conv = this.child(`conv${i}`, new Conv2d(cin, cout, { kernel: k }));
    const pooled = (h: Tensor) => (pool ? maxPool2d(h, pool) : h);
    if (this.variant === 'original') {
      const act = this.child(`prelu${i}`, new PReLU(cout));
      // Without gradients the PReLU (and a pool the kernel can take) runs
      // inside the conv kernel: one pass, no intermediate.
      return (x) =>
        isGradEnabled()
          ? pooled(act.forward(conv.forward(x)))
          : conv2d(x, conv.weight, conv.bias, { stride: conv.stride, padding: conv.padding, groups: conv.groups, prelu: act.weight, maxPool: pool });
    }
    const bn = this.child(`bn${i}`, new BatchNorm(cout));
    return (x) => pooled(relu(bn.forward(conv.forward(x))));
  }

  abstract forward(x: Tensor): StageOutput;
}

const pool = (variant: MtcnnVariant, original: MaxPool2dOptions, bn: MaxPool2dOptions) => (variant === 'original' ? original : bn);

/** Fully convolutional 12x12 proposal net: [N, H, W, 3] -> [N, h, w, 2] and [N, h, w, 4]. */
export class PNet extends MtcnnNet {
  private readonly pool1 = pool(this.variant, { kernel: 2, stride: 2, ceilMode: true }, { kernel: 3, stride: 2, padding: 1 });
  private readonly u1 = this.unit(3, 10, 3, 1, this.pool1);
  private readonly u2 = this.unit(10, 16, 3, 2);
  private readonly u3 = this.unit(16, 32, 3, 3);
  readonly conv4_1 = this.child('conv4_1', new Conv2d(32, 2, { kernel: 1 }));
  readonly conv4_2 = this.child('conv4_2', new Conv2d(32, 4, { kernel: 1 }));
  readonly conv4_3: Conv2d | null = null;

  constructor(variant: MtcnnVariant = 'original', opts: MtcnnNetOptions = {}) {
    super(variant);
    if (opts.landmarks) this.conv4_3 = this.child('conv4_3', new Conv2d(32, 10, { kernel: 1 }));
  }

  forward(x: Tensor): StageOutput {
    const h = this.u3(this.u2(this.u1(x)));
    if (!isGradEnabled() && !this.conv4_3) {
      // Inference: both heads in one 1x1 conv over h (read once, not twice),
      // its six channels split after.
      const { weight, bias } = this.joinedHeads();
      const both = conv2d(h, weight, bias);
      const [n, oh, ow] = both.shape;
      const out = { cls: slice(both, [0, 0, 0, 0], [n, oh, ow, 2]), reg: slice(both, [0, 0, 0, 2], [n, oh, ow, 4]) };
      both.dispose();
      return out;
    }
    // A forward that records a graph comes before any optimiser step: the
    // joined copy is dropped here so that no step leaves it stale.
    this.dropHeads();
    const out: StageOutput = { cls: this.conv4_1.forward(h), reg: this.conv4_2.forward(h) };
    if (this.conv4_3) out.landmarks = this.conv4_3.forward(h);
    return out;
  }

  private heads: { weight: Tensor; bias: Tensor } | null = null;

  /** conv4_1 and conv4_2 as one [1, 1, 32, 6] conv (cls then reg), made once and kept until the weights change. */
  private joinedHeads(): { weight: Tensor; bias: Tensor } {
    if (!this.heads) {
      const [a, b] = [this.conv4_1, this.conv4_2];
      this.heads = { weight: keep(concat([a.weight, b.weight], 3)), bias: keep(concat([a.bias!, b.bias!], 0)) };
    }
    return this.heads;
  }

  private dropHeads(): void {
    this.heads?.weight.dispose();
    this.heads?.bias.dispose();
    this.heads = null;
  }

  override dropDerived(): void {
    this.dropHeads();
    super.dropDerived();
  }
}

/** 24x24 refinement net: [N, 24, 24, 3] -> [N, 2] and [N, 4]. */
export class RNet extends MtcnnNet {
  private readonly pool1 = pool(this.variant, { kernel: 3, stride: 2, ceilMode: true }, { kernel: 3, stride: 2, padding: 1 });
  private readonly u1 = this.unit(3, 28, 3, 1, this.pool1);
  private readonly u2 = this.unit(28, 48, 3, 2);
  private readonly u3 = this.unit(48, 64, 2, 3);
  readonly dense4 = this.child('dense4', new Linear(576, 128));
  private readonly act4 = this.variant === 'original' ? this.child('prelu4', new PReLU(128)) : null;
  readonly dense5_1 = this.child('dense5_1', new Linear(128, 2));
  readonly dense5_2 = this.child('dense5_2', new Linear(128, 4));
  readonly dense5_3: Linear | null = null;
  private readonly pool2 = pool(this.variant, { kernel: 3, stride: 2, ceilMode: true }, { kernel: 3, stride: 2 });

  constructor(variant: MtcnnVariant = 'original', opts: MtcnnNetOptions = {}) {
    super(variant);
    if (opts.landmarks) this.dense5_3 = this.child('dense5_3', new Linear(128, 10));
  }

  forward(x: Tensor): StageOutput {
    let h = maxPool2d(this.u2(this.u1(x)), this.pool2);
    h = flatten(this.u3(h));
    h = this.dense4.forward(h);
    h = this.act4 ? this.act4.forward(h) : relu(h);
    const out: StageOutput = { cls: this.dense5_1.forward(h), reg: this.dense5_2.forward(h) };
    if (this.dense5_3) out.landmarks = this.dense5_3.forward(h);
    return out;
  }
}

/** 48x48 output net: [N, 48, 48, 3] -> [N, 2], [N, 4] and [N, 10] landmarks. */
export class ONet extends MtcnnNet {
  private readonly pool1 = pool(this.variant, { kernel: 3, stride: 2, ceilMode: true }, { kernel: 3, stride: 2, padding: 1 });
  private readonly u1 = this.unit(3, 32, 3, 1, this.pool1);
  private readonly u2 = this.unit(32, 64, 3, 2);
  private readonly u3 = this.unit(64, 64, 3, 3);
  private readonly u4 = this.unit(64, 128, 2, 4);
  readonly dense5 = this.child('dense5', new Linear(1152, 256));
  private readonly act5 = this.variant === 'original' ? this.child('prelu5', new PReLU(256)) : null;
  readonly dense6_1 = this.child('dense6_1', new Linear(256, 2));
  readonly dense6_2 = this.child('dense6_2', new Linear(256, 4));
  readonly dense6_3 = this.child('dense6_3', new Linear(256, 10));
  private readonly pool2 = pool(this.variant, { kernel: 3, stride: 2, ceilMode: true }, { kernel: 3, stride: 2 });
  private readonly pool3 = { kernel: 2, stride: 2, ceilMode: true };

  constructor(variant: MtcnnVariant = 'original') {
    super(variant);
  }

  forward(x: Tensor): StageOutput {
    let h = maxPool2d(this.u2(this.u1(x)), this.pool2);
    h = maxPool2d(this.u3(h), this.pool3);
    h = flatten(this.u4(h));
    h = this.dense5.forward(h);
    h = this.act5 ? this.act5.forward(h) : relu(h);
    return { cls: this.dense6_1.forward(h), reg: this.dense6_2.forward(h), landmarks: this.dense6_3.forward(h) };
  }
}
