// FaceNet (Schroff et al. 2015) as the design document builds it: a backbone,
// then global average pooling -> dropout -> linear (no bias) to the embedding
// size -> BatchNorm1d (eps 1e-3) -> L2 normalisation. Training adds a linear
// classifier over the identities, fed by the batchnorm's output (before the
// normalisation), whose cross-entropy helps the triplet loss converge.
//
// Parameter names follow the PyTorch code each backbone comes from, so a
// converted PyTorch checkpoint loads by name (see weights.ts):
//   mobilenet           the design document's Facenet class (bubbliiiing/facenet-pytorch):
//                       backbone.model.stage1.0.0.weight ... Bottleneck.weight,
//                       last_bn.{weight,bias,running_mean,running_var}, classifier.{weight,bias}
//   inception_resnetv1  facenet-pytorch's InceptionResnetV1, whose one flat module holds
//                       backbone and head: conv2d_1a.conv.weight ... block8.conv2d.bias,
//                       last_linear.weight, last_bn.*, logits.{weight,bias}
// Layouts are the engine's (conv [kh, kw, Cin, Cout], depthwise [kh, kw, C],
// linear [in, out]), not PyTorch's.
import { Tensor } from '../../engine/tensor.js';
import { Module } from '../../engine/nn/module.js';
import { Linear, BatchNorm } from '../../engine/nn/layers.js';
import { globalAvgPool } from '../../engine/ops/pool.js';
import { dropout } from '../../engine/ops/dropout.js';
import { l2Normalize } from '../../engine/ops/normalize.js';
import { linear } from '../../engine/ops/matmul.js';
import { FoldedBn, useFolded } from './blocks.js';
import { MobileNetV1 } from './mobilenet.js';
import { InceptionResNetV1 } from './inception_resnet_v1.js';

export type Backbone = 'mobilenet' | 'inception_resnetv1';
export const BACKBONES: readonly Backbone[] = ['mobilenet', 'inception_resnetv1'];

export interface FaceNetConfig {
  backbone: Backbone;
  /** Length of the embedding; default 128 (the design document's; facenet-pytorch's pretrained nets use 512). */
  embeddingSize?: number;
  /** Identities of the training classifier; 0 or absent: no classifier (inference). */
  numClasses?: number;
  /** Probability of keeping a pooled feature in training; default 0.5. */
  dropoutKeep?: number;
}

/** Names of the head's layers for each backbone's PyTorch original. */
const HEAD_NAMES: Record<Backbone, { linear: string; classifier: string }> = {
  mobilenet: { linear: 'Bottleneck', classifier: 'classifier' },
  inception_resnetv1: { linear: 'last_linear', classifier: 'logits' },
};

/** Channels the backbone hands to the head. */
export function backboneChannels(backbone: Backbone): number {
  return backbone === 'mobilenet' ? MobileNetV1.outChannels : InceptionResNetV1.outChannels;
}

/** The smallest square input the backbone accepts. */
export function minInputSize(backbone: Backbone): number {
  return backbone === 'mobilenet' ? MobileNetV1.minInputSize : InceptionResNetV1.minInputSize;
}

export interface FaceNetOutput {
  /** [N, E] unit-length embeddings. */
  embedding: Tensor;
  /** [N, E] the batchnorm's output, before normalisation. */
  features: Tensor;
  /** [N, numClasses] classifier logits; null without a classifier. */
  logits: Tensor | null;
}

export class FaceNet extends Module {
  readonly config: Required<FaceNetConfig>;
  readonly backbone: MobileNetV1 | InceptionResNetV1;
  readonly bottleneck: Linear;
  readonly lastBn: BatchNorm;
  readonly classifier: Linear | null;

  constructor(config: FaceNetConfig) {
    super();
    const { backbone, embeddingSize = 128, numClasses = 0, dropoutKeep = 0.5 } = config;
    if (!BACKBONES.includes(backbone)) throw new Error(`FaceNet: unknown backbone "${backbone}" (one of ${BACKBONES.join(', ')})`);
    if (!Number.isInteger(embeddingSize) || embeddingSize < 1) throw new Error(`FaceNet: embeddingSize must be a positive integer, got ${embeddingSize}`);
    if (!Number.isInteger(numClasses) || numClasses < 0) throw new Error(`FaceNet: numClasses must be an integer >= 0, got ${numClasses}`);
    if (!(dropoutKeep > 0 && dropoutKeep <= 1)) throw new Error(`FaceNet: dropoutKeep must be in (0, 1], got ${dropoutKeep}`);
    this.config = { backbone, embeddingSize, numClasses, dropoutKeep };

    if (backbone === 'mobilenet') {
      this.backbone = this.child('backbone', new Module()).child('model', new MobileNetV1());
    } else {
      // facenet-pytorch's InceptionResnetV1 is one flat module: its layers sit
      // beside the head, so they are registered here under their own names.
      this.backbone = new InceptionResNetV1();
      for (const [name, layer] of this.backbone.namedChildren()) this.child(name, layer);
    }
    const names = HEAD_NAMES[backbone];
    this.bottleneck = this.child(names.linear, new Linear(backboneChannels(backbone), embeddingSize, { bias: false }));
    this.lastBn = this.child('last_bn', new BatchNorm(embeddingSize, { eps: 1e-3, momentum: 0.1 }));
    this.classifier = numClasses > 0 ? this.child(names.classifier, new Linear(embeddingSize, numClasses)) : null;
    this.foldedHead = new FoldedBn(this.bottleneck.weight, null, this.lastBn);
  }

  /** The bottleneck with last_bn folded in, for inference (see FoldedBn). */
  private readonly foldedHead: FoldedBn;

  override dropDerived(): void {
    this.foldedHead.drop();
    super.dropDerived();
  }

  override train(on = true): this {
    this.foldedHead.drop();
    return super.train(on);
  }

  override dispose(): void {
    this.foldedHead.drop();
    super.dispose();
  }

  /**
   * [N, H, W, 3] normalised images (see FACENET_INPUT) -> embeddings,
   * pre-normalisation features and logits. `dropoutSeed` fixes the training
   * dropout mask (reproducible runs); by default each call draws one.
   */
  forward(x: Tensor, opts: { dropoutSeed?: number } = {}): FaceNetOutput {
    const features = this.features(x, opts.dropoutSeed);
    return {
      embedding: l2Normalize(features, -1, 1e-12),
      features,
      logits: this.classifier ? this.classifier.forward(features) : null,
    };
  }

  /** Just the unit-length embeddings [N, E] (inference: call eval() and run under noGrad). */
  embed(x: Tensor): Tensor {
    return l2Normalize(this.features(x), -1, 1e-12);
  }

  /** Backbone, pool, dropout, bottleneck, batchnorm: the embedding before normalisation. */
  private features(x: Tensor, dropoutSeed?: number): Tensor {
    const pooled = globalAvgPool(this.backbone.forward(x));
    if (useFolded(this)) {
      // Inference: dropout is the identity and last_bn is folded into the bottleneck.
      const f = this.foldedHead.get();
      return linear(pooled, f.weight, f.bias);
    }
    this.foldedHead.drop();
    const dropped = dropout(pooled, 1 - this.config.dropoutKeep, { training: this.training, ...(dropoutSeed !== undefined ? { seed: dropoutSeed } : {}) });
    return this.lastBn.forward(this.bottleneck.forward(dropped));
  }
}

/**
 * How images are normalised before the net: (pixel - mean) * scale per
 * channel, RGB order. The default is facenet-pytorch's
 * fixed_image_standardization, (x - 127.5) / 128; the design document's code
 * divides by 255 instead (mean 0, scale 1/255), which its pretrained
 * checkpoints need.
 */
export interface InputNormalization {
  mean: number;
  scale: number;
}
export const FACENET_INPUT: InputNormalization = { mean: 127.5, scale: 1 / 128 };

/** Trainable parameters, and optionally the batchnorm running statistics too (as Keras counts them). */
export function countParameters(m: Module, opts: { withBuffers?: boolean } = {}): number {
  let n = 0;
  for (const t of m.parameters()) n += t.size;
  if (opts.withBuffers) for (const t of m.namedBuffers().values()) n += t.size;
  return n;
}
